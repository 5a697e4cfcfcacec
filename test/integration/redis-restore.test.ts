/**
 * Restore is code, for Redis: the homelab's rendered backup CronJob makes an RDB copy of a real
 * Redis 7 and 8 (AUTH, append-only on, every type, TTLs, streams with consumer groups), the source
 * is stopped, and the restore Job that `backup-policy restore redis` renders runs in the harness
 * (inside the backup-tools image, as the backup's user with Redis's group as fsGroup) into a data
 * volume: empty, holding a dump (refused, then replaced with --yes), holding an append-only set.
 * Each time a redis-server of the same version then starts on that directory as the redis user,
 * and every key, value, TTL and stream (entries and groups) is compared with the source.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, Pushgateway, Redis, SERVER_VERSIONS, serverCommand, startPushgateway, startRedis, waitUntil } from '../support/servers';
import { requireRootfs } from '../support/rootfs';
import { jobManifestView, runJob, type TestCluster } from '../harness/cronjob-harness';
import { SECRETS, testCluster, testPolicy } from '../harness/test-policy';
import { RespClient, redisSnapshot } from '../harness/resp';
import { groupValues } from '../harness/pushgateway';
import { seedRedis } from '../harness/seeds';
import { planPolicy } from '../../policy/plan/plan';
import { renderRestoreJob, type RestoreRequest } from '../../policy/render/restore-job';

const CLAIM = 'redis-data-redis-master-0';

/** The redis user of wherever this version's server comes from (this machine, or the drill image). */
function redisIds(version: string): { uid: number; gid: number } {
  if (version === SERVER_VERSIONS.redis[0]) {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'redis']).toString().trim());
    return { uid: id('-u'), gid: id('-g') };
  }
  const line = fs.readFileSync(path.join(requireRootfs('backup-drill'), 'etc', 'passwd'), 'utf8').split('\n').find((l) => l.startsWith('redis:'))!;
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/** A redis-server of `version` on `dir` as the redis user: how the scaled-up StatefulSet starts. */
async function serveDir(version: string, dir: string, appendonly: boolean): Promise<{ port: number; stop(): Promise<void>; log(): string }> {
  const port = await freePort();
  const confDir = fs.mkdtempSync('/tmp/bp-redis-conf-');
  fs.chmodSync(confDir, 0o755);
  const conf = path.join(confDir, 'redis.conf');
  fs.writeFileSync(conf, [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, 'dbfilename dump.rdb', 'save ""', `appendonly ${appendonly ? 'yes' : 'no'}`, `logfile ${confDir}/server.log`].join('\n') + '\n', { mode: 0o644 });
  fs.writeFileSync(path.join(confDir, 'server.log'), '');
  // Modes given to writeFileSync pass through the test process's umask: set them outright.
  fs.chmodSync(conf, 0o644);
  fs.chmodSync(path.join(confDir, 'server.log'), 0o666);
  const [cmd, args] = serverCommand('redis', version, ['redis-server', conf], 'redis');
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const log = () => stderr + fs.readFileSync(path.join(confDir, 'server.log'), 'utf8');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    fs.rmSync(confDir, { recursive: true, force: true });
  };
  try {
    await waitUntil(async () => {
      try {
        const c = await RespClient.connect(port, '127.0.0.1');
        const pong = await c.ok('PING');
        c.close();
        return String(pong) === 'PONG';
      } catch {
        return false;
      }
    }, 15000, `redis-server on ${dir}`);
  } catch (e) {
    const text = log();
    await stop();
    throw new Error(`${(e as Error).message}\n${text}`);
  }
  return { port, stop, log };
}

