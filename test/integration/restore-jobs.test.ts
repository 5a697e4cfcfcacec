/**
 * Restore is code: the restore Job that `backup-policy restore` renders, run by the harness inside
 * the backup-tools image (its PostgreSQL 17 clients) against a fresh server of each version, from
 * the copies the rendered backup CronJobs made. The restored server is compared with the source
 * object by object and row by row. The Job is rendered from the same policy pointed at the fresh
 * server, as after replacing a lost one.
 */
import * as fs from 'node:fs';
import { Mariadb, Postgres, Pushgateway, SERVER_VERSIONS, startMariadb, startPostgres, startPushgateway } from '../support/servers';
import { myDatabaseFingerprint, myDatabases } from '../harness/mysql-compare';
import { jobManifestView, runJob, type TestCluster } from '../harness/cronjob-harness';
import { SECRETS, testCluster, testPolicy } from '../harness/test-policy';
import { pgClusterFingerprint, pgDatabaseFingerprint, pgDatabases } from '../harness/postgres-compare';
import { groupValues } from '../harness/pushgateway';
import { MYSQL_ROOT_OVER_TCP, MYSQL_SEED_SQL, PG_UNICODE_DB, seedPostgres } from '../harness/seeds';
import { planPolicy } from '../../policy/plan/plan';
import { renderRestoreJob, type RestoreRequest } from '../../policy/render/restore-job';

describe.each(SERVER_VERSIONS.postgres)('PostgreSQL %s: the rendered restore Job', (version) => {
  let source: Postgres;
  let pgw: Pushgateway;
  let nfs: string;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeAll(async () => {
    [source, pgw] = await Promise.all([startPostgres({ password: SECRETS.postgres, version }), startPushgateway()]);
    cleanups.push(() => source.stop(), () => pgw.stop());
    await seedPostgres(source, { pgbenchScale: 1 });
    nfs = fs.mkdtempSync('/tmp/bp-it-restore-');
    fs.chownSync(nfs, 10001, 10001);
    cleanups.push(() => fs.rmSync(nfs, { recursive: true, force: true }));
    const cluster = testCluster({ pushgateway: Number(new URL(pgw.url).port), postgres: source.port }, { 'postgresql-backup': nfs });
    for (const name of ['postgresql-full-backup', 'postgresql-per-db-backup']) {
      const job = await runJob(cluster, name);
      expect({ name, succeeded: job.succeeded }).toEqual({ name, succeeded: true });
    }
  }, 240000);

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  /** A fresh server, and the cluster and restore Job the policy gives once it points at it. */
  async function restoreInto(request: RestoreRequest, target?: Postgres) {
    const fresh = target ?? (await startPostgres({ password: SECRETS.postgres, version }));
    if (!target) cleanups.push(() => fresh.stop());
    const ports = { pushgateway: Number(new URL(pgw.url).port), postgres: fresh.port };
    const service = planPolicy(testPolicy(ports)).services.find((s) => s.id === 'postgresql')!;
    const view = jobManifestView(renderRestoreJob(service, request, new Date()));
    const cluster: TestCluster = testCluster(ports, { 'postgresql-backup': nfs });
    const job = await runJob(cluster, view.name, { job: view });
    return { target: fresh, job, pod: job.attempts[0] };
  }

  it('full: every role, database, object and row of the source comes back on a fresh server', async () => {
    const { target, job, pod } = await restoreInto({ mode: 'full', copy: 'latest', overwrite: false });
    expect({ code: pod.code, log: pod.stderr.split('\n').filter((l) => /ERROR/.test(l)) }).toEqual({ code: 0, log: [] });
    expect(job.attempts).toHaveLength(1);
    expect(pod.stdout + pod.stderr).not.toContain(SECRETS.postgres);
    expect(await pgClusterFingerprint(target)).toEqual(await pgClusterFingerprint(source));
    for (const db of await pgDatabases(source)) {
      const [want, got] = await Promise.all([pgDatabaseFingerprint(source, db), pgDatabaseFingerprint(target, db)]);
      expect({ db, fingerprint: got }).toEqual({ db, fingerprint: want });
    }
    const metrics = await groupValues(pgw, 'postgresql', 'restore-full');
    expect(metrics.backup_restore_last_run_success).toBe(1);
    expect(metrics.backup_restore_duration_seconds).toBeGreaterThan(0);
  }, 240000);

  it('per-database: one database, its roles and its collation, onto a fresh server with neither', async () => {
    const { target, pod } = await restoreInto({ mode: 'per-database', copy: 'latest', database: PG_UNICODE_DB, overwrite: false });
    expect({ code: pod.code, errors: pod.stderr.split('\n').filter((l) => /ERROR/.test(l)) }).toEqual({ code: 0, errors: [] });
    const [want, got] = await Promise.all([pgDatabaseFingerprint(source, PG_UNICODE_DB), pgDatabaseFingerprint(target, PG_UNICODE_DB)]);
    expect(got).toEqual(want);
    // Over existing data without --yes: refused, saying what it would replace, and nothing changed.
    const again = await restoreInto({ mode: 'per-database', copy: 'latest', database: PG_UNICODE_DB, overwrite: false }, target);
    expect(again.pod.code).not.toBe(0);
    expect(again.pod.stderr).toMatch(/RESTORE_OVERWRITE|would replace/);
    expect(await pgDatabaseFingerprint(target, PG_UNICODE_DB)).toEqual(want);
    // With --yes it is replaced, from the same read-only copy.
    const forced = await restoreInto({ mode: 'per-database', copy: 'latest', database: PG_UNICODE_DB, overwrite: true }, target);
    expect(forced.pod.code).toBe(0);
    expect(await pgDatabaseFingerprint(target, PG_UNICODE_DB)).toEqual(want);
  }, 240000);
});

