import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Postgres, Pushgateway, freePort, run, runOk, startPostgres, startPushgateway, waitUntil } from '../support/servers';
import {
  ScriptResult,
  allFiles,
  backupEnv,
  backupTimestamp,
  isAlive,
  makeBackupDir,
  processCommandLines,
  processTree,
  runScript,
  seriesIn,
  startScript,
} from '../support/run-script';

// Distinctive, so that any appearance in logs or argv is unambiguous.
const SUPER_PW = 'Sup3r-pg-S3cret-7f1d';
const READER_PW = 'R3ader-pg-S3cret-c42e';
const UNICODE = 'Grüße ✓ 日本語 🎉';

let pg: Postgres;
let pgw: Pushgateway;
const dirs: string[] = [];

function newDir(label: string): string {
  const d = makeBackupDir(label);
  dirs.push(d);
  return d;
}

function env(service: string, kind: 'full' | 'per-database', dir: string, over: Record<string, string> = {}) {
  return {
    ...backupEnv({ service, engine: 'postgres', kind, dir, pushgatewayUrl: pgw.url }),
    ...pg.env,
    ...over,
  };
}

/** The reader role: what a least-privilege backup user looks like (pg_read_all_data, PG 14+). */
function readerEnv(): Record<string, string> {
  return { PGUSER: 'backup_reader', PGPASSWORD: READER_PW };
}

function expectNoSecrets(r: ScriptResult): void {
  for (const secret of [SUPER_PW, READER_PW]) {
    expect(r.stdout).not.toContain(secret);
    expect(r.stderr).not.toContain(secret);
  }
}

function zstdText(file: string): Promise<string> {
  return runOk('zstd', ['-dcq', file]);
}

