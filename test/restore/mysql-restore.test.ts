import * as fs from 'node:fs';
import * as path from 'node:path';
import { Mariadb, Pushgateway, mysqlString, run, startMariadb, startPushgateway } from '../support/servers';
import { ScriptResult, backupEnv, makeBackupDir, runScript, seriesIn } from '../support/run-script';
import { copyWithManifest } from './manifest';

// Distinctive, so that any appearance in logs is unambiguous.
const ADMIN_PW = 'Adm1n-my-rest0re-S3cret-2f8c';
const APP_PW = 'App-my-rest0re-S3cret-81e0';
// Every character a name-handling bug trips on: a space, quotes, a backquote, '=', non-ASCII.
const WEIRD_DB = "o'ne \"two\" `b` a=b café ✓";
const SHOP_DB = 'shop';

let source: Mariadb;
let pgw: Pushgateway;
let backupDir: string;
const dirs: string[] = [];
const targets: Mariadb[] = [];

const ident = (name: string) => `\`${name.replace(/`/g, '``')}\``;

async function freshTarget(): Promise<Mariadb> {
  const t = await startMariadb({ password: ADMIN_PW });
  targets.push(t);
  return t;
}

function restore(target: Mariadb, mode: 'full' | 'per-database', service: string, over: Record<string, string> = {}, dir = backupDir): Promise<ScriptResult> {
  // The backup job's environment, as the restore Job receives it (BACKUP_KIND is the backup's).
  const env = { ...backupEnv({ service, engine: 'mysql', kind: 'full', dir, pushgatewayUrl: pgw.url }), ...target.env, ...over };
  return runScript('mysql-restore.sh', [mode], { env, timeoutMs: 60000 });
}

function expectNoSecrets(r: ScriptResult): void {
  for (const secret of [ADMIN_PW, APP_PW]) expect(r.stdout + r.stderr).not.toContain(secret);
}

/** SQL as root, in database NAME when given (through USE: the client's database argument mangles some names). */
async function q(db: Mariadb, sql: string, name?: string): Promise<string> {
  return (await db.sql(name ? `USE ${ident(name)};\n${sql}` : sql)).trim();
}

/** The database's defaults and contents, as one string to compare. */
async function dbState(db: Mariadb, name: string): Promise<string> {
  const meta = await q(db, `SELECT default_character_set_name, default_collation_name FROM information_schema.schemata WHERE schema_name = ${mysqlString(name)}`);
  const tables = await q(
    db,
    `SELECT table_name, table_type, table_collation FROM information_schema.tables WHERE table_schema = ${mysqlString(name)} ORDER BY table_name`,
  );
  const rows = await q(db, 'SELECT id, body FROM notes ORDER BY id', name);
  const code = await q(
    db,
    `SELECT routine_name FROM information_schema.routines WHERE routine_schema = ${mysqlString(name)}
     UNION ALL SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = ${mysqlString(name)}`,
  );
  return `${meta}\n${tables}\n${rows}\n${code}`;
}

/** Logs in over TCP as USER with PASSWORD; returns the client's exit code. */
async function canLogIn(db: Mariadb, user: string, password: string): Promise<boolean> {
  // The password travels in the environment (MYSQL_PWD), as a test convenience only.
  const r = await run('mariadb', ['--no-defaults', '-h', '127.0.0.1', '-P', String(db.port), '-u', user, '-e', 'SELECT 1'], {
    env: { ...process.env, MYSQL_PWD: password },
  });
  return r.code === 0;
}

async function backup(kind: 'full' | 'per-database', dir: string): Promise<void> {
  const r = await runScript('mysql-backup.sh', [kind], {
    env: { ...backupEnv({ service: 'my-src', engine: 'mysql', kind, dir }), ...source.env },
  });
  if (r.code !== 0) throw new Error(`backup ${kind} failed:\n${r.stderr}`);
}

beforeAll(async () => {
  [source, pgw] = await Promise.all([startMariadb({ password: ADMIN_PW }), startPushgateway()]);
  await source.sql(`
    CREATE DATABASE ${ident(WEIRD_DB)} CHARACTER SET latin1 COLLATE latin1_german2_ci;
    CREATE DATABASE ${SHOP_DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
    CREATE USER 'app'@'%' IDENTIFIED BY ${mysqlString(APP_PW)};
    GRANT SELECT ON ${SHOP_DB}.* TO 'app'@'%';
  `);
  for (const name of [WEIRD_DB, SHOP_DB]) {
    await q(
      source,
      `CREATE TABLE notes (id int PRIMARY KEY AUTO_INCREMENT, body varchar(100) CHARACTER SET utf8mb4 NOT NULL);
       INSERT INTO notes (body) VALUES ('Grüße ✓ 🎉'), ('it''s "quoted"'), ('back\\\\slash');
       CREATE VIEW v_notes AS SELECT id FROM notes;`,
      name,
    );
  }
  // Routines and triggers come through the client's DELIMITER handling.
  await q(
    source,
    `CREATE TABLE audit (n int);
     CREATE TRIGGER notes_ai AFTER INSERT ON notes FOR EACH ROW INSERT INTO audit VALUES (NEW.id);
     CREATE PROCEDURE note_count(OUT n int) SELECT COUNT(*) INTO n FROM notes;`,
    SHOP_DB,
  );
  backupDir = makeBackupDir('my-restore');
  dirs.push(backupDir);
  await backup('full', backupDir);
  await backup('per-database', backupDir);
  // The Job mounts the backup volume read-only: nothing may be written there.
  fs.chmodSync(backupDir, 0o555);
});

