/**
 * The homelab's Redis CronJob (an RDB over the replication protocol), run from the synthesized stack
 * through the harness (inside the backup-tools image, redis-cli 8) against a real Redis 7 and 8 with
 * AUTH, loaded into a fresh server of the same version and compared key by key: every type, binary
 * values, several databases, consumer groups, and TTLs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Pushgateway, Redis, run, SERVER_VERSIONS, startPushgateway, startRedis } from '../support/servers';
import { inImage } from '../support/rootfs';
import { allFiles, seriesIn } from '../support/run-script';
import { readManifest } from '../harness/manifests';
import { runJob, TestCluster } from '../harness/cronjob-harness';
import { SECRETS, testCluster } from '../harness/test-policy';
import { RespClient, redisSnapshot } from '../harness/resp';
import { groupValues } from '../harness/pushgateway';
import { recordTiming } from '../harness/timings';
import { seedRedis } from '../harness/seeds';

const BULK_KEYS = 100_000;

describe.each(SERVER_VERSIONS.redis)('Redis %s server', (version) => {
  let redis: Redis;
  let pgw: Pushgateway;
  let cluster: TestCluster;
  let nfs: string;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeAll(async () => {
    [redis, pgw] = await Promise.all([startRedis({ password: SECRETS.redis, version }), startPushgateway()]);
    cleanups.push(() => redis.stop(), () => pgw.stop());
    const c = await RespClient.connect(redis.port, '127.0.0.1', SECRETS.redis);
    await seedRedis(c, BULK_KEYS);
    c.close();
    nfs = fs.mkdtempSync('/tmp/bp-it-redis-');
    fs.chownSync(nfs, 10001, 10001);
    cleanups.push(() => fs.rmSync(nfs, { recursive: true, force: true }));
    cluster = testCluster({ pushgateway: Number(new URL(pgw.url).port), redis: redis.port }, { 'redis-backup': nfs });
  }, 120000);

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  describe('redis-backup', () => {
    it('writes an RDB that a fresh server loads with every key, type, value and TTL of the source', async () => {
      const before = Math.floor(Date.now() / 1000);
      const job = await runJob(cluster, 'redis-backup');
      const pod = job.attempts[0];
      expect(pod.stderr).toContain('finished successfully');
      expect(job.attempts).toHaveLength(1);
      expect(pod.code).toBe(0);
      expect(pod.stdout + pod.stderr).not.toContain(SECRETS.redis);
      const [dump] = seriesIn(nfs, 'dump_', '.rdb');
      expect(allFiles(nfs)).toEqual(['.lock-snapshot', dump, `${dump}.manifest.json`]);
      const file = path.join(nfs, dump);
      // Redis 8 writes RDB version 12, which redis-check-rdb 7 does not read: the image's checks it.
      expect((await run(...inImage('backup-tools', ['redis-check-rdb', file]))).code).toBe(0);
      const g = await groupValues(pgw, 'redis', 'snapshot');
      expect(g.backup_last_run_success).toBe(1);
      expect(g.backup_last_success_timestamp_seconds).toBeGreaterThanOrEqual(before);
      expect(g.backup_last_size_bytes).toBe(fs.statSync(file).size);

      const source = await RespClient.connect(redis.port, '127.0.0.1', SECRETS.redis);
      const want = await redisSnapshot(source, [0, 3]);
      source.close();
      const restoreStart = Date.now();
      const restored = await startRedis({ loadRdb: file, version });
      const restoreSeconds = (Date.now() - restoreStart) / 1000;
      cleanups.push(() => restored.stop());
      const c = await RespClient.connect(restored.port);
      const got = await redisSnapshot(c, [0, 3]);
      const keyspace = (await c.ok('INFO', 'keyspace'))!.toString();
      c.close();

      // The manifest: keys and expires per database as the loaded copy has them (INFO keyspace of
      // the restored server; no TTL in the seed is short enough to pass before it loads).
      const manifest = readManifest(file, { service: 'redis', engine: 'redis', kind: 'snapshot' });
      const perDb = [...keyspace.matchAll(/^db(\d+):keys=(\d+),expires=(\d+)/gm)];
      expect(manifest.redis).toEqual({
        keys: perDb.reduce((n, m) => n + Number(m[2]), 0),
        expires: perDb.reduce((n, m) => n + Number(m[3]), 0),
        databases: Object.fromEntries(perDb.map((m) => [m[1], Number(m[2])])),
      });
      expect(manifest.redis.keys).toBe(got.values.size);
      expect(keyspace).toMatch(/^db0:keys=\d+/m);
      expect(keyspace).toMatch(/^db3:keys=2,/m);
      expect(got.values.size).toBe(want.values.size);
      expect(got.values.size).toBeGreaterThan(BULK_KEYS);
      const differing = [...want.values].filter(([k, v]) => got.values.get(k) !== v).map(([k]) => k);
      expect(differing).toEqual([]);
      // TTLs are absolute expiry times in the RDB: each restored one has counted down, not reset.
      expect([...got.ttls.keys()].sort()).toEqual([...want.ttls.keys()].sort());
      expect(want.ttls.size).toBe(3);
      for (const [k, ttl] of want.ttls) {
        expect(got.ttls.get(k)!).toBeLessThanOrEqual(ttl);
        expect(got.ttls.get(k)!).toBeGreaterThan(ttl - 120_000);
      }

      recordTiming(`redis ${version} (redis-cli --rdb)`, {
        dumpSeconds: pod.durationMs / 1000,
        restoreSeconds,
        bytes: fs.statSync(file).size,
        data: `${got.values.size} keys in 2 databases, every type, a 1 MiB value`,
      });
    }, 120000);
  });
});
