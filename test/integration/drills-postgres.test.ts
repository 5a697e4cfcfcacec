/**
 * Restore drills of PostgreSQL (issue 11): the rendered backup CronJobs copy a real seeded server,
 * the server is stopped (a drill never needs it), then the rendered drill CronJobs run in the
 * backup-drill image: each restores its copies into a throwaway PostgreSQL 17 inside the pod and
 * compares them with their manifests. Broken on purpose: a manifest that claims more rows, a
 * corrupt copy, a database emptied since the previous copy, a failing declared query; each fails
 * with a clear line and the success gauge 0. The backup volume is the same, byte for byte, after
 * every drill.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Postgres, Pushgateway, startPostgres, startPushgateway } from '../support/servers';
import { runJob, type TestCluster } from '../harness/cronjob-harness';
import { SECRETS } from '../harness/test-policy';
import { groupValues } from '../harness/pushgateway';
import { PG_UNICODE_DB, seedPostgres } from '../harness/seeds';
import { cloneVolume, copiesIn, drillCluster, editManifest, ensureManifest, pgCounts, volumeDigest, type DrillQueryInput } from '../harness/drills';

const QUERIES: DrillQueryInput[] = [
  { database: 'shop', sql: 'select count(*) from sales.customers', equals: 2000 },
  { database: 'bench', sql: 'select count(*) from pgbench_accounts', min: 100000, max: 100000 },
];

let source: Postgres;
let pgw: Pushgateway;
let nfs: string;
/** The same copies, plus a newer per-database copy of `shop` made after its tables were emptied. */
let emptied: string;
let ports: { pushgateway: number; postgres: number };
let cluster: TestCluster;
const cleanups: (() => Promise<void> | void)[] = [];

/** Manifests for the copies the last backup run made, from the source's counts now. */
async function writeManifests(dir: string): Promise<void> {
  const dbs = (await source.psql('select datname from pg_database where datallowconn order by datname')).split('\n').filter(Boolean);
  const counts = Object.fromEntries(await Promise.all(dbs.map(async (db) => [db, await pgCounts(source, db)] as const)));
  for (const copy of copiesIn(dir, 'dump_', '.sql.zst')) {
    ensureManifest(dir, copy, { service: 'postgresql', engine: 'postgres', kind: 'full' }, { databases: counts });
  }
  for (const db of fs.existsSync(path.join(dir, 'per-db')) ? fs.readdirSync(path.join(dir, 'per-db')) : []) {
    for (const copy of copiesIn(path.join(dir, 'per-db', db), 'dump_', '.dump.zst')) {
      ensureManifest(dir, `per-db/${db}/${copy}`, { service: 'postgresql', engine: 'postgres', kind: 'per-database' }, { databases: { [db]: counts[db] } });
    }
  }
}

