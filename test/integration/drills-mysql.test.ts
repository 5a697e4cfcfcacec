/**
 * Restore drills of MariaDB (issue 11): the rendered backup CronJobs copy a real seeded server,
 * the server is stopped, then the rendered drill CronJobs load the copies into a throwaway
 * MariaDB 11.8 in the backup-drill image (socket only) and compare them with their manifests.
 * Broken on purpose: a manifest that claims more rows, a failing declared query. The backup volume
 * is the same, byte for byte, after every drill.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Mariadb, Pushgateway, startMariadb, startPushgateway } from '../support/servers';
import { runJob, type TestCluster } from '../harness/cronjob-harness';
import { SECRETS } from '../harness/test-policy';
import { groupValues } from '../harness/pushgateway';
import { MYSQL_ROOT_OVER_TCP, MYSQL_SEED_SQL } from '../harness/seeds';
import { cloneVolume, copiesIn, drillCluster, editManifest, ensureManifest, volumeDigest, type DrillQueryInput } from '../harness/drills';

const QUERIES: DrillQueryInput[] = [{ database: 'crm', sql: 'SELECT COUNT(*) FROM contacts', equals: 2000 }];

let source: Mariadb;
let pgw: Pushgateway;
let nfs: string;
let ports: { pushgateway: number; mysql: number };
let cluster: TestCluster;
const cleanups: (() => Promise<void> | void)[] = [];

/** Rows per base table of the application databases (the mysql schema is the server's own). */
async function counts(): Promise<Record<string, { tables: Record<string, number> }>> {
  const dbs = (await source.sql("SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT IN ('information_schema', 'performance_schema', 'sys', 'mysql')"))
    .split('\n')
    .filter(Boolean);
  const out: Record<string, { tables: Record<string, number> }> = {};
  for (const db of dbs) {
    const tables = (await source.sql(`SELECT table_name FROM information_schema.tables WHERE table_schema = '${db}' AND table_type = 'BASE TABLE'`)).split('\n').filter(Boolean);
    out[db] = { tables: {} };
    for (const t of tables) out[db].tables[t] = Number(await source.sql(`SELECT COUNT(*) FROM \`${db}\`.\`${t}\``));
  }
  return out;
}

beforeAll(async () => {
  [source, pgw] = await Promise.all([startMariadb(), startPushgateway()]);
  cleanups.push(() => source.stop(), () => pgw.stop());
  await source.sql(MYSQL_ROOT_OVER_TCP);
  await source.sql(MYSQL_SEED_SQL);
  nfs = fs.mkdtempSync('/tmp/bp-it-drill-my-');
  fs.chownSync(nfs, 10001, 10001);
  cleanups.push(() => fs.rmSync(nfs, { recursive: true, force: true }));
  ports = { pushgateway: Number(new URL(pgw.url).port), mysql: source.port };
  cluster = drillCluster(ports, { 'mysql-backup': nfs }, { mysql: QUERIES });
  for (const name of ['mysql-full-backup', 'mysql-per-db-backup']) {
    const job = await runJob(cluster, name);
    expect({ name, succeeded: job.succeeded }).toEqual({ name, succeeded: true });
  }
  const c = await counts();
  for (const copy of copiesIn(nfs, 'dump_', '.sql.zst')) ensureManifest(nfs, copy, { service: 'mysql', engine: 'mysql', kind: 'full' }, { databases: c });
  for (const db of fs.readdirSync(path.join(nfs, 'per-db'))) {
    for (const copy of copiesIn(path.join(nfs, 'per-db', db), 'dump_', '.sql.zst')) {
      ensureManifest(nfs, `per-db/${db}/${copy}`, { service: 'mysql', engine: 'mysql', kind: 'per-database' }, { databases: { [db]: c[db] } });
    }
  }
  await source.stop();
}, 300000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function drill(name: string, volume: string, c: TestCluster = cluster) {
  const before = volumeDigest(volume);
  const job = await runJob(c, name, { claims: { 'mysql-backup': volume }, attempts: 1 });
  return { pod: job.attempts[0], before, after: volumeDigest(volume) };
}

const errors = (stderr: string) => stderr.split('\n').filter((l) => /ERROR/.test(l));

describe('MariaDB restore drills', () => {
  it('full: the newest copy loads into a throwaway MariaDB with every row its manifest records; the query passes', async () => {
    const { pod, before, after } = await drill('mysql-full-drill', nfs);
    expect({ code: pod.code, errors: errors(pod.stderr) }).toEqual({ code: 0, errors: [] });
    expect(pod.stderr).toMatch(/throwaway MariaDB 11\.\d+\S* on the socket/);
    expect(pod.stderr).toContain('shop: 3 tables, 123000 rows');
    expect(pod.stderr).toContain("query 0 (database 'crm'): 2000, as expected");
    expect(pod.stdout + pod.stderr).not.toContain(SECRETS.mysql);
    expect(after).toEqual(before);
    const g = await groupValues(pgw, 'mysql', 'drill-full');
    expect(g.backup_restore_drill_success).toBe(1);
    expect(g.backup_restore_drill_duration_seconds).toBeGreaterThan(0);
  }, 300000);

  it('per-database: the newest copy of every database loads as its manifest records', async () => {
    const { pod, before, after } = await drill('mysql-per-db-drill', nfs);
    expect({ code: pod.code, errors: errors(pod.stderr) }).toEqual({ code: 0, errors: [] });
    expect(pod.stderr).toContain('crm: 1 tables, 2000 rows');
    expect(after).toEqual(before);
    expect((await groupValues(pgw, 'mysql', 'drill-per-database')).backup_restore_drill_success).toBe(1);
  }, 300000);

  it('a manifest that records more rows than the copy restores fails, naming the table', async () => {
    const volume = cloneVolume(nfs);
    cleanups.push(() => fs.rmSync(volume, { recursive: true, force: true }));
    const [copy] = copiesIn(volume, 'dump_', '.sql.zst').slice(-1);
    editManifest(volume, copy, (m) => {
      m.databases.crm.tables.contacts = 2001;
    });
    const { pod, before, after } = await drill('mysql-full-drill', volume);
    expect(pod.code).not.toBe(0);
    expect(pod.stderr).toContain(`${copy}: database "crm" table "contacts": manifest 2001 rows, restored 2000`);
    expect(after).toEqual(before);
    expect((await groupValues(pgw, 'mysql', 'drill-full')).backup_restore_drill_success).toBe(0);
  }, 300000);

  it('a declared query that fails fails the drill, naming the query', async () => {
    const failing = drillCluster(ports, { 'mysql-backup': nfs }, { mysql: [{ database: 'crm', sql: 'SELECT COUNT(*) FROM no_such_table', min: 1 }] });
    const { pod } = await drill('mysql-full-drill', nfs, failing);
    expect(pod.code).not.toBe(0);
    expect(pod.stderr).toMatch(/query 0 \(database 'crm'\) failed: .*no_such_table/);
    expect((await groupValues(pgw, 'mysql', 'drill-full')).backup_restore_drill_success).toBe(0);
  }, 300000);
});
