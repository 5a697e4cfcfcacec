import * as fs from 'node:fs';
import * as path from 'node:path';
import { Pushgateway, Redis, run, startPushgateway, startRedis } from '../support/servers';
import { allFiles, backupEnv, makeBackupDir, runScript, seriesIn } from '../support/run-script';

const PASSWORD = 'Redis-S3cret-5d0a';

let redis: Redis;
let pgw: Pushgateway;
const dirs: string[] = [];

function newDir(label: string): string {
  const d = makeBackupDir(label);
  dirs.push(d);
  return d;
}

function env(service: string, dir: string, over: Record<string, string> = {}) {
  return { ...backupEnv({ service, engine: 'redis', kind: 'snapshot', dir, pushgatewayUrl: pgw.url }), ...redis.env, ...over };
}

beforeAll(async () => {
  [redis, pgw] = await Promise.all([startRedis({ password: PASSWORD }), startPushgateway()]);
  await redis.cli('SET', 'greeting', 'Grüße ✓ 🎉');
  await redis.cli('RPUSH', 'queue', 'a', 'b', 'c');
  await redis.cli('HSET', 'user:1', 'name', 'alice', 'plan', 'pro');
});

afterAll(async () => {
  await Promise.all([redis?.stop(), pgw?.stop()]);
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('redis-backup.sh', () => {
  it('streams an RDB with the password from REDISCLI_AUTH, and it loads into a fresh server', async () => {
    const dir = newDir('redis');
    const r = await runScript('redis-backup.sh', [], { env: env('redis', dir) });
    expect(r.stderr).toContain('finished successfully');
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    expect(r.tmpLeftovers).toEqual([]);
    const [dump] = seriesIn(dir, 'dump_', '.rdb');
    expect(allFiles(dir)).toEqual(['.lock-snapshot', dump, `${dump}.manifest.json`]);
    const check = await run('redis-check-rdb', [path.join(dir, dump)]);
    expect(check.code).toBe(0);

    const restored = await startRedis({ loadRdb: path.join(dir, dump) });
    try {
      expect((await restored.cli('GET', 'greeting')).trim()).toBe('Grüße ✓ 🎉');
      expect((await restored.cli('LRANGE', 'queue', '0', '-1')).trim().split('\n')).toEqual(['a', 'b', 'c']);
      expect((await restored.cli('HGET', 'user:1', 'plan')).trim()).toBe('pro');
    } finally {
      await restored.stop();
    }

    const g = await pgw.group('redis', 'snapshot');
    expect(g.get('backup_last_run_success')?.value).toBe(1);
    expect(g.get('backup_last_size_bytes')?.value).toBe(fs.statSync(path.join(dir, dump)).size);
    expect(g.get('backup_last_success_timestamp_seconds')?.labels).toMatchObject({ engine: 'redis', runner: 'cronjob' });
  });

  it('fails with a wrong password and leaves no file', async () => {
    const dir = newDir('redis-badpw');
    const r = await runScript('redis-backup.sh', [], { env: env('redis-badpw', dir, { REDISCLI_AUTH: 'wrong' }) });
    expect(r.code).not.toBe(0);
    expect(allFiles(dir)).toEqual(['.lock-snapshot']);
    const g = await pgw.group('redis-badpw', 'snapshot');
    expect(g.get('backup_last_run_success')?.value).toBe(0);
    expect(g.has('backup_last_success_timestamp_seconds')).toBe(false);
  });
});
