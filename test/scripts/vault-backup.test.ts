import * as fs from 'node:fs';
import * as path from 'node:path';
import { Pushgateway, run, startPushgateway } from '../support/servers';
import { VAULT_FAKE_DIR, allFiles, backupEnv, makeBackupDir, runScript, seriesIn } from '../support/run-script';

// Vault itself cannot be installed here: these tests run vault-backup.sh against the fake CLI in
// host-scripts/vault-fake, which enforces the real calling convention and writes a real-format
// raft snapshot archive.
const TOKEN = 'hvs.Fake-Vault-T0ken-3e9a';

let pgw: Pushgateway;
const dirs: string[] = [];

function newDir(label: string): string {
  const d = makeBackupDir(label);
  dirs.push(d);
  return d;
}

function runVault(service: string, dir: string, over: Record<string, string | undefined> = {}) {
  return runScript('vault-backup.sh', [], {
    pathPrepend: [VAULT_FAKE_DIR],
    env: {
      ...backupEnv({ service, engine: 'vault', kind: 'snapshot', dir, pushgatewayUrl: pgw.url }),
      VAULT_ADDR: 'https://vault.vault.svc:8200',
      VAULT_TOKEN: TOKEN,
      ...over,
    },
  });
}

beforeAll(async () => {
  pgw = await startPushgateway();
});

afterAll(async () => {
  await pgw?.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('vault-backup.sh (fake vault CLI)', () => {
  it('saves a raft snapshot whose members match their SHA256SUMS', async () => {
    const dir = newDir('vault');
    const r = await runVault('vault', dir);
    expect(r.stderr).toContain('finished successfully');
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
    expect(r.tmpLeftovers).toEqual([]);
    const [snap] = seriesIn(dir, 'snapshot_', '.snap');
    expect(allFiles(dir)).toEqual(['.lock-snapshot', snap]);
    const list = await run('tar', ['-tzf', path.join(dir, snap)]);
    expect(list.stdout.trim().split('\n').sort()).toEqual(['SHA256SUMS', 'SHA256SUMS.sealed', 'meta.json', 'state.bin']);

    const g = await pgw.group('vault', 'snapshot');
    expect(g.get('backup_last_run_success')?.value).toBe(1);
    expect(g.get('backup_last_size_bytes')?.value).toBe(fs.statSync(path.join(dir, snap)).size);
    expect(g.get('backup_last_success_timestamp_seconds')?.labels).toMatchObject({ engine: 'vault', runner: 'cronjob' });
  });

  it.each([
    ['fail', 'vault operator raft snapshot save failed'],
    ['empty', 'the snapshot is empty'],
    ['truncated', 'not a valid gzip stream'],
    ['corrupt', 'checksum mismatch for state.bin'],
  ])('fails and publishes nothing when the CLI produces: %s', async (mode, message) => {
    const dir = newDir(`vault-${mode}`);
    const r = await runVault(`vault-${mode}`, dir, { VAULT_FAKE_MODE: mode });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(message);
    expect(allFiles(dir)).toEqual(['.lock-snapshot']);
    const g = await pgw.group(`vault-${mode}`, 'snapshot');
    expect(g.get('backup_last_run_success')?.value).toBe(0);
    expect(g.has('backup_last_success_timestamp_seconds')).toBe(false);
  });

  it('refuses to run without VAULT_TOKEN, before calling vault', async () => {
    const dir = newDir('vault-notoken');
    const r = await runVault('vault-notoken', dir, { VAULT_TOKEN: undefined });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('environment variable VAULT_TOKEN is not set');
    expect(r.stderr).not.toContain('fake vault');
    expect(allFiles(dir)).toEqual(['.lock-snapshot']);
  });
});

describe('the fake vault CLI itself', () => {
  // The fake is only useful if it rejects what the real CLI would not accept from the job.
  const fake = path.join(VAULT_FAKE_DIR, 'vault');

  it('rejects the token on the command line', async () => {
    const out = path.join(newDir('fake-argv'), 'x.snap');
    const r = await run(fake, ['operator', 'raft', 'snapshot', 'save', `${out}-${TOKEN}`], {
      env: { PATH: process.env.PATH, VAULT_ADDR: 'http://127.0.0.1:8200', VAULT_TOKEN: TOKEN },
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('token was passed on the command line');
  });

  it('rejects a missing VAULT_ADDR and other subcommands', async () => {
    const out = path.join(newDir('fake-addr'), 'x.snap');
    const noAddr = await run(fake, ['operator', 'raft', 'snapshot', 'save', out], {
      env: { PATH: process.env.PATH, VAULT_TOKEN: TOKEN },
    });
    expect(noAddr.code).not.toBe(0);
    const restore = await run(fake, ['operator', 'raft', 'snapshot', 'restore', out], {
      env: { PATH: process.env.PATH, VAULT_ADDR: 'http://127.0.0.1:8200', VAULT_TOKEN: TOKEN },
    });
    expect(restore.code).not.toBe(0);
    expect(fs.existsSync(out)).toBe(false);
  });
});
