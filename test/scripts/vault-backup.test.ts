import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { Pushgateway, freePort, run, startPushgateway } from '../support/servers';
import { allFiles, backupEnv, makeBackupDir, runScript, seriesIn } from '../support/run-script';
import { SNAPSHOT_PATH, startVaultNode, VaultAnswer, VaultNode } from '../fakes/vault-api';

// FAKE VAULT: Vault cannot be installed here; test/fakes/vault-api.ts answers its HTTP API as
// Vault does (see there). Everything else is real: the script, curl, gzip, tar, the Pushgateway.
const TOKEN = 'hvs.Fake-Vault-T0ken-3e9a';

let pgw: Pushgateway;
const dirs: string[] = [];
const nodes: VaultNode[] = [];

function newDir(label: string): string {
  const d = makeBackupDir(label);
  dirs.push(d);
  return d;
}

async function node(answer: VaultAnswer, opts: { host?: string; port?: number; activeAddress?: string; token?: string } = {}): Promise<VaultNode> {
  const n = await startVaultNode({ token: opts.token ?? TOKEN, answer, ...opts });
  nodes.push(n);
  return n;
}

function runVault(service: string, dir: string, address: string, over: Record<string, string | undefined> = {}) {
  return runScript('vault-backup.sh', [], {
    env: {
      ...backupEnv({ service, engine: 'vault', kind: 'snapshot', dir, pushgatewayUrl: pgw.url }),
      VAULT_ADDR: address,
      VAULT_TOKEN: TOKEN,
      ...over,
    },
  });
}

async function expectPublished(service: string, dir: string, served: VaultNode): Promise<string> {
  const [snap] = seriesIn(dir, 'snapshot_', '.snap');
  expect(allFiles(dir)).toEqual(['.lock-snapshot', snap, `${snap}.manifest.json`]);
  const file = path.join(dir, snap);
  expect(createHash('sha256').update(fs.readFileSync(file)).digest('hex')).toBe(served.servedSha256);
  const list = await run('tar', ['-tzf', file]);
  expect(list.stdout.trim().split('\n').sort()).toEqual(['SHA256SUMS', 'SHA256SUMS.sealed', 'meta.json', 'state.bin']);
  const g = await pgw.group(service, 'snapshot');
  expect(g.get('backup_last_run_success')?.value).toBe(1);
  expect(g.get('backup_last_size_bytes')?.value).toBe(fs.statSync(file).size);
  expect(g.get('backup_last_success_timestamp_seconds')?.labels).toMatchObject({ engine: 'vault', runner: 'cronjob' });
  return file;
}

async function expectNothingPublished(service: string, dir: string): Promise<void> {
  expect(allFiles(dir)).toEqual(['.lock-snapshot']);
  const g = await pgw.group(service, 'snapshot');
  expect(g.get('backup_last_run_success')?.value).toBe(0);
  expect(g.has('backup_last_success_timestamp_seconds')).toBe(false);
}

beforeAll(async () => {
  pgw = await startPushgateway();
});