afterAll(async () => {
  await Promise.all([source?.stop(), pgw?.stop(), ...targets.map((t) => t.stop())]);
  for (const d of dirs) {
    fs.chmodSync(d, 0o755);
    fs.rmSync(d, { recursive: true, force: true });
  }
});

describe('mysql-restore.sh per-database', () => {
  it('creates the database with its original character set and collation on a fresh server, then loads it', async () => {
    const target = await freshTarget();
    const before = Math.floor(Date.now() / 1000);
    const r = await restore(target, 'per-database', 'my-one', { RESTORE_DATABASE: WEIRD_DB });
    expect(r.stderr).toContain('finished successfully');
    expect(r.code).toBe(0);
    expectNoSecrets(r);
    expect(r.tmpLeftovers).toEqual([]);
    expect(r.stderr).toContain('character set latin1, collation latin1_german2_ci');
    expect(await dbState(target, WEIRD_DB)).toBe(await dbState(source, WEIRD_DB));
    expect(await q(target, `SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '${SHOP_DB}'`)).toBe('0');

    const g = await pgw.group('my-one', 'restore-per-database');
    expect(g.get('backup_restore_last_run_success')?.value).toBe(1);
    expect(g.get('backup_restore_last_run_success')?.labels).toMatchObject({ service: 'my-one', engine: 'mysql', kind: 'restore-per-database' });
    expect(g.get('backup_restore_duration_seconds')?.value).toBeGreaterThan(0);
    expect(g.get('backup_restore_last_success_timestamp_seconds')?.value).toBeGreaterThanOrEqual(before);
    expect((await pgw.group('my-one', 'full')).size).toBe(0);
  });

  it('refuses to replace a database that holds tables without RESTORE_OVERWRITE, and replaces it with it', async () => {
    const target = await freshTarget();
    await target.sql(`CREATE DATABASE ${SHOP_DB}; CREATE TABLE ${SHOP_DB}.notes (id int, body text); INSERT INTO ${SHOP_DB}.notes VALUES (9, 'target-only');`);
    const refused = await restore(target, 'per-database', 'my-over', { RESTORE_DATABASE: SHOP_DB });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`database '${SHOP_DB}' exists`);
    expect(refused.stderr).toContain('holds 1 tables and views');
    expect(refused.stderr).toContain('RESTORE_OVERWRITE=yes');
    expect(await q(target, 'SELECT body FROM notes', SHOP_DB)).toBe('target-only');
    expect((await pgw.group('my-over', 'restore-per-database')).get('backup_restore_last_run_success')?.value).toBe(0);

    const done = await restore(target, 'per-database', 'my-over', { RESTORE_DATABASE: SHOP_DB, RESTORE_OVERWRITE: 'yes' });
    expect(done.stderr).toContain('finished successfully');
    expect(done.code).toBe(0);
    expect(await dbState(target, SHOP_DB)).toBe(await dbState(source, SHOP_DB));
  });

  it('replaces an existing database that holds nothing without being told, with the original defaults', async () => {
    const target = await freshTarget();
    await target.sql(`CREATE DATABASE ${ident(WEIRD_DB)}`);
    const r = await restore(target, 'per-database', 'my-empty', { RESTORE_DATABASE: WEIRD_DB });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('(0 tables and views)');
    expect(await dbState(target, WEIRD_DB)).toBe(await dbState(source, WEIRD_DB));
  });

  it('falls back to utf8mb4 and says so when no full copy records the database', async () => {
    const onlyPerDb = makeBackupDir('my-restore-perdb');
    dirs.push(onlyPerDb);
    await backup('per-database', onlyPerDb);
    const target = await freshTarget();
    const r = await restore(target, 'per-database', 'my-nofull', { RESTORE_DATABASE: WEIRD_DB }, onlyPerDb);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`no CREATE DATABASE for '${WEIRD_DB}' in a full copy`);
    expect(await q(target, `SELECT default_character_set_name FROM information_schema.schemata WHERE schema_name = ${mysqlString(WEIRD_DB)}`)).toBe('utf8mb4');
    expect(await q(target, 'SELECT body FROM notes ORDER BY id', WEIRD_DB)).toBe(await q(source, 'SELECT body FROM notes ORDER BY id', WEIRD_DB));
  });

  it('refuses names that are not a copy of the mode', async () => {
    const target = await freshTarget();
    const refusals: Array<[string, string]> = [
      [`per-db/${SHOP_DB}/../../dump_x.sql.zst`, "must not contain '..'"],
      [path.join(backupDir, 'x'), 'not an absolute path'],
      [`per-db/${SHOP_DB}/.tmp.per-database.x.abc123`, 'work file'],
      [`per-db/${SHOP_DB}/dump_20000101T000000Z.sql.zst.rejected`, 'refused'],
      ['dump_20000101T000000Z.sql.zst', 'is not a per-database copy'],
      [`per-db/${SHOP_DB}/dump_20000101T000000Z.sql.zst`, 'does not exist'],
    ];
    for (const [name, message] of refusals) {
      const r = await restore(target, 'per-database', 'my-named', { RESTORE_DATABASE: SHOP_DB, RESTORE_COPY: name });
      expect({ name, code: r.code, said: r.stderr.includes(message) }).toEqual({ name, code: 1, said: true });
    }
  });
});

