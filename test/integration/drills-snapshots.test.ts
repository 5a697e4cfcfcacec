/**
 * Restore drills of the snapshot engines (issue 11): Redis, etcd, SQLite (Vaultwarden) and Vault.
 * The rendered backup CronJobs copy a real seeded server (FAKE VAULT: Vault cannot be installed
 * here, test/fakes/vault-api.ts answers its snapshot API), the server is stopped, then the rendered
 * drill CronJob runs in the backup-drill image: Redis 8 loads the RDB, etcd restores and serves the
 * snapshot, SQLite opens the copy read-only, Vault's archive is checked on its own. Each is
 * compared with its manifest; broken copies fail with a clear line and the success gauge 0; the
 * backup volume is the same, byte for byte, after every drill.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, Pushgateway, runOk, startEtcd, startPushgateway, startRedis } from '../support/servers';
import { runJob, type TestCluster } from '../harness/cronjob-harness';
import { SECRETS } from '../harness/test-policy';
import { groupValues } from '../harness/pushgateway';
import { RespClient } from '../harness/resp';
import { seedEtcd, seedRedis } from '../harness/seeds';
import { createVaultwardenData } from '../harness/vaultwarden';
import { startVaultNode } from '../fakes/vault-api';
import { cloneVolume, copiesIn, drillCluster, editManifest, ensureManifest, volumeDigest, type DrillQueryInput } from '../harness/drills';

const cleanups: (() => Promise<void> | void)[] = [];
let pgw: Pushgateway;

function newDir(label: string, owner = 10001): string {
  const d = fs.mkdtempSync(`/tmp/bp-it-drill-${label}-`);
  fs.chownSync(d, owner, owner);
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

beforeAll(async () => {
  pgw = await startPushgateway();
  cleanups.push(() => pgw.stop());
}, 60000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function drill(c: TestCluster, name: string, claim: string, volume: string) {
  const before = volumeDigest(volume);
  const job = await runJob(c, name, { claims: { [claim]: volume }, attempts: 1 });
  return { pod: job.attempts[0], before, after: volumeDigest(volume) };
}

const errors = (stderr: string) => stderr.split('\n').filter((l) => /ERROR/.test(l));

describe('Redis restore drill', () => {
  let nfs: string;
  let cluster: TestCluster;

  beforeAll(async () => {
    const redis = await startRedis({ password: SECRETS.redis });
    cleanups.push(() => redis.stop());
    const c = await RespClient.connect(redis.port, '127.0.0.1', SECRETS.redis);
    await seedRedis(c, 20000);
    c.close();
    nfs = newDir('redis');
    cluster = drillCluster({ pushgateway: Number(new URL(pgw.url).port), redis: redis.port }, { 'redis-backup': nfs });
    expect((await runJob(cluster, 'redis-backup')).succeeded).toBe(true);
    // db0:keys=N,expires=M lines of the source, as the manifest records the RDB.
    const keyspace = [...(await redis.cli('INFO', 'keyspace')).matchAll(/^db(\d+):keys=(\d+),expires=(\d+)/gm)];
    const section = {
      redis: {
        keys: keyspace.reduce((n, m) => n + Number(m[2]), 0),
        expires: keyspace.reduce((n, m) => n + Number(m[3]), 0),
        databases: Object.fromEntries(keyspace.map((m) => [m[1], Number(m[2])])),
      },
    };
    for (const copy of copiesIn(nfs, 'dump_', '.rdb')) ensureManifest(nfs, copy, { service: 'redis', engine: 'redis', kind: 'snapshot' }, section);
    await redis.stop();
  }, 180000);

  it('a throwaway Redis loads the newest RDB with the keys of every database its manifest records', async () => {
    const { pod, before, after } = await drill(cluster, 'redis-drill', 'redis-backup', nfs);
    expect({ code: pod.code, errors: errors(pod.stderr) }).toEqual({ code: 0, errors: [] });
    expect(pod.stderr).toMatch(/throwaway Redis 8\.\S+ loaded dump_\S+\.rdb \(socket \/drill\/redis\.sock, no TCP port\)/);
    expect(pod.stderr).toMatch(/dump_\S+\.rdb: \d+ keys \(\d+ with a TTL\) in 2 databases \(as the manifest records\)/);
    expect(pod.stderr).toContain('stopped the throwaway Redis server');
    expect(pod.stdout + pod.stderr).not.toContain(SECRETS.redis);
    expect(after).toEqual(before);
    const g = await groupValues(pgw, 'redis', 'drill-snapshot');
    expect(g.backup_restore_drill_success).toBe(1);
    expect(g.backup_restore_drill_duration_seconds).toBeGreaterThan(0);
  }, 120000);

  it('a manifest that records keys the RDB lacks fails the drill, naming the database', async () => {
    const volume = cloneVolume(nfs);
    cleanups.push(() => fs.rmSync(volume, { recursive: true, force: true }));
    const [copy] = copiesIn(volume, 'dump_', '.rdb').slice(-1);
    let wanted = 0;
    editManifest(volume, copy, (m) => {
      m.redis.keys += 5;
      m.redis.databases['0'] += 5;
      wanted = m.redis.databases['0'];
    });
    const { pod, before, after } = await drill(cluster, 'redis-drill', 'redis-backup', volume);
    expect(pod.code).not.toBe(0);
    expect(pod.stderr).toContain(`${copy}: db 0: manifest ${wanted} keys, restored ${wanted - 5}`);
    expect(after).toEqual(before);
    expect((await groupValues(pgw, 'redis', 'drill-snapshot')).backup_restore_drill_success).toBe(0);
  }, 120000);

  it('a truncated RDB (its manifest made for it) fails: the server refuses to load it', async () => {
    const volume = cloneVolume(nfs);
    cleanups.push(() => fs.rmSync(volume, { recursive: true, force: true }));
    const [copy] = copiesIn(volume, 'dump_', '.rdb').slice(-1);
    const file = path.join(volume, copy);
    const manifest = JSON.parse(fs.readFileSync(`${file}.manifest.json`, 'utf8'));
    fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2));
    fs.rmSync(`${file}.manifest.json`);
    ensureManifest(volume, copy, { service: 'redis', engine: 'redis', kind: 'snapshot' }, { redis: manifest.redis });
    const { pod, before, after } = await drill(cluster, 'redis-drill', 'redis-backup', volume);
    expect(pod.code).not.toBe(0);
    expect(pod.stderr).toContain('the throwaway Redis server exited while starting');
    expect(after).toEqual(before);
  }, 120000);
});

describe('etcd restore drill', () => {
  let nfs: string;
  let cluster: TestCluster;

  beforeAll(async () => {
    const etcd = await startEtcd({ version: '3.5' });
    cleanups.push(() => etcd.stop());
    await seedEtcd(etcd.env, 500);
    nfs = newDir('etcd');
    cluster = drillCluster({ pushgateway: Number(new URL(pgw.url).port), etcdPlain: Number(new URL(etcd.endpoint).port) }, { 'etcd-plain-backup': nfs });
    expect((await runJob(cluster, 'etcd-plain-backup')).succeeded).toBe(true);
    const fields = await etcd.ctl('get', '', '--from-key', '--count-only', '-w', 'fields');
    const field = (name: string) => Number(new RegExp(`^"${name}" : (\\d+)$`, 'm').exec(fields)![1]);
    for (const copy of copiesIn(nfs, 'snapshot_', '.db.zst')) {
      ensureManifest(nfs, copy, { service: 'etcd-plain', engine: 'etcd', kind: 'snapshot' }, { etcd: { keys: field('Count'), revision: field('Revision') } });
    }
    await etcd.stop();
  }, 180000);

  it('a throwaway etcd serves the restored snapshot with the keys and revision its manifest records', async () => {
    const { pod, before, after } = await drill(cluster, 'etcd-plain-drill', 'etcd-plain-backup', nfs);
    expect({ code: pod.code, errors: errors(pod.stderr) }).toEqual({ code: 0, errors: [] });
    expect(pod.stderr).toMatch(/snapshot_\S+\.db\.zst: \d+ keys at revision \d+ \(as the manifest records\)/);
    expect(pod.stderr).toContain('stopped the throwaway etcd server');
    expect(after).toEqual(before);
    expect((await groupValues(pgw, 'etcd-plain', 'drill-snapshot')).backup_restore_drill_success).toBe(1);
  }, 120000);

  it('a manifest with another revision fails the drill', async () => {
    const volume = cloneVolume(nfs);
    cleanups.push(() => fs.rmSync(volume, { recursive: true, force: true }));
    const [copy] = copiesIn(volume, 'snapshot_', '.db.zst').slice(-1);
    editManifest(volume, copy, (m) => {
      m.etcd.revision += 1;
    });
    const { pod, before, after } = await drill(cluster, 'etcd-plain-drill', 'etcd-plain-backup', volume);
    expect(pod.code).not.toBe(0);
    expect(pod.stderr).toMatch(new RegExp(`${copy.replace(/\./g, '\\.')}: revision: manifest \\d+, restored \\d+`));
    expect(after).toEqual(before);
    expect((await groupValues(pgw, 'etcd-plain', 'drill-snapshot')).backup_restore_drill_success).toBe(0);
  }, 120000);
});

describe('SQLite restore drill (Vaultwarden)', () => {
  const QUERIES: DrillQueryInput[] = [{ sql: 'SELECT COUNT(*) FROM users', min: 1 }];
  let nfs: string;
  let data: string;
  let ports: { pushgateway: number };

  beforeAll(async () => {
    // Vaultwarden's data volume is root's, and so are its backup job and drill.
    data = newDir('vw-data', 0);
    const vw = await createVaultwardenData(data, 2000);
    nfs = newDir('vw', 0);
    ports = { pushgateway: Number(new URL(pgw.url).port) };
    const cluster = drillCluster(ports, { 'vaultwarden-backup': nfs, 'vaultwarden-data': data }, { vaultwarden: QUERIES });
    expect((await runJob(cluster, 'vaultwarden-backup')).succeeded).toBe(true);
    const tables = (await runOk('sqlite3', [`file:${vw.db}?mode=ro`, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"])).split('\n').filter(Boolean);
    const counts: Record<string, number> = {};
    for (const t of tables) counts[t] = Number(await runOk('sqlite3', [`file:${vw.db}?mode=ro`, `SELECT COUNT(*) FROM "${t}"`]));
    for (const copy of copiesIn(nfs, 'db_', '.sqlite3')) ensureManifest(nfs, copy, { service: 'vaultwarden', engine: 'sqlite', kind: 'snapshot' }, { databases: { main: { tables: counts } } });
    const files: Record<string, { bytes: number; blake2b: string }> = {};
    const walk = (rel: string) => {
      const abs = path.join(data, rel);
      if (fs.statSync(abs).isDirectory()) for (const e of fs.readdirSync(abs)) walk(path.join(rel, e));
      else files[rel] = { bytes: fs.statSync(abs).size, blake2b: createHash('blake2b512').update(fs.readFileSync(abs)).digest('hex') };
    };
    for (const p of ['rsa_key.pem', 'rsa_key.pub.pem', 'attachments', 'sends', 'config.json']) walk(p);
    for (const copy of copiesIn(nfs, 'files_', '.tar.zst')) ensureManifest(nfs, copy, { service: 'vaultwarden', engine: 'sqlite', kind: 'snapshot' }, { files });
  }, 180000);

  const cluster = (queries: DrillQueryInput[] = QUERIES) => drillCluster(ports, { 'vaultwarden-backup': nfs, 'vaultwarden-data': '/nonexistent' }, { vaultwarden: queries });

  it('the newest copy opens read-only with the rows its manifest records; the files archive unpacks as recorded', async () => {
    const { pod, before, after } = await drill(cluster(), 'vaultwarden-drill', 'vaultwarden-backup', nfs);
    expect({ code: pod.code, errors: errors(pod.stderr) }).toEqual({ code: 0, errors: [] });
    expect(pod.stderr).toMatch(/files_\S+\.tar\.zst: 6 files, as the manifest records/);
    expect(pod.stderr).toMatch(/query 0 \(database 'main'\): \d+, as expected/);
    expect(after).toEqual(before);
    expect((await groupValues(pgw, 'vaultwarden', 'drill-snapshot')).backup_restore_drill_success).toBe(1);
  }, 120000);

  it('a declared query out of bounds fails the drill', async () => {
    const { pod, before, after } = await drill(cluster([{ sql: 'SELECT COUNT(*) FROM users', equals: 0 }]), 'vaultwarden-drill', 'vaultwarden-backup', nfs);
    expect(pod.code).not.toBe(0);
    expect(pod.stderr).toMatch(/drill query 0 \(database 'main'\) returned \d+: not equal to 0/);
    expect(after).toEqual(before);
    expect((await groupValues(pgw, 'vaultwarden', 'drill-snapshot')).backup_restore_drill_success).toBe(0);
  }, 120000);

  it('a declared query that returns two rows fails the drill: they never join into one number', async () => {
    const { pod } = await drill(cluster([{ sql: 'SELECT 1 UNION ALL SELECT 2', min: 0 }]), 'vaultwarden-drill', 'vaultwarden-backup', nfs);
    expect(pod.code).not.toBe(0);
    expect(pod.stderr).toContain("drill query 0 (database 'main') returned '1 2', not one number");
  }, 120000);

  it('a file of the archive that differs from its manifest fails the drill, naming the file', async () => {
    const volume = cloneVolume(nfs);
    cleanups.push(() => fs.rmSync(volume, { recursive: true, force: true }));
    const [archive] = copiesIn(volume, 'files_', '.tar.zst').slice(-1);
    editManifest(volume, archive, (m) => {
      m.files['config.json'].bytes += 1;
    });
    const { pod } = await drill(cluster(), 'vaultwarden-drill', 'vaultwarden-backup', volume);
    expect(pod.code).not.toBe(0);
    expect(pod.stderr).toMatch(/file "config\.json": manifest \d+ bytes, unpacked \d+/);
  }, 120000);
});

describe('Vault restore drill (FAKE VAULT snapshot API)', () => {
  let nfs: string;
  let cluster: TestCluster;

  beforeAll(async () => {
    const port = await freePort();
    const node = await startVaultNode({ token: SECRETS.vaultToken, port, stateBytes: 1 << 18 });
    cleanups.push(() => node.stop());
    nfs = newDir('vault');
    cluster = drillCluster({ pushgateway: Number(new URL(pgw.url).port), vault: port }, { 'vault-backup': nfs });
    expect((await runJob(cluster, 'vault-backup')).succeeded).toBe(true);
    for (const copy of copiesIn(nfs, 'snapshot_', '.snap')) ensureManifest(nfs, copy, { service: 'vault', engine: 'vault', kind: 'snapshot' }, {});
    await node.stop();
  }, 120000);

  it('checks the snapshot archive on its own, and says that no Vault restores it', async () => {
    const { pod, before, after } = await drill(cluster, 'vault-drill', 'vault-backup', nfs);
    expect({ code: pod.code, errors: errors(pod.stderr) }).toEqual({ code: 0, errors: [] });
    expect(pod.stderr).toContain("the snapshot's structure and internal checksums are checked; it is not restored into a server");
    expect(pod.stderr).toMatch(/snapshot_\S+\.snap: \d+ members match SHA256SUMS/);
    expect(pod.stdout + pod.stderr).not.toContain(SECRETS.vaultToken);
    expect(after).toEqual(before);
    expect((await groupValues(pgw, 'vault', 'drill-snapshot')).backup_restore_drill_success).toBe(1);
  }, 120000);

  it('a copy changed since its manifest was written fails', async () => {
    const volume = cloneVolume(nfs);
    cleanups.push(() => fs.rmSync(volume, { recursive: true, force: true }));
    const [copy] = copiesIn(volume, 'snapshot_', '.snap').slice(-1);
    fs.appendFileSync(path.join(volume, copy), 'x');
    const { pod } = await drill(cluster, 'vault-drill', 'vault-backup', volume);
    expect(pod.code).not.toBe(0);
    expect(pod.stderr).toMatch(new RegExp(`copy ${copy.replace(/\./g, '\\.')} is \\d+ bytes, its manifest says \\d+`));
    expect((await groupValues(pgw, 'vault', 'drill-snapshot')).backup_restore_drill_success).toBe(0);
  }, 120000);
});