describe.each(SERVER_VERSIONS.mariadb)('MariaDB %s: the rendered restore Job', (version) => {
  let source: Mariadb;
  let pgw: Pushgateway;
  let nfs: string;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeAll(async () => {
    [source, pgw] = await Promise.all([startMariadb({ version }), startPushgateway()]);
    cleanups.push(() => source.stop(), () => pgw.stop());
    await source.sql(MYSQL_ROOT_OVER_TCP);
    await source.sql(MYSQL_SEED_SQL);
    nfs = fs.mkdtempSync('/tmp/bp-it-restore-my-');
    fs.chownSync(nfs, 10001, 10001);
    cleanups.push(() => fs.rmSync(nfs, { recursive: true, force: true }));
    const cluster = testCluster({ pushgateway: Number(new URL(pgw.url).port), mysql: source.port }, { 'mysql-backup': nfs });
    for (const name of ['mysql-full-backup', 'mysql-per-db-backup']) {
      const job = await runJob(cluster, name);
      expect({ name, succeeded: job.succeeded }).toEqual({ name, succeeded: true });
    }
  }, 240000);

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function restoreInto(request: RestoreRequest) {
    const fresh = await startMariadb({ version });
    cleanups.push(() => fresh.stop());
    // The replacement server is set up as the old one was: the backup user reaches it over TCP.
    await fresh.sql(MYSQL_ROOT_OVER_TCP);
    const ports = { pushgateway: Number(new URL(pgw.url).port), mysql: fresh.port };
    const service = planPolicy(testPolicy(ports)).services.find((s) => s.id === 'mysql')!;
    const view = jobManifestView(renderRestoreJob(service, request, new Date()));
    const job = await runJob(testCluster(ports, { 'mysql-backup': nfs }), view.name, { job: view });
    return { target: fresh, pod: job.attempts[0] };
  }

  it('full: every database and row of the source comes back', async () => {
    const { target, pod } = await restoreInto({ mode: 'full', copy: 'latest', overwrite: false });
    expect({ code: pod.code, errors: pod.stderr.split('\n').filter((l) => /ERROR/.test(l)) }).toEqual({ code: 0, errors: [] });
    expect(pod.stdout + pod.stderr).not.toContain(SECRETS.mysql);
    const dbs = await myDatabases(source);
    expect(await myDatabases(target)).toEqual(dbs);
    for (const db of dbs) expect({ db, fingerprint: await myDatabaseFingerprint(target, db) }).toEqual({ db, fingerprint: await myDatabaseFingerprint(source, db) });
    expect((await groupValues(pgw, 'mysql', 'restore-full')).backup_restore_last_run_success).toBe(1);
  }, 240000);

  it('per-database: one database onto a fresh server that lacks it', async () => {
    const [db] = (await myDatabases(source)).filter((d) => !['mysql', 'sys', 'performance_schema', 'information_schema'].includes(d));
    const { target, pod } = await restoreInto({ mode: 'per-database', copy: 'latest', database: db, overwrite: false });
    expect({ code: pod.code, errors: pod.stderr.split('\n').filter((l) => /ERROR/.test(l)) }).toEqual({ code: 0, errors: [] });
    expect(await myDatabaseFingerprint(target, db)).toEqual(await myDatabaseFingerprint(source, db));
  }, 240000);
});
