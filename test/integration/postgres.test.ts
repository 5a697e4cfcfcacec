/**
 * The homelab's PostgreSQL CronJobs (full: pg_dumpall; per-database: pg_dump -Fc), run from the
 * synthesized stack through the harness (inside the backup-tools image, PostgreSQL 17 clients)
 * against a real PostgreSQL 15 and 17, then restored with the same image's clients into fresh
 * clusters of the same version and compared object by object and row by row with the source.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Postgres, Pushgateway, run, SERVER_VERSIONS, startPostgres, startPushgateway } from '../support/servers';
import { inImage } from '../support/rootfs';
import { allFiles, seriesIn } from '../support/run-script';
import { runJob, TestCluster } from '../harness/cronjob-harness';
import { SECRETS, testCluster } from '../harness/test-policy';
import { pgClusterFingerprint, pgDatabaseFingerprint, pgDatabases } from '../harness/postgres-compare';
import { groupValues } from '../harness/pushgateway';
import { recordTiming } from '../harness/timings';
import { PG_ROLES_SQL, PG_UNICODE_DB, seedPostgres } from '../harness/seeds';
import { manifestCompare, pgCounts, readManifest } from '../harness/manifests';

describe.each(SERVER_VERSIONS.postgres)('PostgreSQL %s server', (version) => {
  let pg: Postgres;
  let pgw: Pushgateway;
  let cluster: TestCluster;
  let nfs: string;
  const cleanups: (() => Promise<void> | void)[] = [];

  function backupDir(): string {
    const d = fs.mkdtempSync('/tmp/bp-it-pg-');
    fs.chownSync(d, 10001, 10001);
    cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
    return d;
  }

  beforeAll(async () => {
    [pg, pgw] = await Promise.all([startPostgres({ password: SECRETS.postgres, version }), startPushgateway()]);
    cleanups.push(() => pg.stop(), () => pgw.stop());
    await seedPostgres(pg, { pgbenchScale: 5 });
    nfs = backupDir();
    cluster = testCluster({ pushgateway: Number(new URL(pgw.url).port), postgres: pg.port }, { 'postgresql-backup': nfs });
  }, 120000);

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  /**
   * A fresh cluster to restore into, as a replacement server would be set up: bootstrap superuser
   * `postgres` with the same password, and password authentication, so restored hashes are tested.
   */
  async function freshCluster(): Promise<Postgres> {
    const target = await startPostgres({ password: SECRETS.postgres, version });
    cleanups.push(() => target.stop());
    return target;
  }

  function restoreEnv(target: Postgres): NodeJS.ProcessEnv {
    return { ...process.env, ...target.env };
  }

  /** A restore as the restore Job runs it: with the backup image's clients (never older than the server). */
  function restoreWith(script: string, ...args: string[]) {
    return inImage('backup-tools', ['bash', '-c', script, 'bash', ...args]);
  }

  /**
   * `pg_restore --clean --if-exists` of one database's dump. pg_restore 17 starts with
   * `SET transaction_timeout = 0`, which a server before 17 rejects; on such a server the restore
   * runs without --exit-on-error and that statement must be the one and only error.
   */
  async function pgRestore(target: Postgres, file: string, db: string): Promise<void> {
    const strict = Number(version) >= 17;
    const r = await run(...restoreWith(`set -o pipefail; zstd -dcq -- "$1" | pg_restore -w ${strict ? '--exit-on-error ' : ''}--clean --if-exists -d "$2"`, file, db), {
      env: restoreEnv(target),
    });
    if (strict) {
      expect({ db, stderr: r.stderr, code: r.code }).toEqual({ db, stderr: '', code: 0 });
    } else {
      expect({ db, stderr: r.stderr.trim().split('\n'), code: r.code }).toEqual({
        db,
        stderr: [
          'pg_restore: error: could not execute query: ERROR:  unrecognized configuration parameter "transaction_timeout"',
          'Command was: SET transaction_timeout = 0;',
          'pg_restore: warning: errors ignored on restore: 1',
        ],
        code: 1,
      });
    }
  }

  async function expectSuccessMetrics(kind: string, before: number, files: string[]): Promise<void> {
    const g = await groupValues(pgw, 'postgresql', kind);
    expect(g.backup_last_run_success).toBe(1);
    expect(g.backup_last_success_timestamp_seconds).toBeGreaterThanOrEqual(before);
    expect(g.backup_last_size_bytes).toBe(files.reduce((n, f) => n + fs.statSync(f).size, 0));
  }

  describe('postgresql-full-backup (pg_dumpall)', () => {
    it('restores into a fresh cluster with every role, database, object and row of the source', async () => {
      const before = Math.floor(Date.now() / 1000);
      const job = await runJob(cluster, 'postgresql-full-backup');
      const pod = job.attempts[0];
      expect(pod.stderr).toContain('finished successfully');
      expect(job.attempts).toHaveLength(1);
      expect(pod.code).toBe(0);
      expect(pod.stdout + pod.stderr).not.toContain(SECRETS.postgres);
      expect(pod.tmpLeftovers).toEqual([]);
      const [dump] = seriesIn(nfs, 'dump_', '.sql.zst');
      expect(allFiles(nfs).filter((f) => !f.startsWith('per-db'))).toEqual(['.lock-full', dump, `${dump}.manifest.json`]);
      const file = path.join(nfs, dump);
      await expectSuccessMetrics('full', before, [file]);

      const target = await freshCluster();
      const restoreStart = Date.now();
      const restore = await run(...restoreWith('set -o pipefail; zstd -dcq -- "$1" | psql -X -q -w -d postgres >/dev/null', file), {
        env: restoreEnv(target),
      });
      const restoreSeconds = (Date.now() - restoreStart) / 1000;
      // pg_dumpall's documented restore: the one error is the bootstrap superuser that initdb made.
      // pg_dumpall 17 also sets transaction_timeout, which a server before 17 does not know: harmless
      // (psql goes on), and every such line is accounted for here.
      const errors = restore.stderr.trim().split('\n');
      const olderServer = Number(version) < 17;
      expect(errors.filter((l) => !(olderServer && l.endsWith('ERROR:  unrecognized configuration parameter "transaction_timeout"')))).toEqual([
        expect.stringMatching(/ERROR: {2}role "postgres" already exists$/),
      ]);
      expect(restore.code).toBe(0);

      expect(await pgClusterFingerprint(target)).toEqual(await pgClusterFingerprint(pg));
      const dbs = await pgDatabases(pg);
      expect(dbs).toEqual(['bench', 'postgres', 'shop', PG_UNICODE_DB]);
      expect(await pgDatabases(target)).toEqual(dbs);
      for (const db of dbs) {
        const [want, got] = await Promise.all([pgDatabaseFingerprint(pg, db), pgDatabaseFingerprint(target, db)]);
        expect({ db, fingerprint: got }).toEqual({ db, fingerprint: want });
      }

      // The manifest: every database of the copy (templates too) with the source's rows per table
      // and large objects; the restored cluster agrees through the library's reader, which names a
      // table that lost a row.
      const manifest = readManifest(file, { service: 'postgresql', engine: 'postgres', kind: 'full' });
      const counted: Record<string, unknown> = {};
      for (const db of ['template1', ...dbs]) counted[db] = await pgCounts(pg, db);
      expect(manifest.databases).toEqual(counted);
      expect(manifest.databases.shop.largeObjects).toBe(2);
      expect(Object.keys(manifest.databases[PG_UNICODE_DB].tables).length).toBeGreaterThan(0);
      const restoredCounts: Record<string, unknown> = {};
      for (const db of ['template1', ...dbs]) restoredCounts[db] = await pgCounts(target, db);
      expect(await manifestCompare(`${file}.manifest.json`, { databases: restoredCounts })).toEqual({ code: 0, mismatches: [] });
      const audits = manifest.databases.shop.tables['audit.log'];
      await target.psql('DELETE FROM audit.log WHERE ctid = (SELECT ctid FROM audit.log LIMIT 1)', { db: 'shop' });
      restoredCounts.shop = await pgCounts(target, 'shop');
      expect(await manifestCompare(`${file}.manifest.json`, { databases: restoredCounts })).toEqual({
        code: 1,
        mismatches: [`database "shop" table "audit.log" rows: expected ${audits}, got ${audits - 1}`],
      });

      // The restored cluster works, not only looks the same: password hashes, triggers, sequences.
      expect((await target.psql('select current_user', { db: 'shop', as: { user: 'app_owner', password: 'App-owner-pw-1' } })).trim()).toBe('app_owner');
      await expect(target.psql('select 1', { db: 'shop', as: { user: 'app_owner', password: 'wrong' } })).rejects.toThrow(/password authentication failed/);
      const auditBefore = Number(await target.psql('select count(*) from audit.log', { db: 'shop' }));
      await target.psql("INSERT INTO sales.orders (customer_id, amount) VALUES (1, 1.00)", { db: 'shop' });
      expect(Number(await target.psql('select count(*) from audit.log', { db: 'shop' }))).toBe(auditBefore + 1);
      expect((await target.psql("select nextval('sales.invoice_no')", { db: 'shop' })).trim()).toBe('4249');
      expect((await target.psql("select count(*) from pgbench_accounts", { db: 'bench' })).trim()).toBe('500000');

      recordTiming(`postgres ${version} full (pg_dumpall | zstd)`, {
        dumpSeconds: pod.durationMs / 1000,
        restoreSeconds,
        bytes: fs.statSync(file).size,
        data: '4 databases, pgbench scale 5 (500k accounts), 22k rows of mixed types, 2 large objects',
      });
    }, 180000);
  });

  describe('postgresql-per-db-backup (pg_dump -Fc per database)', () => {
    it('dumps every database; each restores alone with pg_restore --clean --if-exists, also over a damaged copy', async () => {
      const before = Math.floor(Date.now() / 1000);
      const job = await runJob(cluster, 'postgresql-per-db-backup');
      const pod = job.attempts[0];
      expect(pod.stderr).toContain('finished successfully');
      expect(pod.code).toBe(0);
      expect(pod.stdout + pod.stderr).not.toContain(SECRETS.postgres);
      const dbs = await pgDatabases(pg);
      const files: Record<string, string> = {};
      for (const db of dbs) {
        const series = seriesIn(path.join(nfs, 'per-db', db), 'dump_', '.dump.zst');
        expect({ db, series: series.length }).toEqual({ db, series: 1 });
        files[db] = path.join(nfs, 'per-db', db, series[0]);
      }
      expect(fs.readdirSync(path.join(nfs, 'per-db')).sort()).toEqual([...dbs].sort());
      await expectSuccessMetrics('per-database', before, Object.values(files));
      for (const db of dbs) {
        const manifest = readManifest(files[db], { service: 'postgresql', engine: 'postgres', kind: 'per-database' });
        expect({ db, databases: manifest.databases }).toEqual({ db, databases: { [db]: await pgCounts(pg, db) } });
      }

      // A fresh cluster that has the roles (a single-database restore needs its owners), then each
      // database restored on its own.
      const target = await freshCluster();
      await target.psql(PG_ROLES_SQL);
      const restoreStart = Date.now();
      for (const db of dbs) {
        if (db !== 'postgres') await target.psql(`CREATE DATABASE "${db}"`);
        await pgRestore(target, files[db], db);
      }
      const restoreSeconds = (Date.now() - restoreStart) / 1000;
      for (const db of dbs) {
        const [want, got] = await Promise.all([pgDatabaseFingerprint(pg, db), pgDatabaseFingerprint(target, db)]);
        expect({ db, fingerprint: got }).toEqual({ db, fingerprint: want });
      }

      // Selective restore over a damaged database: dropped table, changed rows, a stray object.
      await target.psql(`
        DROP VIEW sales.customer_totals; DROP TABLE audit.log;
        UPDATE sales.customers SET name = 'damaged' WHERE id < 100;
        CREATE TABLE public.stray (x int);
      `, { db: 'shop' });
      await pgRestore(target, files.shop, 'shop');
      const repaired = await pgDatabaseFingerprint(target, 'shop');
      // The stray table is not the dump's to remove; everything the dump holds is back as it was.
      expect(Object.keys(repaired).filter((k) => k.includes('public.stray')).length).toBeGreaterThan(0);
      const withoutStray = Object.fromEntries(Object.entries(repaired).filter(([k]) => !k.includes('public.stray')));
      expect(withoutStray).toEqual(await pgDatabaseFingerprint(pg, 'shop'));

      recordTiming(`postgres ${version} per-database (pg_dump -Fc -Z0 | zstd)`, {
        dumpSeconds: pod.durationMs / 1000,
        restoreSeconds,
        bytes: Object.values(files).reduce((n, f) => n + fs.statSync(f).size, 0),
        data: '4 databases, pgbench scale 5 (500k accounts), 22k rows of mixed types, 2 large objects',
      });
    }, 180000);
  });

  describe('manifests while the source is written', () => {
    // A name pg_dumpall must quote in \connect and a table name COPY must quote; rows whose text
    // holds lines that look like COPY's end marker and COPY's own escapes.
    const BUSY_DB = "busy 'db'=✓";
    const BUSY_TABLE = 'public."wri""tes\n(x)"';

    it('counts what a restore of each copy holds, not what the server holds when the dump ends', async () => {
      await pg.psql(`CREATE DATABASE "${BUSY_DB.replace(/"/g, '""')}"`);
      await pg.psql(`CREATE TABLE ${BUSY_TABLE} (id bigserial PRIMARY KEY, body text); CREATE TABLE stop (x int);
        INSERT INTO ${BUSY_TABLE} (body) SELECT E'\\\\.\\n\\\\.\\t' || g FROM generate_series(1, 1000) g;`, { db: BUSY_DB });
      // One committed insert after another until told to stop: every dump starts and ends among them.
      const writer = pg.psql(`DO $$ BEGIN
          WHILE NOT EXISTS (SELECT 1 FROM stop) LOOP
            INSERT INTO ${BUSY_TABLE} (body) VALUES (E'\\\\.\\nrow ' || clock_timestamp());
            COMMIT;
          END LOOP;
        END $$;`, { db: BUSY_DB });
      const rows = async () => (await pgCounts(pg, BUSY_DB)).tables[BUSY_TABLE];
      try {
        const full = await runJob(cluster, 'postgresql-full-backup');
        expect(full.attempts[0].stderr).toContain('finished successfully');
        const perDb = await runJob(cluster, 'postgresql-per-db-backup');
        expect(perDb.attempts[0].stderr).toContain('finished successfully');
      } finally {
        await pg.psql('INSERT INTO stop VALUES (1)', { db: BUSY_DB });
        await writer;
      }
      const atEnd = await rows();
      const fullCopy = path.join(nfs, seriesIn(nfs, 'dump_', '.sql.zst').at(-1)!);
      const perDbDir = path.join(nfs, 'per-db', BUSY_DB);
      const perDbCopy = path.join(perDbDir, seriesIn(perDbDir, 'dump_', '.dump.zst').at(-1)!);
      const fullManifest = readManifest(fullCopy, { service: 'postgresql', engine: 'postgres', kind: 'full' });
      const perDbManifest = readManifest(perDbCopy, { service: 'postgresql', engine: 'postgres', kind: 'per-database' });
      const inFull = fullManifest.databases[BUSY_DB].tables[BUSY_TABLE];
      const inPerDb = perDbManifest.databases[BUSY_DB].tables[BUSY_TABLE];
      // The writer ran through both dumps: each copy holds more than the seed and less than the end.
      expect(inFull).toBeGreaterThan(1000);
      expect(inPerDb).toBeGreaterThan(inFull);
      expect(atEnd).toBeGreaterThan(inPerDb);

      const fromFull = await freshCluster();
      const r = await run(...restoreWith('set -o pipefail; zstd -dcq -- "$1" | psql -X -q -w -d postgres >/dev/null', fullCopy), { env: restoreEnv(fromFull) });
      expect(r.stderr).toMatch(/role "postgres" already exists/);
      const fromPerDb = await freshCluster();
      await fromPerDb.psql(PG_ROLES_SQL);
      await fromPerDb.psql(`CREATE DATABASE "${BUSY_DB.replace(/"/g, '""')}"`);
      // pg_restore takes the name as a connection string (a bare name with '=' would be parsed as one).
      await pgRestore(fromPerDb, perDbCopy, `dbname='${BUSY_DB.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`);
      // What each restore holds is what its copy's manifest says; through the library's reader for
      // the per-database copy (the full copy's manifest also has every other database).
      expect(await pgCounts(fromFull, BUSY_DB)).toEqual(fullManifest.databases[BUSY_DB]);
      const got = await pgCounts(fromPerDb, BUSY_DB);
      expect(got).toEqual(perDbManifest.databases[BUSY_DB]);
      expect(await manifestCompare(`${perDbCopy}.manifest.json`, { databases: { [BUSY_DB]: got } })).toEqual({ code: 0, mismatches: [] });
    }, 240000);
  });
});