/** `pg_restore --list` of the decompressed dump, run independently of the script's own check. */
async function restoreList(file: string): Promise<string> {
  // Through a buffer, not a shell pipe: pg_restore --list stops reading after the table of
  // contents, and zstd would then die of SIGPIPE on a larger dump.
  const r = await run('pg_restore', ['--list'], { input: execFileSync('zstd', ['-dcq', '--', file]) });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

function processesMentioning(needle: string): string[] {
  return processCommandLines().filter((c) => c.includes(needle));
}

beforeAll(async () => {
  [pg, pgw] = await Promise.all([startPostgres({ password: SUPER_PW }), startPushgateway()]);
  await pg.psql(`
    CREATE ROLE backup_reader LOGIN PASSWORD '${READER_PW}' IN ROLE pg_read_all_data;
    CREATE DATABASE shop;
    CREATE DATABASE notes;
  `);
  await pg.psql(
    `CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2), blob bytea);
     INSERT INTO items VALUES
       (1, '${UNICODE}', 12.50, '\\x00ff10deadbeef'),
       (2, 'plain', 0.99, NULL),
       (3, E'quote '' and tab\\t', 1000.00, decode(repeat('ab', 500), 'hex'));`,
    { db: 'shop' },
  );
  await pg.psql(
    `CREATE TABLE notes (id serial PRIMARY KEY, body text);
     INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, 200) g;`,
    { db: 'notes' },
  );
});

afterAll(async () => {
  await Promise.all([pg?.stop(), pgw?.stop()]);
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('postgres-backup.sh full', () => {
  it('writes one verified pg_dumpall file and pushes a success', async () => {
    const dir = newDir('pg-full');
    const before = Math.floor(Date.now() / 1000);
    const r = await runScript('postgres-backup.sh', ['full'], { env: env('pg-full', 'full', dir) });
    const after = Math.ceil(Date.now() / 1000);
    expect(r.stderr).toContain('finished successfully');
    expect(r.code).toBe(0);
    expectNoSecrets(r);
    expect(r.tmpLeftovers).toEqual([]);

    const [dump] = seriesIn(dir, 'dump_', '.sql.zst');
    expect(dump).toBeDefined();
    // Only the lock file besides the dump: no temp file, nothing else.
    expect(allFiles(dir)).toEqual(['.lock-full', dump, `${dump}.manifest.json`]);
    const ts = dump.slice('dump_'.length, -'.sql.zst'.length);
    expect(ts >= backupTimestamp(new Date(before * 1000)) && ts <= backupTimestamp(new Date(after * 1000))).toBe(true);

    const sql = await zstdText(path.join(dir, dump));
    expect(sql).toContain('CREATE DATABASE shop');
    expect(sql).toContain('CREATE DATABASE notes');
    expect(sql).toContain(UNICODE);
    expect(sql.trimEnd().split('\n').slice(-3).join('\n')).toContain('-- PostgreSQL database cluster dump complete');

    const g = await pgw.group('pg-full', 'full');
    for (const name of [
      'backup_last_attempt_timestamp_seconds',
      'backup_last_run_success',
      'backup_last_duration_seconds',
      'backup_last_size_bytes',
      'backup_last_success_timestamp_seconds',
    ]) {
      expect(g.get(name)?.labels).toMatchObject({ job: 'backup', service: 'pg-full', kind: 'full', engine: 'postgres', runner: 'cronjob' });
    }
    expect(g.get('backup_last_run_success')?.value).toBe(1);
    expect(g.get('backup_last_size_bytes')?.value).toBe(fs.statSync(path.join(dir, dump)).size);
    expect(g.get('backup_last_success_timestamp_seconds')?.value).toBeGreaterThanOrEqual(before);
    expect(g.get('backup_last_success_timestamp_seconds')?.value).toBeLessThanOrEqual(after);
    expect(g.get('backup_last_attempt_timestamp_seconds')?.value).toBeGreaterThanOrEqual(before);
    expect(g.get('backup_last_duration_seconds')?.value).toBeGreaterThanOrEqual(0);
    expect(g.get('backup_last_duration_seconds')?.value).toBeLessThan(after - before + 1);
  });

  it('fails without a success timestamp or a visible file when the server is down, and keeps old copies', async () => {
    const dir = newDir('pg-down');
    // Old copies that retention would delete (keep 1, nothing is "recent") if it ran after a failure.
    const old = ['dump_20200101T000000Z.sql.zst', 'dump_20200102T000000Z.sql.zst', 'dump_20200103T000000Z.sql.zst'];
    for (const f of old) fs.writeFileSync(path.join(dir, f), 'old copy');
    const deadPort = await freePort();
    const e = {
      ...env('pg-down', 'full', dir, { PGPORT: String(deadPort) }),
      BACKUP_KEEP_LAST: '1',
      BACKUP_KEEP_WITHIN_SECONDS: '0',
    };
    const r = await runScript('postgres-backup.sh', ['full'], { env: e });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('pg_dumpall failed');
    expectNoSecrets(r);
    expect(r.tmpLeftovers).toEqual([]);
    expect(allFiles(dir)).toEqual(['.lock-full', ...old]);

    const g = await pgw.group('pg-down', 'full');
    expect(g.get('backup_last_run_success')?.value).toBe(0);
    expect(g.get('backup_last_size_bytes')?.value).toBe(0);
    expect(g.get('backup_last_attempt_timestamp_seconds')).toBeDefined();
    expect(g.has('backup_last_success_timestamp_seconds')).toBe(false);

    // The same directory once the server is back: now retention runs and leaves only the new copy.
    const ok = await runScript('postgres-backup.sh', ['full'], { env: { ...e, PGPORT: String(pg.port) } });
    expect(ok.code).toBe(0);
    const series = seriesIn(dir, 'dump_', '.sql.zst');
    expect(series).toHaveLength(1);
    expect(old).not.toContain(series[0]);
    const g2 = await pgw.group('pg-down', 'full');
    expect(g2.get('backup_last_run_success')?.value).toBe(1);
    expect(g2.has('backup_last_success_timestamp_seconds')).toBe(true);
  });

  it('rejects a copy far smaller than the previous one, keeping it as .rejected', async () => {
    const dir = newDir('pg-shrink');
    const previous = 'dump_20200101T000000Z.sql.zst';
    const big = Buffer.alloc(4 * 1024 * 1024, 7);
    fs.writeFileSync(path.join(dir, previous), big);
    const e = { ...env('pg-shrink', 'full', dir), BACKUP_KEEP_LAST: '1', BACKUP_KEEP_WITHIN_SECONDS: '0' };
    const r = await runScript('postgres-backup.sh', ['full'], { env: e });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/\.rejected/);

    expect(seriesIn(dir, 'dump_', '.sql.zst')).toEqual([previous]);
    expect(fs.readFileSync(path.join(dir, previous)).equals(big)).toBe(true);
    const rejected = allFiles(dir).filter((f) => f.endsWith('.sql.zst.rejected'));
    expect(rejected).toHaveLength(1);
    // The rejected copy is complete: an operator can accept it by renaming it.
    expect(await zstdText(path.join(dir, rejected[0]))).toContain('-- PostgreSQL database cluster dump complete');

    const g = await pgw.group('pg-shrink', 'full');
    expect(g.get('backup_last_run_success')?.value).toBe(0);
    expect(g.has('backup_last_success_timestamp_seconds')).toBe(false);
  });

  it('refuses a BACKUP_KIND that does not match the mode argument', async () => {
    const dir = newDir('pg-kind');
    const r = await runScript('postgres-backup.sh', ['full'], { env: env('pg-kind', 'per-database', dir) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("BACKUP_KIND 'per-database' is not one of: full");
    expect(seriesIn(dir, 'dump_', '.sql.zst')).toEqual([]);
  });
});

describe('postgres-backup.sh per-database', () => {
  it('dumps every connectable database as a least-privilege user, restorable with pg_restore', async () => {
    const dir = newDir('pg-perdb');
    const r = await runScript('postgres-backup.sh', ['per-database'], {
      env: env('pg-perdb', 'per-database', dir, readerEnv()),
    });
    expect(r.stderr).toContain('finished successfully');
    expect(r.code).toBe(0);
    expectNoSecrets(r);
    expect(r.tmpLeftovers).toEqual([]);

    // Templates are skipped; the maintenance database "postgres" allows connections and is kept.
    expect(fs.readdirSync(path.join(dir, 'per-db')).sort()).toEqual(['notes', 'postgres', 'shop']);
    let total = 0;
    for (const db of ['notes', 'postgres', 'shop']) {
      const files = allFiles(path.join(dir, 'per-db', db));
      expect(files).toHaveLength(2);
      expect(files[0]).toMatch(/^dump_\d{8}T\d{6}Z\.dump\.zst$/);
      expect(files[1]).toBe(`${files[0]}.manifest.json`);
      total += fs.statSync(path.join(dir, 'per-db', db, files[0])).size;
    }
    const shopDump = path.join(dir, 'per-db', 'shop', seriesIn(path.join(dir, 'per-db', 'shop'), 'dump_', '.dump.zst')[0]);
    expect(await restoreList(shopDump)).toMatch(/TABLE DATA public items/);

    const g = await pgw.group('pg-perdb', 'per-database');
    expect(g.get('backup_last_run_success')?.value).toBe(1);
    expect(g.get('backup_last_size_bytes')?.value).toBe(total);
    expect(g.get('backup_last_success_timestamp_seconds')?.labels).toMatchObject({ engine: 'postgres', runner: 'cronjob' });

    // Restore into a fresh database: same rows, byte for byte (unicode text, bytea, numeric).
    await pg.psql('CREATE DATABASE shop_restored;');
    const restore = await run('bash', [
      '-c',
      'set -o pipefail; zstd -dcq -- "$1" | pg_restore -w --no-owner --exit-on-error -d shop_restored',
      'bash',
      shopDump,
    ], { env: { ...process.env, ...pg.env } });
    expect(restore.stderr).toBe('');
    expect(restore.code).toBe(0);
    const q = "SELECT id, name, price, encode(blob, 'hex') FROM items ORDER BY id;";
    const original = await pg.psql(q, { db: 'shop' });
    expect(original).toContain(UNICODE);
    expect(await pg.psql(q, { db: 'shop_restored' })).toBe(original);
  });

  it('fails when one database refuses the connection, keeping the other dumps', async () => {
    const dir = newDir('pg-revoked');
    await pg.psql('CREATE DATABASE locked; REVOKE CONNECT ON DATABASE locked FROM PUBLIC;');
    try {
      const r = await runScript('postgres-backup.sh', ['per-database'], {
        env: env('pg-revoked', 'per-database', dir, readerEnv()),
      });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/failed databases: locked\b/);
      expectNoSecrets(r);
      expect(r.tmpLeftovers).toEqual([]);
      for (const db of ['notes', 'postgres', 'shop']) {
        const [dump] = seriesIn(path.join(dir, 'per-db', db), 'dump_', '.dump.zst');
        expect(dump).toBeDefined();
        await restoreList(path.join(dir, 'per-db', db, dump));
      }
      // Nothing at all for the failed database: no dump, no temp file.
      expect(allFiles(path.join(dir, 'per-db', 'locked'))).toEqual([]);
      expect(allFiles(dir).filter((f) => f.includes('.tmp.'))).toEqual([]);

      const g = await pgw.group('pg-revoked', 'per-database');
      expect(g.get('backup_last_run_success')?.value).toBe(0);
      expect(g.has('backup_last_success_timestamp_seconds')).toBe(false);
    } finally {
      await pg.psql('DROP DATABASE locked;');
    }
  });

  it('dumps databases named with a space, a quote, "=" and non-ASCII, each restorable', async () => {
    const names = ['café', 'naïve db', 'a=b', "it's"];
    const ident = (n: string) => '"' + n.replace(/"/g, '""') + '"';
    const lit = (n: string) => "'" + n.replace(/'/g, "''") + "'";
    for (const n of names) {
      await pg.psql(`CREATE DATABASE ${ident(n)};`);
      await pg.psql(`CREATE TABLE t (v text); INSERT INTO t VALUES (${lit(`row of ${n}`)});`, { db: n });
    }
    try {
      const dir = newDir('pg-names');
      const r = await runScript('postgres-backup.sh', ['per-database'], { env: env('pg-names', 'per-database', dir) });
      expect(r.stderr).toContain('finished successfully');
      expect(r.code).toBe(0);
      expect(fs.readdirSync(path.join(dir, 'per-db'))).toEqual(expect.arrayContaining([...names, 'notes', 'postgres', 'shop']));
      for (const n of names) {
        const [dump] = seriesIn(path.join(dir, 'per-db', n), 'dump_', '.dump.zst');
        expect({ n, dump: typeof dump }).toEqual({ n, dump: 'string' });
        await pg.psql('DROP DATABASE IF EXISTS restored; CREATE DATABASE restored;');
        const restore = await run(
          'bash',
          ['-c', 'set -o pipefail; zstd -dcq -- "$1" | pg_restore -w --no-owner --exit-on-error -d restored', 'bash', path.join(dir, 'per-db', n, dump)],
          { env: { ...process.env, ...pg.env } },
        );
        expect({ n, stderr: restore.stderr, code: restore.code }).toEqual({ n, stderr: '', code: 0 });
        expect(await pg.psql('SELECT v FROM t;', { db: 'restored' })).toBe(`row of ${n}\n`);
      }
    } finally {
      await pg.psql(`${names.map((n) => `DROP DATABASE IF EXISTS ${ident(n)};`).join('\n')}\nDROP DATABASE IF EXISTS restored;`);
    }
  });

  it('fails for a listed database that does not exist, after dumping the others', async () => {
    const dir = newDir('pg-missingdb');
    const r = await runScript('postgres-backup.sh', ['per-database'], {
      env: env('pg-missingdb', 'per-database', dir, { BACKUP_DATABASES: 'shop no_such_db notes' }),
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/failed databases: no_such_db\b/);
    expectNoSecrets(r);
    expect(seriesIn(path.join(dir, 'per-db', 'shop'), 'dump_', '.dump.zst')).toHaveLength(1);
    expect(seriesIn(path.join(dir, 'per-db', 'notes'), 'dump_', '.dump.zst')).toHaveLength(1);
    expect(allFiles(path.join(dir, 'per-db', 'no_such_db'))).toEqual([]);
    // Only the listed databases, not every database.
    expect(fs.existsSync(path.join(dir, 'per-db', 'postgres'))).toBe(false);
  });
});

describe('postgres-backup.sh and databases that do not allow connections', () => {
  // pg_dumpall and pg_dump skip them without a word; the job must not call such a backup complete.
  beforeAll(async () => {
    await pg.psql('CREATE DATABASE frozen; CREATE DATABASE "cold ""one"""; CREATE DATABASE spare;');
    await pg.psql('ALTER DATABASE frozen ALLOW_CONNECTIONS false; ALTER DATABASE "cold ""one""" ALLOW_CONNECTIONS false;');
  });
  afterAll(async () => {
    await pg.psql('DROP DATABASE frozen; DROP DATABASE "cold ""one"""; DROP DATABASE spare;');
  });

  for (const kind of ['full', 'per-database'] as const) {
    it(`${kind}: names each one and fails, after publishing the copies of the others, without retention`, async () => {
      const dir = newDir(`pg-noconn-${kind}`);
      const old = kind === 'full' ? dir : path.join(dir, 'per-db', 'shop');
      const suffix = kind === 'full' ? '.sql.zst' : '.dump.zst';
      // An old copy that retention (keepLast 1, keepWithin 0) would delete after a successful run.
      fs.mkdirSync(old, { recursive: true });
      const oldName = `dump_20200101T000000Z${suffix}`;
      fs.copyFileSync('/dev/null', path.join(old, oldName));
      const r = await runScript('postgres-backup.sh', [kind], {
        env: env(`pg-noconn-${kind}`, kind, dir, { BACKUP_KEEP_LAST: '1', BACKUP_KEEP_WITHIN_SECONDS: '0', BACKUP_MIN_SIZE_RATIO: '0' }),
      });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/database 'frozen' does not allow connections \(datallowconn = false\)/);
      expect(r.stderr).toMatch(/database 'cold "one"' does not allow connections/);
      expect(r.stderr).not.toContain('finished successfully');
      const series = seriesIn(old, 'dump_', suffix);
      expect(series).toHaveLength(2);
      expect(series[0]).toBe(oldName);
      const g = await pgw.group(`pg-noconn-${kind}`, kind);
      expect(g.get('backup_last_run_success')?.value).toBe(0);
      expect(g.has('backup_last_success_timestamp_seconds')).toBe(false);
    });

    it(`${kind}: succeeds when the policy excludes them, and leaves excluded databases out`, async () => {
      const dir = newDir(`pg-excluded-${kind}`);
      const r = await runScript('postgres-backup.sh', [kind], {
        env: env(`pg-excluded-${kind}`, kind, dir, { BACKUP_EXCLUDE_DATABASES: 'frozen\ncold "one"\nspare\n' }),
      });
      expect(r.stderr).toContain('finished successfully');
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/database 'frozen' does not allow connections and is excluded by the policy/);
      if (kind === 'full') {
        const [dump] = seriesIn(dir, 'dump_', '.sql.zst');
        const sql = await zstdText(path.join(dir, dump));
        expect(sql).toContain('CREATE DATABASE shop');
        expect(sql).not.toMatch(/CREATE DATABASE spare/);
      } else {
        const dumped = fs.readdirSync(path.join(dir, 'per-db'));
        expect(dumped).toEqual(expect.arrayContaining(['notes', 'postgres', 'shop']));
        expect(dumped.filter((d) => ['frozen', 'cold "one"', 'spare'].includes(d))).toEqual([]);
      }
    });
  }

  it('per-database with an explicit list: only the listed databases matter', async () => {
    const dir = newDir('pg-noconn-listed');
    const r = await runScript('postgres-backup.sh', ['per-database'], { env: env('pg-noconn-listed', 'per-database', dir, { BACKUP_DATABASES: 'shop notes' }) });
    expect(r.stderr).toContain('finished successfully');
    expect(r.stderr).not.toContain('does not allow connections');
  });
});

describe('postgres-backup.sh per-database and databases dropped since an earlier run', () => {
  /** per-db/<name>/dump_<ts>.dump.zst copies as an earlier run left them. */
  function seed(dir: string, copies: Record<string, Date[]>): void {
    for (const [name, dates] of Object.entries(copies)) {
      fs.mkdirSync(path.join(dir, 'per-db', name), { recursive: true });
      for (const d of dates) fs.writeFileSync(path.join(dir, 'per-db', name, `dump_${backupTimestamp(d)}.dump.zst`), 'an earlier copy');
    }
  }
  const DAY = 86400 * 1000;
  const longAgo = [new Date(Date.now() - 40 * DAY), new Date(Date.now() - 30 * DAY)];
  const recently = [new Date(Date.now() - 3600 * 1000)];

  it('logs each one and pushes their count, and keeps their copies when no keep time is set', async () => {
    const dir = newDir('pg-dropped-keep');
    seed(dir, { gone: longAgo, 'gone too': recently, shop: longAgo });
    const r = await runScript('postgres-backup.sh', ['per-database'], { env: env('pg-dropped-keep', 'per-database', dir, { BACKUP_MIN_SIZE_RATIO: '0' }) });
    expect(r.stderr).toContain('finished successfully');
    expect(r.stderr).toMatch(/database 'gone' no longer exists; its newest copy is per-db\/gone\/dump_\S+/);
    expect(r.stderr).toMatch(/database 'gone too' no longer exists/);
    expect(r.stderr).not.toMatch(/database '(shop|notes|postgres)' no longer exists/);
    expect(seriesIn(path.join(dir, 'per-db', 'gone'), 'dump_', '.dump.zst')).toHaveLength(2);
    expect(seriesIn(path.join(dir, 'per-db', 'gone too'), 'dump_', '.dump.zst')).toHaveLength(1);
    const g = await pgw.group('pg-dropped-keep', 'per-database');
    expect(g.get('backup_dropped_databases')?.value).toBe(2);
    expect(g.get('backup_dropped_databases')?.labels).toMatchObject({ engine: 'postgres', runner: 'cronjob' });
  });

  it('prunes their copies once the newest is older than BACKUP_DROPPED_KEEP_SECONDS, never those of a database that exists', async () => {
    const dir = newDir('pg-dropped-prune');
    seed(dir, { gone: longAgo, 'gone too': recently, shop: longAgo });
    const r = await runScript('postgres-backup.sh', ['per-database'], {
      env: env('pg-dropped-prune', 'per-database', dir, { BACKUP_DROPPED_KEEP_SECONDS: String(7 * 86400), BACKUP_KEEP_LAST: '1', BACKUP_KEEP_WITHIN_SECONDS: String(365 * 86400), BACKUP_MIN_SIZE_RATIO: '0' }),
    });
    expect(r.stderr).toContain('finished successfully');
    expect(r.stderr).toMatch(/database 'gone' was dropped: deleted its 2 copies/);
    expect(fs.existsSync(path.join(dir, 'per-db', 'gone'))).toBe(false);
    expect(seriesIn(path.join(dir, 'per-db', 'gone too'), 'dump_', '.dump.zst')).toHaveLength(1);
    // shop exists: its old copies are retention's business (keepWithin a year keeps them), not this rule's.
    expect(seriesIn(path.join(dir, 'per-db', 'shop'), 'dump_', '.dump.zst')).toHaveLength(3);
    const g = await pgw.group('pg-dropped-prune', 'per-database');
    expect(g.get('backup_dropped_databases')?.value).toBe(2);
  });

  it('prunes nothing after a failed run, and an explicit database list never marks the others dropped', async () => {
    const dir = newDir('pg-dropped-failed');
    seed(dir, { gone: longAgo });
    const failed = await runScript('postgres-backup.sh', ['per-database'], {
      env: env('pg-dropped-failed', 'per-database', dir, { BACKUP_DROPPED_KEEP_SECONDS: '60', BACKUP_DATABASES: 'shop no_such_db' }),
    });
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).not.toContain('no longer exists');
    const bad = await runScript('postgres-backup.sh', ['per-database'], {
      env: env('pg-dropped-failed', 'per-database', dir, { BACKUP_DROPPED_KEEP_SECONDS: '60', PGPASSWORD: 'wrong' }),
    });
    expect(bad.code).not.toBe(0);
    expect(seriesIn(path.join(dir, 'per-db', 'gone'), 'dump_', '.dump.zst')).toHaveLength(2);
  });

  it('refuses a BACKUP_DROPPED_KEEP_SECONDS that is not a number', async () => {
    const dir = newDir('pg-dropped-bad');
    const r = await runScript('postgres-backup.sh', ['per-database'], { env: env('pg-dropped-bad', 'per-database', dir, { BACKUP_DROPPED_KEEP_SECONDS: '7d' }) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('BACKUP_DROPPED_KEEP_SECONDS must be an integer');
  });
});

/** Starts a psql session that holds ACCESS EXCLUSIVE on shop.items until `release()`. */
async function lockItems(): Promise<{ release: () => void; kill: () => void }> {
  // pg_dump waits for this lock: the job is then reliably in progress (lock held, temp file open)
  // for as long as the test needs.
  const holder = spawn('psql', ['-X', '-w', '-q', '-At', '-d', 'shop'], {
    env: { ...process.env, ...pg.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  holder.stdout.on('data', (d: Buffer) => (out += d.toString()));
  holder.stdin.write("BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n");
  await waitUntil(() => out.includes('locked'), 10000, 'table lock');
  return { release: () => holder.stdin.end('COMMIT;\n'), kill: () => holder.kill('SIGKILL') };
}

async function waitForBlockedDump(): Promise<void> {
  await waitUntil(
    async () => (await pg.psql("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'items'::regclass;", { db: 'shop' })).trim() !== '0',
    20000,
    'pg_dump waiting for the table lock',
  );
}

describe('postgres-backup.sh locking, signals and secrets while running', () => {
  it('refuses a second run while the first holds the lock, and the first still succeeds', async () => {
    const dir = newDir('pg-lock');
    const lock = await lockItems();
    try {
      const first = startScript('postgres-backup.sh', ['per-database'], {
        env: env('pg-lock', 'per-database', dir, readerEnv()),
      });
      await waitForBlockedDump();
      // pg_dump is running now: neither password may be in any process's argument list.
      expect(processesMentioning(READER_PW)).toEqual([]);
      expect(processesMentioning(SUPER_PW)).toEqual([]);

      const tempsBefore = allFiles(dir).filter((f) => f.includes('.tmp.'));
      expect(tempsBefore.length).toBeGreaterThan(0);

      const second = await runScript('postgres-backup.sh', ['per-database'], {
        env: env('pg-lock', 'per-database', dir, readerEnv()),
      });
      expect(second.code).not.toBe(0);
      expect(second.stderr).toContain('another per-database run holds');
      // The second run removed nothing of the first's work in progress.
      expect(allFiles(dir).filter((f) => f.includes('.tmp.'))).toEqual(tempsBefore);

      lock.release();
      const r = await first.result;
      expect(r.stderr).toContain('finished successfully');
      expect(r.code).toBe(0);
      for (const db of ['notes', 'postgres', 'shop']) {
        const [dump] = seriesIn(path.join(dir, 'per-db', db), 'dump_', '.dump.zst');
        await restoreList(path.join(dir, 'per-db', db, dump));
      }
      expect(allFiles(dir).filter((f) => f.includes('.tmp.'))).toEqual([]);
      // The first run's push came last: the group shows its success.
      const g = await pgw.group('pg-lock', 'per-database');
      expect(g.get('backup_last_run_success')?.value).toBe(1);
    } finally {
      lock.kill();
    }
  });

  it('removes the work files of a run killed with SIGKILL at the start of the next run, under the lock, and says so', async () => {
    const dir = newDir('pg-killed');
    const lock = await lockItems();
    let left: string[] = [];
    try {
      const job = startScript('postgres-backup.sh', ['per-database'], { env: env('pg-killed', 'per-database', dir, { BACKUP_DATABASES: 'notes shop' }) });
      await waitForBlockedDump();
      // SIGKILL to the whole process group: no trap runs, as when a node is lost.
      const tree = processTree(job.child.pid!);
      process.kill(-job.child.pid!, 'SIGKILL');
      await job.result;
      await waitUntil(() => tree.every((pid) => !isAlive(pid)), 5000, 'killed job gone');
      left = allFiles(dir).filter((f) => f.includes('.tmp.'));
      expect(left).toEqual([expect.stringMatching(/^per-db\/shop\/\.tmp\.per-database\.dump_\S+\.dump\.zst\.\w+$/)]);
    } finally {
      lock.kill();
    }
    // A full run shares the volume but not the lock: it must leave the per-database run's work alone.
    fs.writeFileSync(path.join(dir, '.tmp.full.dump_20200101T000000Z.sql.zst.AbC123'), 'a killed full run');
    fs.mkdirSync(path.join(dir, 'per-db', 'notes', '.tmp.per-database.scratch.Xy1234'), { recursive: true });
    const r = await runScript('postgres-backup.sh', ['per-database'], { env: env('pg-killed', 'per-database', dir, { BACKUP_DATABASES: 'notes shop' }) });
    expect(r.stderr).toContain('finished successfully');
    expect(r.stderr).toContain(`removed ${left[0]}, work left by an earlier per-database run that was killed`);
    expect(r.stderr).toMatch(/removed per-db\/notes\/\.tmp\.per-database\.scratch\.Xy1234, work left/);
    expect(allFiles(dir).filter((f) => f.includes('.tmp.'))).toEqual(['.tmp.full.dump_20200101T000000Z.sql.zst.AbC123']);
    expect((await pgw.group('pg-killed', 'per-database')).get('backup_stale_work_removed')?.value).toBe(2);
    // The next run, right after (in the same second, quite likely), finds nothing and says 0.
    await runScript('postgres-backup.sh', ['per-database'], { env: env('pg-killed', 'per-database', dir, { BACKUP_DATABASES: 'notes shop' }) });
    expect((await pgw.group('pg-killed', 'per-database')).get('backup_stale_work_removed')?.value).toBe(0);
  });

  it('on SIGTERM to the script alone (how Kubernetes stops a Job) stops the dump, cleans up and reports', async () => {
    const dir = newDir('pg-term');
    const lock = await lockItems();
    try {
      const job = startScript('postgres-backup.sh', ['full'], { env: env('pg-term', 'full', dir) });
      await waitForBlockedDump();
      const tree = processTree(job.child.pid!);
      expect(tree.length).toBeGreaterThan(2);
      expect(allFiles(dir).some((f) => f.startsWith('.tmp.full.dump_'))).toBe(true);

      const sent = Date.now();
      process.kill(job.child.pid!, 'SIGTERM');
      const r = await job.result;
      expect(Date.now() - sent).toBeLessThan(5000);
      expect(r.code).toBe(143);
      expect(r.stderr).toContain('FAILED with exit status 143');
      expect(allFiles(dir)).toEqual(['.lock-full']);
      // No pg_dumpall/pg_dump left behind writing to a deleted file.
      await waitUntil(() => tree.every((pid) => !isAlive(pid)), 5000, 'job processes gone');

      const g = await pgw.group('pg-term', 'full');
      expect(g.get('backup_last_run_success')?.value).toBe(0);
      expect(g.has('backup_last_success_timestamp_seconds')).toBe(false);
    } finally {
      lock.kill();
    }
  });

});
