import * as fs from 'node:fs';
import * as path from 'node:path';
import { Etcd, Pushgateway, freePort, run, startEtcd, startPushgateway } from '../support/servers';
import { allFiles, backupEnv, makeBackupDir, runScript, seriesIn } from '../support/run-script';

let etcd: Etcd;
let pgw: Pushgateway;
const dirs: string[] = [];

function newDir(label: string): string {
  const d = makeBackupDir(label);
  dirs.push(d);
  return d;
}

function env(service: string, dir: string, over: Record<string, string> = {}) {
  return { ...backupEnv({ service, engine: 'etcd', kind: 'snapshot', dir, pushgatewayUrl: pgw.url }), ...etcd.env, ...over };
}

/** Decompresses a backup and restores it with etcdctl into a scratch dir; returns the etcdctl result. */
async function restore(file: string, scratch: string) {
  return run('bash', [
    '-c',
    'set -o pipefail; zstd -dcq -- "$1" >"$2/snap.db" && ETCDCTL_API=3 etcdctl snapshot restore "$2/snap.db" --data-dir "$2/data"',
    'bash',
    file,
    scratch,
  ]);
}

beforeAll(async () => {
  [etcd, pgw] = await Promise.all([startEtcd(), startPushgateway()]);
  for (let i = 0; i < 50; i++) await etcd.ctl('put', `/registry/test/key-${i}`, `value-${i}`);
});

afterAll(async () => {
  await Promise.all([etcd?.stop(), pgw?.stop()]);
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('etcd-backup.sh', () => {
  it('writes a compressed snapshot that etcdctl restores', async () => {
    const dir = newDir('etcd');
    const r = await runScript('etcd-backup.sh', [], { env: env('etcd', dir) });
    expect(r.stderr).toContain('snapshot restores cleanly');
    expect(r.code).toBe(0);
    expect(r.tmpLeftovers).toEqual([]);
    const [snap] = seriesIn(dir, 'snapshot_', '.db.zst');
    expect(allFiles(dir)).toEqual(['.lock-snapshot', snap, `${snap}.manifest.json`]);

    const scratch = newDir('etcd-restore');
    const restored = await restore(path.join(dir, snap), scratch);
    expect(restored.code).toBe(0);
    const status = await run('bash', ['-c', 'ETCDCTL_API=3 etcdctl snapshot status -w json "$1"', 'bash', path.join(scratch, 'snap.db')]);
    expect(JSON.parse(status.stdout).totalKey).toBeGreaterThanOrEqual(50);

    const g = await pgw.group('etcd', 'snapshot');
    expect(g.get('backup_last_run_success')?.value).toBe(1);
    expect(g.get('backup_last_size_bytes')?.value).toBe(fs.statSync(path.join(dir, snap)).size);
    expect(g.get('backup_last_success_timestamp_seconds')?.labels).toMatchObject({ engine: 'etcd', runner: 'cronjob' });
  });

  it('falls back to the next endpoint when the first member is down', async () => {
    const dir = newDir('etcd-fallback');
    const dead = `http://127.0.0.1:${await freePort()}`;
    const r = await runScript('etcd-backup.sh', [], {
      // A short probe timeout keeps the test fast; the script's behaviour does not depend on it.
      env: env('etcd-fallback', dir, { ETCDCTL_ENDPOINTS: `${dead},${etcd.endpoint}`, ETCDCTL_COMMAND_TIMEOUT: '1s' }),
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`${dead} is not healthy; trying the next member`);
    expect(seriesIn(dir, 'snapshot_', '.db.zst')).toHaveLength(1);
  });

  it('fails with no file and no success timestamp when etcd is unreachable', async () => {
    const dir = newDir('etcd-down');
    const r = await runScript('etcd-backup.sh', [], {
      env: env('etcd-down', dir, { ETCDCTL_ENDPOINTS: `http://127.0.0.1:${await freePort()}`, ETCDCTL_COMMAND_TIMEOUT: '1s' }),
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('no endpoint produced a snapshot');
    expect(r.tmpLeftovers).toEqual([]);
    expect(allFiles(dir)).toEqual(['.lock-snapshot']);
    const g = await pgw.group('etcd-down', 'snapshot');
    expect(g.get('backup_last_run_success')?.value).toBe(0);
    expect(g.has('backup_last_success_timestamp_seconds')).toBe(false);
  });
});
