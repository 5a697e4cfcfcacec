import * as fs from 'node:fs';
import * as path from 'node:path';
import { Postgres, Pushgateway, startPostgres, startPushgateway } from '../support/servers';
import { ScriptResult, backupEnv, makeBackupDir, runScript, seriesIn } from '../support/run-script';
import { copyWithManifest } from './manifest';

// Distinctive, so that any appearance in logs is unambiguous.
const SUPER_PW = 'Sup3r-pg-rest0re-S3cret-9a1b';
const OWNER_PW = 'Own3r-pg-rest0re-S3cret-44d2';
// Every character a name-handling bug trips on: a space, both quotes, '=', non-ASCII.
const WEIRD_DB = `o'ne "two" a=b café ✓`;
const SHOP_DB = 'shop';

let source: Postgres;
let pgw: Pushgateway;
let backupDir: string;
const targets: Postgres[] = [];

/** psql's answer without its final newline. */
async function q(pg: Postgres, sql: string, opts?: Parameters<Postgres['psql']>[1]): Promise<string> {
  return (await pg.psql(sql, opts)).trim();
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

async function freshTarget(): Promise<Postgres> {
  const t = await startPostgres({ password: SUPER_PW });
  targets.push(t);
  return t;
}

function restoreEnv(target: Postgres, service: string, over: Record<string, string> = {}): Record<string, string> {
  // The backup job's environment, as the restore Job receives it (BACKUP_KIND is the backup's).
  return {
    ...backupEnv({ service, engine: 'postgres', kind: 'full', dir: backupDir, pushgatewayUrl: pgw.url }),
    ...target.env,
    ...over,
  };
}

function restore(target: Postgres, mode: 'full' | 'per-database', service: string, over: Record<string, string> = {}): Promise<ScriptResult> {
  return runScript('postgres-restore.sh', [mode], { env: restoreEnv(target, service, over), timeoutMs: 60000 });
}

function expectNoSecrets(r: ScriptResult): void {
  for (const secret of [SUPER_PW, OWNER_PW]) {
    expect(r.stdout + r.stderr).not.toContain(secret);
  }
}

/** What a restore must reproduce in the weird-named database: one string to compare. */
async function weirdDbState(pg: Postgres): Promise<string> {
  const meta = await q(pg, 
    `select pg_encoding_to_char(encoding), datcollate, datctype, pg_get_userbyid(datdba) from pg_database where datname = ${literal(WEIRD_DB)}`,
  );
  const data = await q(pg, 
    `select string_agg(id || ':' || body, '|' order by id) from notes;
     select last_value, is_called from notes_id_seq;
     select encode(lo_get(loid), 'escape') from files order by loid;
     select has_table_privilege('app_reader', 'notes', 'SELECT');
     select count(*) from v_notes;`,
    { db: WEIRD_DB },
  );
  return `${meta}\n${data}`;
}

async function shopState(pg: Postgres): Promise<string> {
  return q(pg, "select string_agg(sku || ':' || qty, ',' order by sku) from items", { db: SHOP_DB });
}

beforeAll(async () => {
  [source, pgw] = await Promise.all([startPostgres({ password: SUPER_PW }), startPushgateway()]);
  await q(source, `
    CREATE ROLE app_owner LOGIN PASSWORD '${OWNER_PW}';
    CREATE ROLE app_reader NOLOGIN;
    GRANT app_reader TO app_owner;
    CREATE DATABASE ${ident(WEIRD_DB)} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' OWNER app_owner;
    CREATE DATABASE ${SHOP_DB};
  `);
  await q(source, 
    `SET ROLE app_owner;
     CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL);
     INSERT INTO notes (body) SELECT 'note ' || g || ' Grüße ✓ 🎉' FROM generate_series(1, 50) g;
     DELETE FROM notes WHERE id > 40;
     SELECT setval('notes_id_seq', 77);
     CREATE VIEW v_notes AS SELECT id FROM notes WHERE id % 2 = 0;
     CREATE TABLE files (loid oid);
     INSERT INTO files SELECT lo_from_bytea(0, convert_to('large object ✓', 'UTF8'));
     GRANT SELECT ON notes TO app_reader;`,
    { db: WEIRD_DB },
  );
  // A partitioned table (its rows are its partitions') and an inheritance parent (its COPY leaves
  // out its child's rows): counted per table as pg_dump writes their data, by backup and restore alike.
  await q(source, `CREATE TABLE items (sku text PRIMARY KEY, qty int); INSERT INTO items VALUES ('a', 1), ('b', 2);
    CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
    CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
    INSERT INTO events SELECT g, date '2025-06-01' + g FROM generate_series(1, 300) g;
    CREATE TABLE base (id int); CREATE TABLE child (extra text) INHERITS (base);
    INSERT INTO base VALUES (1), (2); INSERT INTO child VALUES (3, 'x'), (4, 'y'), (5, 'z');`, { db: SHOP_DB });

  backupDir = makeBackupDir('pg-restore');
  for (const kind of ['full', 'per-database'] as const) {
    const r = await runScript('postgres-backup.sh', [kind], {
      env: { ...backupEnv({ service: 'pg-src', engine: 'postgres', kind, dir: backupDir }), ...source.env },
    });
    if (r.code !== 0) throw new Error(`backup ${kind} failed:\n${r.stderr}`);
  }
  // The Job mounts the backup volume read-only: nothing may be written there.
  fs.chmodSync(backupDir, 0o555);
});

afterAll(async () => {
  await Promise.all([source?.stop(), pgw?.stop(), ...targets.map((t) => t.stop())]);
  if (backupDir) {
    fs.chmodSync(backupDir, 0o755);
    fs.rmSync(backupDir, { recursive: true, force: true });
  }
});

describe('postgres-restore.sh per-database', () => {
  it('restores one database into a fresh cluster without its roles: owner, collation, rows, sequence, large object, grants', async () => {
    const target = await freshTarget();
    const before = Math.floor(Date.now() / 1000);
    const r = await restore(target, 'per-database', 'pg-one', { RESTORE_DATABASE: WEIRD_DB });
    expect(r.stderr).toContain('finished successfully');
    expect(r.code).toBe(0);
    expectNoSecrets(r);
    expect(r.tmpLeftovers).toEqual([]);
    expect(r.stderr).toContain('created roles: app_owner app_reader');
    // Rows per table on the server against the copy's COPY data: 40 notes and 1 file.
    expect(r.stderr).toContain('2 tables and 41 rows, as dumped');

    expect(await weirdDbState(target)).toBe(await weirdDbState(source));
    expect(await weirdDbState(target)).toContain('C.UTF-8');
    // The role came back with its password (hash): the application can log in.
    expect(await q(target, 'select current_user', { db: WEIRD_DB, as: { user: 'app_owner', password: OWNER_PW } })).toBe('app_owner');
    // Only the database asked for.
    expect(await q(target, `select count(*) from pg_database where datname = '${SHOP_DB}'`)).toBe('0');

    const g = await pgw.group('pg-one', 'restore-per-database');
    expect(g.get('backup_restore_last_run_success')?.value).toBe(1);
    expect(g.get('backup_restore_last_run_success')?.labels).toMatchObject({ service: 'pg-one', engine: 'postgres', kind: 'restore-per-database' });
    expect(g.get('backup_restore_duration_seconds')?.value).toBeGreaterThan(0);
    expect(g.get('backup_restore_last_success_timestamp_seconds')?.value).toBeGreaterThanOrEqual(before);
    // The backup's own series is never touched by a restore.
    expect((await pgw.group('pg-one', 'full')).size).toBe(0);
  });

  it('leaves existing roles exactly as they are (their passwords included)', async () => {
    const target = await freshTarget();
    await q(target, `CREATE ROLE app_owner LOGIN PASSWORD 'target-own-password'`);
    const r = await restore(target, 'per-database', 'pg-roles', { RESTORE_DATABASE: WEIRD_DB });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('created roles: app_reader');
    expect(await q(target, 'select current_user', { as: { user: 'app_owner', password: 'target-own-password' } })).toBe('app_owner');
    expect(await weirdDbState(target)).toBe(await weirdDbState(source));
  });

  it('refuses to replace a database that holds data without RESTORE_OVERWRITE, and replaces it with it', async () => {
    const target = await freshTarget();
    await q(target, `CREATE DATABASE ${SHOP_DB}`);
    await q(target, `CREATE TABLE items (sku text, qty int); INSERT INTO items VALUES ('target-only', 9);`, { db: SHOP_DB });

    const refused = await restore(target, 'per-database', 'pg-over', { RESTORE_DATABASE: SHOP_DB, RESTORE_OVERWRITE: 'no' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`database '${SHOP_DB}' exists`);
    expect(refused.stderr).toContain('holds 1 relations and 0 large objects');
    expect(refused.stderr).toContain('RESTORE_OVERWRITE=yes');
    expect(await shopState(target)).toBe('target-only:9');
    expect((await pgw.group('pg-over', 'restore-per-database')).get('backup_restore_last_run_success')?.value).toBe(0);

    const done = await restore(target, 'per-database', 'pg-over', { RESTORE_DATABASE: SHOP_DB, RESTORE_OVERWRITE: 'yes' });
    expect(done.code).toBe(0);
    expect(done.stderr).toContain(`dropping the existing database '${SHOP_DB}'`);
    expect(await shopState(target)).toBe(await shopState(source));
    // A second attempt from the same read-only copy works too.
    const again = await restore(target, 'per-database', 'pg-over', { RESTORE_DATABASE: SHOP_DB, RESTORE_OVERWRITE: 'yes' });
    expect(again.code).toBe(0);
    expect(await shopState(target)).toBe(await shopState(source));
  });

  it('restores an explicitly named copy and refuses names that are not a copy of the mode', async () => {
    const target = await freshTarget();
    const [copy] = seriesIn(path.join(backupDir, 'per-db', SHOP_DB), 'dump_', '.dump.zst');
    const named = await restore(target, 'per-database', 'pg-named', { RESTORE_DATABASE: SHOP_DB, RESTORE_COPY: `per-db/${SHOP_DB}/${copy}` });
    expect(named.stderr).toContain(`from per-db/${SHOP_DB}/${copy}`);
    expect(named.code).toBe(0);

    const [full] = seriesIn(backupDir, 'dump_', '.sql.zst');
    const refusals: Array<[string, string]> = [
      [`per-db/${SHOP_DB}/../${SHOP_DB}/${copy}`, "must not contain '..'"],
      [path.join(backupDir, 'per-db', SHOP_DB, copy), 'not an absolute path'],
      [`per-db/${SHOP_DB}/.tmp.per-database.x.abc123`, 'work file'],
      [`per-db/${SHOP_DB}/${copy}.rejected`, 'refused'],
      [full, 'is not a per-database copy'],
      [`per-db/${WEIRD_DB}/${copy}`, 'is not a per-database copy'],
      [`per-db/${SHOP_DB}/dump_20000101T000000Z.dump.zst`, 'does not exist'],
    ];
    for (const [name, message] of refusals) {
      const r = await restore(target, 'per-database', 'pg-named', { RESTORE_DATABASE: SHOP_DB, RESTORE_COPY: name });
      expect({ name, code: r.code, said: r.stderr.includes(message) }).toEqual({ name, code: 1, said: true });
    }
  });

  it('requires RESTORE_DATABASE, and replaces an existing database that holds nothing without being told', async () => {
    const target = await freshTarget();
    const r = await restore(target, 'per-database', 'pg-nodb');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('RESTORE_DATABASE is not set');

    // Created empty, with the cluster's default collation (C): the restore brings back the copy's.
    await target.psql(`CREATE DATABASE ${ident(WEIRD_DB)}`);
    const empty = await restore(target, 'per-database', 'pg-nodb', { RESTORE_DATABASE: WEIRD_DB });
    expect(empty.code).toBe(0);
    expect(empty.stderr).toContain('(0 relations and 0 large objects)');
    expect(await weirdDbState(target)).toBe(await weirdDbState(source));
  });
});

describe('postgres-restore.sh full', () => {
  it('restores the whole cluster into a fresh one: roles that log in, every database, large objects', async () => {
    const target = await freshTarget();
    const r = await restore(target, 'full', 'pg-all');
    expect(r.stderr).toContain('finished successfully');
    expect(r.code).toBe(0);
    expectNoSecrets(r);
    expect(r.stderr).toMatch(/restored the cluster from dump_\d{8}T\d{6}Z\.sql\.zst: 2 databases, 8 tables/);
    expect(await weirdDbState(target)).toBe(await weirdDbState(source));
    expect(await shopState(target)).toBe(await shopState(source));
    expect(await q(target, 'select current_user', { db: WEIRD_DB, as: { user: 'app_owner', password: OWNER_PW } })).toBe('app_owner');
    const g = await pgw.group('pg-all', 'restore-full');
    expect(g.get('backup_restore_last_run_success')?.value).toBe(1);
    expect(g.get('backup_restore_last_success_timestamp_seconds')).toBeDefined();
  });

  it('refuses a cluster that holds databases without RESTORE_OVERWRITE, and replaces them with it', async () => {
    const target = await freshTarget();
    await q(target, `CREATE DATABASE ${SHOP_DB}; CREATE DATABASE extra;`);
    await q(target, `CREATE TABLE items (sku text, qty int); INSERT INTO items VALUES ('target-only', 9);`, { db: SHOP_DB });
    await q(target, `CREATE TABLE stray (x int);`);

    const refused = await restore(target, 'full', 'pg-all-over');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("databases: 'extra' 'shop'");
    expect(refused.stderr).toContain("maintenance database 'postgres' holds 1 relations");
    expect(refused.stderr).toContain('RESTORE_OVERWRITE=yes');
    expect(await shopState(target)).toBe('target-only:9');

    const done = await restore(target, 'full', 'pg-all-over', { RESTORE_OVERWRITE: 'yes' });
    expect(done.stderr).toContain('finished successfully');
    expect(done.code).toBe(0);
    expect(await shopState(target)).toBe(await shopState(source));
    expect(await weirdDbState(target)).toBe(await weirdDbState(source));
    expect(await q(target, `select count(*) from pg_database where datname = 'extra'`)).toBe('0');
    expect(await q(target, `select count(*) from pg_class where relname = 'stray'`)).toBe('0');
  });

  it('fails on any psql error other than an existing role, without logging the statement', async () => {
    const target = await freshTarget();
    // Roles of the same names whose membership runs the other way: the copy's GRANT would make a
    // cycle, a real error that must not pass as an "already exists".
    await q(target, `CREATE ROLE app_owner NOLOGIN; CREATE ROLE app_reader NOLOGIN; GRANT app_owner TO app_reader;`);
    const r = await restore(target, 'full', 'pg-all-fail');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('unexpected errors from psql');
    expect(r.stderr).toMatch(/ERROR: {2}role "app_\w+" is a member of role "app_\w+"/);
    // psql's context lines quote the statement; none of it reaches the log.
    expect(r.stderr).not.toContain('GRANTED BY');
    expectNoSecrets(r);
    expect((await pgw.group('pg-all-fail', 'restore-full')).get('backup_restore_last_run_success')?.value).toBe(0);
  });
});

describe("postgres-restore.sh and the copy's manifest", () => {
  // Hand-written from the seed: the counts restoring the copies must give.
  const counts = {
    [WEIRD_DB]: { tables: { 'public.notes': 40, 'public.files': 1 }, largeObjects: 1 },
    [SHOP_DB]: { tables: { 'public.items': 2, 'public.events_2025': 213, 'public.events_2026': 87, 'public.base': 2, 'public.child': 3 }, largeObjects: 0 },
    postgres: { tables: {}, largeObjects: 0 },
  };
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  const withManifest = (copy: string, fields: Parameters<typeof copyWithManifest>[2]) => {
    const dir = copyWithManifest(backupDir, copy, fields);
    dirs.push(dir);
    return dir;
  };

  it('full: counts every database of the manifest after the restore; a difference fails naming database and table, expected and got', async () => {
    const [copy] = seriesIn(backupDir, 'dump_', '.sql.zst').slice(-1);
    const good = withManifest(copy, { service: 'pg-src', engine: 'postgres', kind: 'full', databases: counts });
    const target = await freshTarget();
    const ok = await restore(target, 'full', 'pg-manifest', { BACKUP_DIR: good });
    expect(ok.stderr).toContain(`counts match ${copy}.manifest.json: 3 databases, 7 tables, 348 rows, 1 large objects`);
    expect(ok.code).toBe(0);

    const bad = withManifest(copy, {
      service: 'pg-src', engine: 'postgres', kind: 'full',
      databases: { ...counts, [SHOP_DB]: { tables: { ...counts[SHOP_DB].tables, 'public.items': 3 }, largeObjects: 0 }, lost: { tables: {}, largeObjects: 0 } },
    });
    const failed = await restore(target, 'full', 'pg-manifest', { BACKUP_DIR: bad, RESTORE_OVERWRITE: 'yes' });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(`manifest mismatch: database '${SHOP_DB}', table public.items: expected 3 rows, got 2 rows`);
    expect(failed.stderr).toContain("manifest mismatch: database 'lost': in the manifest, missing after the restore");
    expect(failed.stderr).toContain(`2 counts after the restore differ from ${copy}.manifest.json`);
    expect((await pgw.group('pg-manifest', 'restore-full')).get('backup_restore_last_run_success')?.value).toBe(0);
  });

  it("per-database: the backup job's own manifest (partitions, an inheritance parent) matches the restored database", async () => {
    const [copy] = seriesIn(path.join(backupDir, 'per-db', SHOP_DB), 'dump_', '.dump.zst').slice(-1);
    expect(fs.existsSync(path.join(backupDir, 'per-db', SHOP_DB, `${copy}.manifest.json`))).toBe(true);
    const target = await freshTarget();
    const r = await restore(target, 'per-database', 'pg-own-manifest', { RESTORE_DATABASE: SHOP_DB });
    expect({ code: r.code, errors: r.stderr.split('\n').filter((l) => /ERROR|mismatch/.test(l)) }).toEqual({ code: 0, errors: [] });
    expect(r.stderr).toContain(`counts match per-db/${SHOP_DB}/${copy}.manifest.json: 1 databases, 5 tables, 307 rows, 0 large objects`);
    expect(await shopState(target)).toBe(await shopState(source));
  });

  it('a manifest that does not describe its copy fails the restore before anything is changed', async () => {
    const [copy] = seriesIn(path.join(backupDir, 'per-db', SHOP_DB), 'dump_', '.dump.zst').slice(-1);
    const rel = `per-db/${SHOP_DB}/${copy}`;
    const target = await freshTarget();
    for (const [fields, why] of [
      [{ service: 'pg-src', engine: 'postgres', kind: 'per-database', databases: {}, bytes: 1 }, 'does not describe'],
      [{ service: 'pg-src', engine: 'mysql', kind: 'per-database', databases: {} }, 'does not describe'],
      [{ service: 'pg-src', engine: 'postgres', kind: 'full', databases: {} }, 'does not describe'],
    ] as const) {
      const dir = withManifest(rel, fields as Parameters<typeof copyWithManifest>[2]);
      const r = await restore(target, 'per-database', 'pg-manifest-bad', { BACKUP_DIR: dir, RESTORE_DATABASE: SHOP_DB });
      expect({ code: r.code, said: r.stderr.includes(`${rel}.manifest.json ${why} ${rel}`) }).toEqual({ code: 1, said: true });
    }
    expect(await q(target, `select count(*) from pg_database where datname = '${SHOP_DB}'`)).toBe('0');
  });
});