function newVolume(label: string): string {
  const d = fs.mkdtempSync(`/tmp/bp-it-drill-${label}-`);
  fs.chownSync(d, 10001, 10001);
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

beforeAll(async () => {
  [source, pgw] = await Promise.all([startPostgres({ password: SECRETS.postgres }), startPushgateway()]);
  cleanups.push(() => source.stop(), () => pgw.stop());
  await seedPostgres(source, { pgbenchScale: 1 });
  nfs = newVolume('pg');
  ports = { pushgateway: Number(new URL(pgw.url).port), postgres: source.port };
  cluster = drillCluster(ports, { 'postgresql-backup': nfs }, { postgresql: QUERIES });
  for (const name of ['postgresql-full-backup', 'postgresql-per-db-backup']) {
    const job = await runJob(cluster, name);
    expect({ name, succeeded: job.succeeded }).toEqual({ name, succeeded: true });
  }
  await writeManifests(nfs);
  // The scenario "an empty database after large ones": shop's tables are emptied and backed up again.
  emptied = cloneVolume(nfs);
  cleanups.push(() => fs.rmSync(emptied, { recursive: true, force: true }));
  await source.psql('truncate sales.orders, sales.customers, audit.log', { db: 'shop' });
  const again = await runJob(cluster, 'postgresql-per-db-backup', { claims: { 'postgresql-backup': emptied }, attempts: 1 });
  // The backup refuses a copy this much smaller than the one before (kept as .rejected); an
  // operator who takes the emptying for intended accepts it by renaming it, as its log says.
  expect(again.attempts[0].stderr).toContain('failed databases: shop');
  const shopDir = path.join(emptied, 'per-db', 'shop');
  for (const f of fs.readdirSync(shopDir).filter((n) => n.endsWith('.rejected') || n.endsWith('.rejected.manifest.json'))) {
    fs.renameSync(path.join(shopDir, f), path.join(shopDir, f.replace('.rejected', '')));
  }
  await writeManifests(emptied);
  // Nothing below needs the server: a drill that tried to reach it would fail.
  await source.stop();
}, 300000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Runs a drill CronJob once on `volume`; returns its pod and the volume's digest before and after. */
async function drill(name: string, volume: string, c: TestCluster = cluster) {
  const before = volumeDigest(volume);
  const job = await runJob(c, name, { claims: { 'postgresql-backup': volume }, attempts: 1 });
  return { pod: job.attempts[0], before, after: volumeDigest(volume) };
}

function errors(stderr: string): string[] {
  return stderr.split('\n').filter((l) => /ERROR/.test(l));
}

describe('PostgreSQL restore drills', () => {
  it('full: the newest pg_dumpall copy restores into a throwaway server with every row its manifest records; the queries pass', async () => {
    const started = Math.floor(Date.now() / 1000);
    const { pod, before, after } = await drill('postgresql-full-drill', nfs);
    expect({ code: pod.code, errors: errors(pod.stderr) }).toEqual({ code: 0, errors: [] });
    expect(pod.stderr).toMatch(/throwaway PostgreSQL 17\.\d+ on the socket/);
    expect(pod.stderr).toContain('shop: 3 tables, 42000 rows, 2 large objects');
    expect(pod.stderr).toContain("query 1 (database 'bench'): 100000, as expected");
    expect(pod.stderr).toContain('stopped the throwaway PostgreSQL server');
    expect(pod.stdout + pod.stderr).not.toContain(SECRETS.postgres);
    expect(after).toEqual(before);
    const g = await groupValues(pgw, 'postgresql', 'drill-full');
    expect(g.backup_restore_drill_success).toBe(1);
    expect(g.backup_restore_drill_last_success_timestamp_seconds).toBeGreaterThanOrEqual(started);
    expect(g.backup_restore_drill_duration_seconds).toBeGreaterThan(0);
    expect(g.backup_restore_drill_copy_age_seconds).toBeGreaterThanOrEqual(0);
    expect(g.backup_restore_drill_copy_age_seconds).toBeLessThan(600);
    expect(pod.tmpLeftovers).toEqual([]);
  }, 300000);

  it('per-database: the newest copy of every database restores, each as its manifest records', async () => {
    const { pod, before, after } = await drill('postgresql-per-db-drill', nfs);
    expect({ code: pod.code, errors: errors(pod.stderr) }).toEqual({ code: 0, errors: [] });
    for (const db of ['bench', 'postgres', 'shop', PG_UNICODE_DB]) expect(pod.stderr).toContain(`per-db/${db}/dump_`);
    expect(pod.stderr).toContain(`${PG_UNICODE_DB}: 1 tables, 5000 rows`);
    expect(after).toEqual(before);
    expect((await groupValues(pgw, 'postgresql', 'drill-per-database')).backup_restore_drill_success).toBe(1);
  }, 300000);

  it('a copy that restores with fewer rows than its manifest records fails, naming the table', async () => {
    const volume = cloneVolume(nfs);
    cleanups.push(() => fs.rmSync(volume, { recursive: true, force: true }));
    const [copy] = copiesIn(volume, 'dump_', '.sql.zst').slice(-1);
    editManifest(volume, copy, (m) => {
      m.databases.shop.tables['sales.orders'] += 1;
    });
    const { pod, before, after } = await drill('postgresql-full-drill', volume);
    expect(pod.code).not.toBe(0);
    // The drill runs the real restore script, which compares with the manifest first and names the table.
    expect(pod.stderr).toContain("manifest mismatch: database 'shop', table sales.orders: expected 20001 rows, got 20000 rows");
    expect(pod.stderr).toContain(`ERROR: the restore of ${copy} failed`);
    expect(after).toEqual(before);
    const g = await groupValues(pgw, 'postgresql', 'drill-full');
    expect(g.backup_restore_drill_success).toBe(0);
  }, 300000);

  it('a corrupt copy fails before anything is restored', async () => {
    const volume = cloneVolume(nfs);
    cleanups.push(() => fs.rmSync(volume, { recursive: true, force: true }));
    const [copy] = copiesIn(volume, 'dump_', '.sql.zst').slice(-1);
    const file = path.join(volume, copy);
    const bytes = fs.readFileSync(file);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    fs.writeFileSync(file, bytes);
    const { pod, before, after } = await drill('postgresql-full-drill', volume);
    expect(pod.code).not.toBe(0);
    expect(pod.stderr).toContain(`copy ${copy} does not have the BLAKE2b digest its manifest records`);
    expect(after).toEqual(before);
    expect((await groupValues(pgw, 'postgresql', 'drill-full')).backup_restore_drill_success).toBe(0);
  }, 300000);

  it('a corrupt copy whose manifest matches its bytes fails in the restore', async () => {
    const volume = cloneVolume(nfs);
    cleanups.push(() => fs.rmSync(volume, { recursive: true, force: true }));
    const [copy] = copiesIn(volume, 'dump_', '.sql.zst').slice(-1);
    const file = path.join(volume, copy);
    const bytes = fs.readFileSync(file);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    fs.writeFileSync(file, bytes);
    fs.rmSync(`${file}.manifest.json`);
    const counts = JSON.parse(fs.readFileSync(path.join(nfs, `${copy}.manifest.json`), 'utf8')).databases;
    ensureManifest(volume, copy, { service: 'postgresql', engine: 'postgres', kind: 'full' }, { databases: counts });
    const { pod, before, after } = await drill('postgresql-full-drill', volume);
    expect(pod.code).not.toBe(0);
    expect(pod.stderr).toContain(`the restore of ${copy} failed`);
    expect(after).toEqual(before);
  }, 300000);

  it('a copy without a manifest fails, saying so', async () => {
    const volume = cloneVolume(nfs);
    cleanups.push(() => fs.rmSync(volume, { recursive: true, force: true }));
    const [copy] = copiesIn(volume, 'dump_', '.sql.zst').slice(-1);
    fs.rmSync(path.join(volume, `${copy}.manifest.json`));
    const { pod } = await drill('postgresql-full-drill', volume);
    expect(pod.code).not.toBe(0);
    expect(pod.stderr).toContain(`copy ${copy} has no manifest`);
  }, 120000);

  it('a database emptied since the previous copy fails the drill, though the copy matches its manifest', async () => {
    const { pod, before, after } = await drill('postgresql-per-db-drill', emptied);
    expect(pod.code).not.toBe(0);
    expect(pod.stderr).toMatch(/per-db\/shop\/dump_\S+: database "shop" holds no rows, but held 42000 in the previous copy/);
    expect(after).toEqual(before);
    expect((await groupValues(pgw, 'postgresql', 'drill-per-database')).backup_restore_drill_success).toBe(0);
  }, 300000);

  it('a declared query whose result is out of bounds fails the drill, naming the query', async () => {
    const failing = drillCluster(ports, { 'postgresql-backup': nfs }, {
      postgresql: [QUERIES[0], { database: 'shop', sql: 'select count(*) from sales.orders', min: 20001 }],
    });
    const { pod, before, after } = await drill('postgresql-full-drill', nfs, failing);
    expect(pod.code).not.toBe(0);
    expect(pod.stderr).toContain("drill query 1 (database 'shop') returned 20000: below the minimum 20001");
    expect(after).toEqual(before);
    expect((await groupValues(pgw, 'postgresql', 'drill-full')).backup_restore_drill_success).toBe(0);
  }, 300000);

  it('a declared query that fails or returns no number fails the drill', async () => {
    const failing = drillCluster(ports, { 'postgresql-backup': nfs }, {
      postgresql: [{ database: 'shop', sql: "select 'many'", min: 1 }],
    });
    const { pod } = await drill('postgresql-full-drill', nfs, failing);
    expect(pod.code).not.toBe(0);
    expect(pod.stderr).toContain("drill query 0 (database 'shop') returned 'many', not one number");
  }, 300000);

  it('a drill stopped by its deadline stops its server, reports the failure and leaves the volume alone', async () => {
    const before = volumeDigest(nfs);
    // A restore slower than the deadline: the image's zstd, after a minute's pause (a fault shim).
    const slowZstd = '#!/bin/bash\nsleep 60\nexec /usr/bin/zstd "$@"\n';
    const job = await runJob(cluster, 'postgresql-full-drill', { claims: { 'postgresql-backup': nfs }, attempts: 1, activeDeadlineSeconds: 15, shims: { zstd: slowZstd } });
    const pod = job.attempts[0];
    expect({ deadline: pod.deadlineExceeded, killed: pod.killedAfterGrace }).toEqual({ deadline: true, killed: false });
    expect(pod.code).not.toBe(0);
    expect(pod.stderr).toContain('ERROR: restore drill FAILED');
    // The server was up (it starts in a few seconds, the restore then waits) and the EXIT trap stopped it.
    expect(pod.stderr).toMatch(/throwaway PostgreSQL 17/);
    expect(pod.stderr).toContain('stopped the throwaway PostgreSQL server');
    expect(volumeDigest(nfs)).toEqual(before);
    expect((await groupValues(pgw, 'postgresql', 'drill-full')).backup_restore_drill_success).toBe(0);
  }, 120000);
});
