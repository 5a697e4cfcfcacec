/**
 * The homelab's MySQL/MariaDB CronJobs (full: --all-databases; per-database), run from the
 * synthesized stack through the harness (inside the backup-tools image, MariaDB 11.8 client) against
 * a real MariaDB 10.11 and 11.8, restored with the same image's client into fresh servers of the same
 * version and compared table by table with the source.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Mariadb, mysqlString, Pushgateway, runOk, SERVER_VERSIONS, startMariadb, startPushgateway } from '../support/servers';
import { inImage } from '../support/rootfs';
import { allFiles, seriesIn } from '../support/run-script';
import { runJob, TestCluster } from '../harness/cronjob-harness';
import { SECRETS, testCluster } from '../harness/test-policy';
import { myAccountsFingerprint, myDatabaseFingerprint, myDatabases } from '../harness/mysql-compare';
import { groupValues } from '../harness/pushgateway';
import { recordTiming } from '../harness/timings';
import { MYSQL_ROOT_OVER_TCP, MYSQL_SEED_SQL } from '../harness/seeds';
import { manifestCompare, myCounts, readManifest } from '../harness/manifests';

describe.each(SERVER_VERSIONS.mariadb)('MariaDB %s server', (version) => {
  let my: Mariadb;
  let pgw: Pushgateway;
  let cluster: TestCluster;
  let nfs: string;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeAll(async () => {
    [my, pgw] = await Promise.all([startMariadb({ version }), startPushgateway()]);
    cleanups.push(() => my.stop(), () => pgw.stop());
    await my.sql(MYSQL_ROOT_OVER_TCP);
    await my.sql(MYSQL_SEED_SQL);
    nfs = fs.mkdtempSync('/tmp/bp-it-my-');
    fs.chownSync(nfs, 10001, 10001);
    cleanups.push(() => fs.rmSync(nfs, { recursive: true, force: true }));
    cluster = testCluster({ pushgateway: Number(new URL(pgw.url).port), mysql: my.port }, { 'mysql-backup': nfs });
  }, 120000);

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function freshServer(): Promise<Mariadb> {
    const target = await startMariadb({ version });
    cleanups.push(() => target.stop());
    return target;
  }

  /**
   * A restore as the restore Job runs it: with the backup image's client (never older than the
   * server). --no-defaults drops the image's client settings, so TLS verification is switched off
   * here: the 11.8 client otherwise refuses a 10.11 server without TLS even over the socket.
   */
  function loadInto(target: Mariadb, file: string, db?: string): Promise<string> {
    return runOk(
      ...inImage('backup-tools', ['bash', '-c', 'set -o pipefail; zstd -dcq -- "$1" | mariadb --no-defaults --skip-ssl-verify-server-cert -S "$2" -uroot --default-character-set=utf8mb4 --batch ${3:+"$3"}', 'bash', file, target.socket, db ?? '']),
    );
  }

  async function expectSuccessMetrics(kind: string, before: number, files: string[]): Promise<void> {
    const g = await groupValues(pgw, 'mysql', kind);
    expect(g.backup_last_run_success).toBe(1);
    expect(g.backup_last_success_timestamp_seconds).toBeGreaterThanOrEqual(before);
    expect(g.backup_last_size_bytes).toBe(files.reduce((n, f) => n + fs.statSync(f).size, 0));
  }

  describe('mysql-full-backup (mariadb-dump --all-databases)', () => {
    it('restores into a fresh server with every account, database, routine, event and row', async () => {
      const before = Math.floor(Date.now() / 1000);
      const job = await runJob(cluster, 'mysql-full-backup');
      const pod = job.attempts[0];
      expect(pod.stderr).toContain('finished successfully');
      expect(job.attempts).toHaveLength(1);
      expect(pod.code).toBe(0);
      expect(pod.stdout + pod.stderr).not.toContain(SECRETS.mysql);
      // The 0600 client defaults file went to the emptyDir and was removed.
      expect(pod.tmpLeftovers).toEqual([]);
      const [dump] = seriesIn(nfs, 'dump_', '.sql.zst');
      expect(allFiles(nfs).filter((f) => !f.startsWith('per-db'))).toEqual(['.lock-full', dump, `${dump}.manifest.json`]);
      const file = path.join(nfs, dump);
      await expectSuccessMetrics('full', before, [file]);

      const target = await freshServer();
      const restoreStart = Date.now();
      await loadInto(target, file);
      await target.sql('FLUSH PRIVILEGES');
      const restoreSeconds = (Date.now() - restoreStart) / 1000;

      const dbs = await myDatabases(my);
      expect(dbs).toEqual(['crm', 'shop']);
      expect(await myDatabases(target)).toEqual(dbs);
      for (const db of dbs) {
        const [want, got] = await Promise.all([myDatabaseFingerprint(my, db), myDatabaseFingerprint(target, db)]);
        expect({ db, fingerprint: got }).toEqual({ db, fingerprint: want });
      }
      expect(await myAccountsFingerprint(target)).toEqual(await myAccountsFingerprint(my));

      // The manifest: every database of the copy, the server's own `mysql` schema too (the dump
      // leaves some of its statistics tables' rows out, so only the user databases are compared
      // with the source), each with the source's rows per table.
      const manifest = readManifest(file, { service: 'mysql', engine: 'mysql', kind: 'full' });
      expect(Object.keys(manifest.databases).sort()).toEqual(['crm', 'mysql', 'shop']);
      for (const db of dbs) expect({ db, counts: manifest.databases[db] }).toEqual({ db, counts: await myCounts(my, db) });

      // It works, not only looks the same: the restored password hash, trigger, procedure, function.
      // --no-defaults drops the image's client settings, so TLS verification is switched off here.
      const asApp = await runOk(...inImage('backup-tools', ['mariadb', '--no-defaults', '--skip-ssl-verify-server-cert', '-h127.0.0.1', `-P${target.port}`, '-uapp', '-pApp-pw-1', '--batch', '--skip-column-names', 'shop', '-e', 'SELECT order_tax(100.00)']));
      expect(asApp.trim()).toBe('19.00');
      const audits = Number(await target.sql('SELECT COUNT(*) FROM audit_log', { db: 'shop' }));
      await target.sql('CALL add_order(1, 5.00)', { db: 'shop' });
      expect(Number(await target.sql('SELECT COUNT(*) FROM audit_log', { db: 'shop' }))).toBe(audits + 1);
      expect((await target.sql("SELECT name FROM customers WHERE id = 7", { db: 'shop' })).trim()).toBe('Kunde 7 Grüße ✓ 日本語 🎉');

      recordTiming(`mysql ${version} full (mariadb-dump --all-databases | zstd)`, {
        dumpSeconds: pod.durationMs / 1000,
        restoreSeconds,
        bytes: fs.statSync(file).size,
        data: '2 databases, 65k rows with BLOBs, JSON and utf8mb4 text, routines, triggers, an event',
      });
    }, 180000);
  });

  describe('mysql-per-db-backup', () => {
    it('dumps each database on its own; each restores into any database name on a fresh server', async () => {
      const before = Math.floor(Date.now() / 1000);
      const job = await runJob(cluster, 'mysql-per-db-backup');
      const pod = job.attempts[0];
      expect(pod.stderr).toContain('finished successfully');
      expect(pod.code).toBe(0);
      expect(pod.stdout + pod.stderr).not.toContain(SECRETS.mysql);
      // The server's own `mysql` schema is dumped too (accounts live there).
      expect(fs.readdirSync(path.join(nfs, 'per-db')).sort()).toEqual(['crm', 'mysql', 'shop']);
      const files: Record<string, string> = {};
      for (const db of ['crm', 'mysql', 'shop']) {
        const series = seriesIn(path.join(nfs, 'per-db', db), 'dump_', '.sql.zst');
        expect({ db, series: series.length }).toEqual({ db, series: 1 });
        files[db] = path.join(nfs, 'per-db', db, series[0]);
      }
      await expectSuccessMetrics('per-database', before, Object.values(files));
      for (const db of ['crm', 'shop']) {
        const manifest = readManifest(files[db], { service: 'mysql', engine: 'mysql', kind: 'per-database' });
        expect({ db, databases: manifest.databases }).toEqual({ db, databases: { [db]: await myCounts(my, db) } });
      }

      const target = await freshServer();
      // Definers must exist where the objects are restored, as on any server they would go back to.
      await target.sql("CREATE USER 'app'@'%' IDENTIFIED BY 'App-pw-1'");
      const restoreStart = Date.now();
      for (const db of ['crm', 'shop']) {
        // A per-database dump has no CREATE DATABASE: the operator creates it, with the source's charset.
        const [charset, collation] = (await my.sql(`SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${db}'`)).trim().split('\t');
        await target.sql(`CREATE DATABASE ${db} CHARACTER SET ${charset} COLLATE ${collation}`);
        await loadInto(target, files[db], db);
      }
      const restoreSeconds = (Date.now() - restoreStart) / 1000;
      for (const db of ['crm', 'shop']) {
        const [want, got] = await Promise.all([myDatabaseFingerprint(my, db), myDatabaseFingerprint(target, db)]);
        expect({ db, fingerprint: got }).toEqual({ db, fingerprint: want });
      }
      // Restoring under another name works: the dump does not name its database.
      await target.sql('CREATE DATABASE shop_copy CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci');
      await loadInto(target, files.shop, 'shop_copy');
      const rows = (await target.sql('SELECT COUNT(*) FROM orders', { db: 'shop_copy' })).trim();
      expect(rows).toBe((await my.sql('SELECT COUNT(*) FROM orders', { db: 'shop' })).trim());

      recordTiming(`mysql ${version} per-database (mariadb-dump | zstd)`, {
        dumpSeconds: pod.durationMs / 1000,
        restoreSeconds,
        bytes: Object.values(files).reduce((n, f) => n + fs.statSync(f).size, 0),
        data: '2 databases + mysql, 65k rows with BLOBs, JSON and utf8mb4 text, routines, triggers, an event',
      });
    }, 180000);
  });

  describe('manifests while the source is written', () => {
    const BUSY_DB = "busy 'db'=✓";
    const BUSY_TABLE = "t ab'le),(`x";
    const q = (s: string) => '`' + s.replace(/`/g, '``') + '`';

    it('counts the tuples a restore of each copy holds, whatever the strings hold', async () => {
      // Every string a naive tuple count would trip on: the tuple separator, quotes, backslashes,
      // a line break, a statement end; and a trigger body with an INSERT that is no data.
      const hostile = mysqlString("a),(b ' \\' \\ ),( \n);\r\n(");
      await my.sql(`CREATE DATABASE ${q(BUSY_DB)} CHARACTER SET utf8mb4;
        USE ${q(BUSY_DB)};
        CREATE TABLE ${q(BUSY_TABLE)} (id BIGINT AUTO_INCREMENT PRIMARY KEY, body TEXT, raw VARBINARY(16));
        CREATE TABLE stop (x INT);
        CREATE TABLE empty_one (x INT);
        INSERT INTO ${q(BUSY_TABLE)} (body, raw) SELECT CONCAT(${hostile}, seq), X'27292C28' FROM seq_1_to_1000;
        DELIMITER ;;
        CREATE TRIGGER no_data AFTER INSERT ON empty_one FOR EACH ROW
        INSERT INTO stop VALUES (1),(2),(3);;
        CREATE PROCEDURE write_until_stopped()
        BEGIN
          WHILE NOT EXISTS (SELECT 1 FROM stop) DO
            INSERT INTO ${q(BUSY_TABLE)} (body, raw) VALUES (CONCAT(${hostile}, NOW(6)), X'5C27');
          END WHILE;
        END;;
        DELIMITER ;`);
      // Autocommit: one committed insert after another until told to stop.
      const writer = my.sql('CALL write_until_stopped()', { db: BUSY_DB });
      try {
        const full = await runJob(cluster, 'mysql-full-backup');
        expect(full.attempts[0].stderr).toContain('finished successfully');
        const perDb = await runJob(cluster, 'mysql-per-db-backup');
        expect(perDb.attempts[0].stderr).toContain('finished successfully');
      } finally {
        await my.sql('INSERT INTO stop VALUES (1)', { db: BUSY_DB });
        await writer;
      }
      const atEnd = (await myCounts(my, BUSY_DB)).tables[BUSY_TABLE];
      const fullCopy = path.join(nfs, seriesIn(nfs, 'dump_', '.sql.zst').at(-1)!);
      const perDbDir = path.join(nfs, 'per-db', BUSY_DB);
      const perDbCopy = path.join(perDbDir, seriesIn(perDbDir, 'dump_', '.sql.zst').at(-1)!);
      const inFull = readManifest(fullCopy, { service: 'mysql', engine: 'mysql', kind: 'full' }).databases[BUSY_DB];
      const inPerDb = readManifest(perDbCopy, { service: 'mysql', engine: 'mysql', kind: 'per-database' }).databases[BUSY_DB];
      // The writer ran through both dumps: each copy holds more than the seed and less than the end.
      expect(inFull.tables.empty_one).toBe(0);
      expect(inFull.tables[BUSY_TABLE]).toBeGreaterThan(1000);
      expect(inPerDb.tables[BUSY_TABLE]).toBeGreaterThan(inFull.tables[BUSY_TABLE]);
      expect(atEnd).toBeGreaterThan(inPerDb.tables[BUSY_TABLE]);

      const fromFull = await freshServer();
      await loadInto(fromFull, fullCopy);
      const fromPerDb = await freshServer();
      await fromPerDb.sql(`CREATE DATABASE ${q(BUSY_DB)} CHARACTER SET utf8mb4`);
      await loadInto(fromPerDb, perDbCopy, BUSY_DB);
      // What each restore holds is what its copy's manifest says, through the library's reader for the
      // per-database copy (the full copy's manifest also has the other databases and `mysql`).
      expect(await myCounts(fromFull, BUSY_DB)).toEqual(inFull);
      const got = await myCounts(fromPerDb, BUSY_DB);
      expect(got).toEqual(inPerDb);
      expect(await manifestCompare(`${perDbCopy}.manifest.json`, { databases: { [BUSY_DB]: got } })).toEqual({ code: 0, mismatches: [] });
    }, 240000);
  });
});