afterAll(async () => {
  for (const n of nodes) await n.stop();
  await pgw?.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('vault-backup.sh against the Vault HTTP API (fake Vault)', () => {
  it('saves the active node\'s raft snapshot byte for byte, the token only in the X-Vault-Token header', async () => {
    const active = await node('ok');
    const dir = newDir('vault');
    const r = await runVault('vault', dir, active.address);
    expect(r.stderr).toContain('finished successfully');
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
    expect(r.tmpLeftovers).toEqual([]);
    expect(active.requests).toEqual([{ method: 'GET', url: SNAPSHOT_PATH, tokenOk: true, status: 200 }]);
    await expectPublished('vault', dir, active);
  });

  it('follows a standby\'s 307 to the active node and presents the token there', async () => {
    // Both nodes on one port, as Vault pods are, on two loopback addresses.
    const port = await freePort();
    const active = await node('ok', { host: '127.0.0.1', port });
    const standby = await node('standby', { host: '127.0.0.4', port, activeAddress: active.address });
    const dir = newDir('vault-standby');
    const r = await runVault('vault-standby', dir, `${standby.address}/`);
    expect(r.stderr).toContain('finished successfully');
    expect(r.code).toBe(0);
    expect(standby.requests.map((q) => q.status)).toEqual([307]);
    expect(active.requests).toEqual([{ method: 'GET', url: SNAPSHOT_PATH, tokenOk: true, status: 200 }]);
    await expectPublished('vault-standby', dir, active);
  });

  it.each<[VaultAnswer, RegExp]>([
    ['sealed', /Vault is sealed or has no active node \(HTTP 503: Vault is sealed\)/],
    ['error', /Vault answered HTTP 500: 1 error occurred:.*no space left on device/],
    ['truncated', /the snapshot download was cut short \(curl exit (18|56|92), HTTP 200\)/],
    ['short', /the snapshot download was cut short \(curl exit 18, HTTP 200\)/],
    ['empty', /the snapshot is empty/],
    ['cut-gzip', /the snapshot is not a valid gzip stream/],
    ['corrupt', /checksum mismatch for state\.bin in the snapshot/],
  ])('fails clearly and publishes nothing when Vault answers: %s', async (answer, message) => {
    const vault = await node(answer);
    const service = `vault-${answer}`;
    const dir = newDir(service);
    const r = await runVault(service, dir, vault.address);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
    expect(r.tmpLeftovers).toEqual([]);
    expect(vault.requests).toHaveLength(1);
    await expectNothingPublished(service, dir);
  });

  it('fails with Vault\'s 403 when the token is not the one Vault knows', async () => {
    const vault = await node('ok', { token: 'hvs.another-token' });
    const dir = newDir('vault-403');
    const r = await runVault('vault-403', dir, vault.address);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Vault refused the token (HTTP 403: permission denied)');
    expect(vault.requests.map((q) => [q.tokenOk, q.status])).toEqual([[false, 403]]);
    await expectNothingPublished('vault-403', dir);
  });

  it('gives up on a redirect loop and on an address where nothing listens', async () => {
    const port = await freePort();
    const loop = await node('standby', { host: '127.0.0.5', port, activeAddress: `http://127.0.0.5:${port}` });
    const dirLoop = newDir('vault-loop');
    const r = await runVault('vault-loop', dirLoop, loop.address);
    expect(r.stderr).toContain('too many redirects');
    expect(loop.requests).toHaveLength(4);
    await expectNothingPublished('vault-loop', dirLoop);

    const dirDown = newDir('vault-down');
    const down = await runVault('vault-down', dirDown, `http://127.0.0.1:${await freePort()}`);
    expect(down.stderr).toMatch(/cannot download the snapshot from http:\/\/127\.0\.0\.1:\d+ \(curl exit 7\)/);
    await expectNothingPublished('vault-down', dirDown);
  });

  it('refuses to run without VAULT_TOKEN, or with a token that would inject a header, before any request', async () => {
    const vault = await node('ok');
    const dir = newDir('vault-notoken');
    const r = await runVault('vault-notoken', dir, vault.address, { VAULT_TOKEN: undefined });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('environment variable VAULT_TOKEN is not set');
    const injected = await runVault('vault-notoken', dir, vault.address, { VAULT_TOKEN: `${TOKEN}\nX-Other: 1` });
    expect(injected.code).not.toBe(0);
    expect(injected.stderr).toContain('VAULT_TOKEN contains a line break');
    expect(injected.stderr).not.toContain(TOKEN);
    expect(vault.requests).toEqual([]);
    expect(allFiles(dir)).toEqual(['.lock-snapshot']);
  });
});

describe('the fake Vault itself', () => {
  // The fake is only useful if it refuses what the real API refuses.
  it('answers 404 off the snapshot path and 403 without the header or with the token in the query', async () => {
    const vault = await node('ok');
    const get = (p: string, headers: Record<string, string> = {}) => fetch(`${vault.address}${p}`, { headers }).then((r) => r.status);
    expect(await get('/v1/sys/storage/raft/snapshots', { 'X-Vault-Token': TOKEN })).toBe(404);
    expect(await get(SNAPSHOT_PATH)).toBe(403);
    expect(await get(`${SNAPSHOT_PATH}?token=${TOKEN}`, { 'X-Vault-Token': TOKEN })).toBe(403);
    expect(await get(SNAPSHOT_PATH, { 'X-Vault-Token': TOKEN })).toBe(200);
  });
});