describe.each(SERVER_VERSIONS.redis)('Redis %s: the rendered restore Job', (version) => {
  let source: Redis;
  let pgw: Pushgateway;
  let nfs: string;
  let ports: { pushgateway: number; redis: number };
  let want: Awaited<ReturnType<typeof redisSnapshot>>;
  let ids: { uid: number; gid: number };
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeAll(async () => {
    ids = redisIds(version);
    [source, pgw] = await Promise.all([startRedis({ password: SECRETS.redis, version }), startPushgateway()]);
    cleanups.push(() => source.stop(), () => pgw.stop());
    const c = await RespClient.connect(source.port, '127.0.0.1', SECRETS.redis);
    await seedRedis(c, 2000);
    // The homelab's Redis (Bitnami) runs with appendonly yes: so does the source.
    await c.ok('CONFIG', 'SET', 'appendonly', 'yes');
    await waitUntil(async () => /aof_rewrite_in_progress:0/.test(String(await c.ok('INFO', 'persistence'))) && /aof_enabled:1/.test(String(await c.ok('INFO', 'persistence'))), 20000, 'AOF on');
    c.close();
    nfs = fs.mkdtempSync('/tmp/bp-it-redis-restore-');
    fs.chownSync(nfs, 10001, 10001);
    cleanups.push(() => fs.rmSync(nfs, { recursive: true, force: true }));
    ports = { pushgateway: Number(new URL(pgw.url).port), redis: source.port };
    const backup = await runJob(testCluster(ports, { 'redis-backup': nfs }), 'redis-backup');
    expect({ succeeded: backup.succeeded, log: backup.attempts[0].stderr.split('\n').filter((l) => /ERROR/.test(l)) }).toEqual({ succeeded: true, log: [] });
  }, 180000);

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  /** A data volume as the kubelet leaves it for an fsGroup: Redis's group, group-writable, setgid. */
  function dataVolume(): string {
    const dir = fs.mkdtempSync('/tmp/bp-it-redis-data-');
    fs.chownSync(dir, ids.uid, ids.gid);
    fs.chmodSync(dir, 0o2770);
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  /** The restore Job the policy renders (Redis's group as declared in `data`), run on `dir`. */
  async function restore(dir: string, request: Partial<RestoreRequest> & { appendonly: boolean }) {
    const policy = testPolicy(ports) as any;
    policy.services.redis.data = { ...policy.services.redis.data, fsGroup: ids.gid, appendonly: request.appendonly };
    const service = planPolicy(policy).services.find((s) => s.id === 'redis')!;
    const view = jobManifestView(renderRestoreJob(service, { mode: 'snapshot', copy: 'latest', overwrite: false, ...request }, new Date()));
    const cluster: TestCluster = testCluster(ports, { 'redis-backup': nfs, [CLAIM]: dir });
    const job = await runJob(cluster, view.name, { job: view });
    const pod = job.attempts[0];
    expect(pod.stdout + pod.stderr).not.toContain(SECRETS.redis);
    return { view, pod };
  }

  /** Starts Redis on the restored directory and compares every key with the source. */
  async function expectRestored(dir: string, appendonly: boolean) {
    const server = await serveDir(version, dir, appendonly);
    try {
      const c = await RespClient.connect(server.port, '127.0.0.1');
      const got = await redisSnapshot(c, [0, 3]);
      c.close();
      expect(got.values.size).toBe(want.values.size);
      expect([...want.values].filter(([k, v]) => got.values.get(k) !== v).map(([k]) => k)).toEqual([]);
      // TTLs are absolute in the RDB: each restored one has counted down since the source was read.
      expect([...got.ttls.keys()].sort()).toEqual([...want.ttls.keys()].sort());
      for (const [k, ttl] of want.ttls) {
        expect({ k, ok: got.ttls.get(k)! <= ttl && got.ttls.get(k)! > ttl - 120_000 }).toEqual({ k, ok: true });
      }
      return server.log();
    } finally {
      await server.stop();
    }
  }

  it('refuses while Redis still answers, naming the StatefulSet to scale to 0; then, stopped, restores into an empty volume', async () => {
    const dir = dataVolume();
    const running = await restore(dir, { appendonly: false });
    expect(running.pod.code).not.toBe(0);
    expect(running.pod.stderr).toContain('Scale it to 0 first: kubectl -n redis scale statefulset/redis-master --replicas=0');
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(running.view.fsGroup).toBe(ids.gid);
    expect(running.view.runAsUser).toBe(10001);

    const c = await RespClient.connect(source.port, '127.0.0.1', SECRETS.redis);
    want = await redisSnapshot(c, [0, 3]);
    c.close();
    expect(want.ttls.size).toBe(3);
    expect([...want.values.keys()].some((k) => want.values.get(k)!.startsWith('stream'))).toBe(true);
    await source.stop();

    const { pod } = await restore(dir, { appendonly: false });
    expect({ code: pod.code, errors: pod.stderr.split('\n').filter((l) => /ERROR/.test(l)) }).toEqual({ code: 0, errors: [] });
    // The copies are 0600 to the backup user; the restored file is Redis's group's to read.
    const st = fs.statSync(path.join(dir, 'dump.rdb'));
    expect({ gid: st.gid, mode: (st.mode & 0o777).toString(8) }).toEqual({ gid: ids.gid, mode: '640' });
    expect(fs.readdirSync(dir)).toEqual(['dump.rdb']);
    expect(pod.stderr).toMatch(/the copy holds \d+ keys, 3 with a TTL/);
    expect(pod.stderr).toContain('next: start Redis (kubectl -n redis scale statefulset/redis-master --replicas=1)');
    await expectRestored(dir, false);
    const metrics = await groupValues(pgw, 'redis', 'restore-snapshot');
    expect(metrics.backup_restore_last_run_success).toBe(1);
    expect(metrics.backup_restore_duration_seconds).toBeGreaterThan(0);

    // In place over that data: refused without --yes, saying what it would replace, nothing changed.
    const before = fs.readFileSync(path.join(dir, 'dump.rdb'));
    fs.writeFileSync(path.join(dir, 'dump.rdb'), Buffer.concat([before.subarray(0, 9), Buffer.from('not the copy')]));
    const refused = await restore(dir, { appendonly: false });
    expect(refused.pod.code).not.toBe(0);
    expect(refused.pod.stderr).toMatch(/would replace: dump\.rdb \(21 bytes/);
    expect(refused.pod.stderr).toContain('RESTORE_OVERWRITE=yes');
    expect(fs.readdirSync(dir)).toEqual(['dump.rdb']);
    expect((await groupValues(pgw, 'redis', 'restore-snapshot')).backup_restore_last_run_success).toBe(0);
    // With --yes: replaced, and the old dump kept aside.
    const forced = await restore(dir, { appendonly: false, overwrite: true });
    expect(forced.pod.code).toBe(0);
    const names = fs.readdirSync(dir).sort();
    expect(names).toEqual(['dump.rdb', expect.stringMatching(/^dump\.rdb\.before-restore-\d{8}T\d{6}Z$/)]);
    expect(fs.readFileSync(path.join(dir, names[1])).toString('latin1')).toContain('not the copy');
    await expectRestored(dir, false);
  }, 240000);

  it('appendonly yes: the old append-only set is moved aside and the copy becomes the base of a new one, which Redis loads', async () => {
    const dir = dataVolume();
    // A Redis with appendonly yes has run here: its own (empty) append-only set is in the volume.
    const previous = await serveDir(version, dir, true);
    const c = await RespClient.connect(previous.port, '127.0.0.1');
    await c.ok('SET', 'only-in-the-old-data', '1');
    c.close();
    await previous.stop();
    expect(fs.readdirSync(path.join(dir, 'appendonlydir')).length).toBeGreaterThan(0);

    const refused = await restore(dir, { appendonly: true });
    expect(refused.pod.code).not.toBe(0);
    expect(refused.pod.stderr).toMatch(/would replace: appendonlydir\/ \(append-only files: /);
    const { pod } = await restore(dir, { appendonly: true, overwrite: true });
    expect({ code: pod.code, errors: pod.stderr.split('\n').filter((l) => /ERROR/.test(l)) }).toEqual({ code: 0, errors: [] });
    const names = fs.readdirSync(dir).sort();
    expect(names).toEqual(['appendonlydir', expect.stringMatching(/^appendonlydir\.before-restore-/), 'dump.rdb']);
    expect(fs.readdirSync(path.join(dir, 'appendonlydir')).sort()).toEqual(['appendonly.aof.1.base.rdb', 'appendonly.aof.manifest']);
    const log = await expectRestored(dir, true);
    expect(log).toMatch(/DB loaded from base file appendonly\.aof\.1\.base\.rdb/);
    // The same volume under appendonly no loads the dump: either configuration gets the data.
    await expectRestored(dir, false);
  }, 240000);
});
