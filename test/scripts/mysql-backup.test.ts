import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Mariadb, Pushgateway, mysqlString, run, runOk, startMariadb, startPushgateway, waitUntil } from '../support/servers';
import {
  ScriptResult,
  allFiles,
  backupEnv,
  makeBackupDir,
  processCommandLines,
  runScript,
  seriesIn,
  startScript,
} from '../support/run-script';

// Every character the option-file syntax treats specially: quotes, backslash, '#', spaces.
const PASSWORD = `My-"pa ss'\\word#;x-9b2e`;
const UNICODE = 'Grüße ✓ 日本語 🎉';

let my: Mariadb;
let pgw: Pushgateway;
const dirs: string[] = [];

function newDir(label: string): string {
  const d = makeBackupDir(label);
  dirs.push(d);
  return d;
}

function env(service: string, kind: 'full' | 'per-database', dir: string, over: Record<string, string> = {}) {
  return { ...backupEnv({ service, engine: 'mysql', kind, dir, pushgatewayUrl: pgw.url }), ...my.env, ...over };
}

function expectClean(r: ScriptResult): void {
  expect(r.stdout).not.toContain(PASSWORD);
  expect(r.stderr).not.toContain(PASSWORD);
  // The 0600 defaults file holding the password is gone with the run.
  expect(r.tmpLeftovers).toEqual([]);
}

const decompress = (file: string) => runOk('zstd', ['-dcq', file]);

const ROWS_QUERY = 'SELECT id, name, HEX(data) FROM items ORDER BY id;';

beforeAll(async () => {
  [my, pgw] = await Promise.all([startMariadb({ password: PASSWORD }), startPushgateway()]);
  await my.sql(`
    CREATE DATABASE shop CHARACTER SET utf8mb4;
    CREATE DATABASE notes CHARACTER SET utf8mb4;
    CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, data VARBINARY(64)) ENGINE=InnoDB;
    INSERT INTO shop.items VALUES (1, '${UNICODE}', 0x00FF10DEADBEEF), (2, 'plain', NULL);
    CREATE TABLE notes.notes (id INT AUTO_INCREMENT PRIMARY KEY, body TEXT) ENGINE=InnoDB;
    INSERT INTO notes.notes (body) VALUES ('one'), ('two'), ('three');
  `);
  // Unqualified, as applications create them: the dump then restores into any database name.
  await my.sql('CREATE TRIGGER items_trim BEFORE INSERT ON items FOR EACH ROW SET NEW.name = TRIM(NEW.name);', { db: 'shop' });
});