describe('mysql-restore.sh full', () => {
  it('restores every database and the accounts, which can log in at once (privileges flushed)', async () => {
    const target = await freshTarget();
    expect(await canLogIn(target, 'app', APP_PW)).toBe(false);
    const r = await restore(target, 'full', 'my-all');
    expect(r.stderr).toContain('finished successfully');
    expect(r.code).toBe(0);
    expectNoSecrets(r);
    expect(r.stderr).toContain('replace every account');
    expect(r.stderr).toMatch(/restored the server from dump_\d{8}T\d{6}Z\.sql\.zst: 2 databases, 3 tables/);
    expect(await canLogIn(target, 'app', APP_PW)).toBe(true);
    for (const name of [WEIRD_DB, SHOP_DB]) expect(await dbState(target, name)).toBe(await dbState(source, name));
    expect((await pgw.group('my-all', 'restore-full')).get('backup_restore_last_run_success')?.value).toBe(1);
  });

  it('refuses a server with databases without RESTORE_OVERWRITE, and replaces them with it', async () => {
    const target = await freshTarget();
    await target.sql(`CREATE DATABASE extra; CREATE DATABASE ${SHOP_DB}; CREATE TABLE ${SHOP_DB}.notes (id int, body text);`);
    const refused = await restore(target, 'full', 'my-all-over');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("holds databases: 'extra' 'shop'");
    expect(refused.stderr).toContain('RESTORE_OVERWRITE=yes');
    expect(await q(target, "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = 'extra'")).toBe('1');

    const done = await restore(target, 'full', 'my-all-over', { RESTORE_OVERWRITE: 'yes' });
    expect(done.stderr).toContain('finished successfully');
    expect(done.code).toBe(0);
    expect(await q(target, "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = 'extra'")).toBe('0');
    for (const name of [WEIRD_DB, SHOP_DB]) expect(await dbState(target, name)).toBe(await dbState(source, name));
  });
});

describe("mysql-restore.sh and the copy's manifest", () => {
  it('full: counts every database of the manifest but the server\'s own; a difference fails naming database and table, expected and got', async () => {
    const [copy] = seriesIn(backupDir, 'dump_', '.sql.zst').slice(-1);
    // Hand-written from the seed; the mysql schema is the server's and is not compared.
    const counts = { [WEIRD_DB]: { tables: { notes: 3 } }, [SHOP_DB]: { tables: { notes: 3, audit: 0 } }, mysql: { tables: { user: 999 } } };
    const good = copyWithManifest(backupDir, copy, { service: 'my-src', engine: 'mysql', kind: 'full', databases: counts });
    dirs.push(good);
    const target = await freshTarget();
    const ok = await restore(target, 'full', 'my-manifest', {}, good);
    expect(ok.stderr).toContain(`counts match ${copy}.manifest.json: 2 databases, 3 tables, 6 rows`);
    expect(ok.code).toBe(0);

    const bad = copyWithManifest(backupDir, copy, { service: 'my-src', engine: 'mysql', kind: 'full', databases: { ...counts, [SHOP_DB]: { tables: { notes: 3, audit: 1, gone: 2 } } } });
    dirs.push(bad);
    const failed = await restore(target, 'full', 'my-manifest', { RESTORE_OVERWRITE: 'yes' }, bad);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(`manifest mismatch: database '${SHOP_DB}', table audit: expected 1 rows, got 0 rows`);
    expect(failed.stderr).toContain(`manifest mismatch: database '${SHOP_DB}', table gone: expected 2 rows, got no table`);
    expect(failed.stderr).toContain(`2 counts after the restore differ from ${copy}.manifest.json`);
  });
});