afterAll(async () => {
  await Promise.all([my?.stop(), pgw?.stop()]);
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('mysql-backup.sh', () => {
  it('full: dumps all databases through a defaults file and pushes a success', async () => {
    const dir = newDir('my-full');
    const r = await runScript('mysql-backup.sh', ['full'], { env: env('my-full', 'full', dir) });
    expect(r.stderr).toContain('finished successfully');
    expect(r.code).toBe(0);
    expectClean(r);
    const [dump] = seriesIn(dir, 'dump_', '.sql.zst');
    expect(allFiles(dir)).toEqual(['.lock-full', dump, `${dump}.manifest.json`]);
    const sql = await decompress(path.join(dir, dump));
    expect(sql).toContain('CREATE DATABASE /*!32312 IF NOT EXISTS*/ `shop`');
    expect(sql).toContain(UNICODE);
    expect(sql).toContain('0x00FF10DEADBEEF');
    expect(sql).toContain('items_trim');
    expect(sql.trimEnd().split('\n').pop()).toMatch(/^-- Dump completed/);

    const g = await pgw.group('my-full', 'full');
    expect(g.get('backup_last_run_success')?.value).toBe(1);
    expect(g.get('backup_last_size_bytes')?.value).toBe(fs.statSync(path.join(dir, dump)).size);
    expect(g.get('backup_last_success_timestamp_seconds')?.labels).toMatchObject({ engine: 'mysql', runner: 'cronjob' });
  });

  it('per-database: one restorable dump per user database, system schemas skipped', async () => {
    const dir = newDir('my-perdb');
    const r = await runScript('mysql-backup.sh', ['per-database'], { env: env('my-perdb', 'per-database', dir) });
    expect(r.stderr).toContain('finished successfully');
    expect(r.code).toBe(0);
    expectClean(r);
    expect(fs.readdirSync(path.join(dir, 'per-db')).sort()).toEqual(['mysql', 'notes', 'shop']);

    const shopDir = path.join(dir, 'per-db', 'shop');
    const [dump] = seriesIn(shopDir, 'dump_', '.sql.zst');
    expect(dump).toBeDefined();
    // Restores into a database of another name: the dump carries no CREATE DATABASE / USE.
    await my.sql('CREATE DATABASE shop_restored CHARACTER SET utf8mb4;');
    const restore = await run('bash', [
      '-c',
      'set -o pipefail; zstd -dcq -- "$1" | mariadb --no-defaults -S "$2" -uroot --default-character-set=utf8mb4 shop_restored',
      'bash',
      path.join(shopDir, dump),
      my.socket,
    ]);
    expect(restore.stderr).toBe('');
    expect(restore.code).toBe(0);
    const original = await my.sql(ROWS_QUERY, { db: 'shop' });
    expect(original).toContain(UNICODE);
    expect(await my.sql(ROWS_QUERY, { db: 'shop_restored' })).toBe(original);
    expect(await my.sql("SHOW TRIGGERS WHERE `Trigger` = 'items_trim';", { db: 'shop_restored' })).toContain('items_trim');
    await my.sql('DROP DATABASE shop_restored;');
  });

  it('per-database: a missing database fails the run but the others are kept', async () => {
    const dir = newDir('my-missing');
    const r = await runScript('mysql-backup.sh', ['per-database'], {
      env: env('my-missing', 'per-database', dir, { BACKUP_DATABASES: 'shop nope notes' }),
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/failed databases: nope\b/);
    expectClean(r);
    expect(seriesIn(path.join(dir, 'per-db', 'shop'), 'dump_', '.sql.zst')).toHaveLength(1);
    expect(seriesIn(path.join(dir, 'per-db', 'notes'), 'dump_', '.sql.zst')).toHaveLength(1);
    expect(allFiles(path.join(dir, 'per-db', 'nope'))).toEqual([]);
    const g = await pgw.group('my-missing', 'per-database');
    expect(g.get('backup_last_run_success')?.value).toBe(0);
    expect(g.has('backup_last_success_timestamp_seconds')).toBe(false);
  });

  it('per-database: names with a space, a quote, "=" and non-ASCII are listed, dumped and restorable', async () => {
    const names = ['café', 'naïve db', 'a=b', "it's"];
    const ident = (n: string) => '`' + n.replace(/`/g, '``') + '`';
    for (const n of names) {
      await my.sql(`CREATE DATABASE ${ident(n)} CHARACTER SET utf8mb4; CREATE TABLE ${ident(n)}.t (v VARCHAR(50)); INSERT INTO ${ident(n)}.t VALUES (${mysqlString(`row of ${n}`)});`);
    }
    try {
      const dir = newDir('my-names');
      const r = await runScript('mysql-backup.sh', ['per-database'], { env: env('my-names', 'per-database', dir) });
      expect(r.stderr).toContain('finished successfully');
      expect(r.code).toBe(0);
      expect(fs.readdirSync(path.join(dir, 'per-db')).sort()).toEqual([...names, 'mysql', 'notes', 'shop'].sort());
      for (const n of names) {
        const [dump] = seriesIn(path.join(dir, 'per-db', n), 'dump_', '.sql.zst');
        expect({ n, dump: typeof dump }).toEqual({ n, dump: 'string' });
        await my.sql('DROP DATABASE IF EXISTS restored; CREATE DATABASE restored CHARACTER SET utf8mb4;');
        const restore = await run('bash', [
          '-c',
          'set -o pipefail; zstd -dcq -- "$1" | mariadb --no-defaults -S "$2" -uroot --default-character-set=utf8mb4 restored',
          'bash',
          path.join(dir, 'per-db', n, dump),
          my.socket,
        ]);
        expect({ n, stderr: restore.stderr, code: restore.code }).toEqual({ n, stderr: '', code: 0 });
        expect(await my.sql('SELECT v FROM t;', { db: 'restored' })).toBe(`row of ${n}\n`);
      }
    } finally {
      await my.sql(`${names.map((n) => `DROP DATABASE IF EXISTS ${ident(n)};`).join(' ')} DROP DATABASE IF EXISTS restored;`);
    }
  });

  it('fails with a wrong password, leaving nothing behind', async () => {
    const dir = newDir('my-badpw');
    const r = await runScript('mysql-backup.sh', ['full'], {
      env: env('my-badpw', 'full', dir, { MYSQL_PASSWORD: 'wrong-password' }),
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Access denied');
    expect(r.tmpLeftovers).toEqual([]);
    expect(allFiles(dir)).toEqual(['.lock-full']);
  });

  it('never puts the password on a command line, even while a dump is in progress', async () => {
    const dir = newDir('my-argv');
    // LOCK TABLES ... WRITE holds an exclusive metadata lock: mysqldump waits on it while running.
    const holder = spawn('mariadb', [
      '--no-defaults',
      '-S',
      my.socket,
      '-uroot',
      '--batch',
      '--unbuffered',
      '--skip-column-names',
      'shop',
    ]);
    let holderOut = '';
    holder.stdout.on('data', (d: Buffer) => (holderOut += d.toString()));
    holder.stdin.write("LOCK TABLES items WRITE; SELECT 'locked';\n");
    try {
      await waitUntil(() => holderOut.includes('locked'), 10000);
      const job = startScript('mysql-backup.sh', ['per-database'], {
        env: env('my-argv', 'per-database', dir, { BACKUP_DATABASES: 'shop' }),
      });
      await waitUntil(
        async () => (await my.sql("SELECT COUNT(*) FROM information_schema.processlist WHERE state LIKE 'Waiting for table metadata lock%';")).trim() !== '0',
        20000,
      );
      const cmdlines = processCommandLines();
      // The dump is really running (otherwise this check proves nothing) ...
      expect(cmdlines.some((c) => c.includes('--defaults-extra-file=') && c.includes('--single-transaction'))).toBe(true);
      // ... and no process has the password in its arguments.
      expect(cmdlines.filter((c) => c.includes(PASSWORD) || c.includes('pa ss'))).toEqual([]);
      holder.stdin.end('UNLOCK TABLES;\n');
      const r = await job.result;
      expect(r.code).toBe(0);
      expectClean(r);
    } finally {
      holder.kill('SIGKILL');
    }
  });
});
