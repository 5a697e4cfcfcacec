import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Pushgateway, freePort, run, runOk, startPushgateway } from '../support/servers';
import { allFiles, backupEnv, makeBackupDir, runScript, seriesIn } from '../support/run-script';

let pgw: Pushgateway;
const dirs: string[] = [];

function newDir(label: string): string {
  const d = makeBackupDir(label);
  dirs.push(d);
  return d;
}

function sqliteEnv(
  service: string,
  kind: 'snapshot' | 'integrity',
  dir: string,
  dataDir: string,
  over: Record<string, string> = {},
): Record<string, string> {
  return {
    ...backupEnv({ service, engine: 'sqlite', kind, dir, pushgatewayUrl: pgw.url }),
    SQLITE_DATA_DIR: dataDir,
    SQLITE_DB: 'db.sqlite3',
    SQLITE_EXTRA_PATHS: 'attachments config.json',
    SQLITE_OPTIONAL_EXTRA_PATHS: 'rsa_key.pem sends',
    ...over,
  };
}

const sqlite = (db: string, sql: string) => runOk('sqlite3', ['-bail', db, sql]);

/** A data volume like Vaultwarden's: the database plus files that belong with it. */
async function makeDataDir(label: string): Promise<{ dataDir: string; extras: Record<string, Buffer> }> {
  const dataDir = newDir(`data-${label}`);
  fs.mkdirSync(path.join(dataDir, 'attachments', 'sub'), { recursive: true });
  const extras: Record<string, Buffer> = {
    'attachments/a.bin': crypto.randomBytes(100_000),
    'attachments/sub/b.txt': Buffer.from('second attachment ✓\n'),
    'config.json': Buffer.from('{"domain":"https://vault.example"}\n'),
    'rsa_key.pem': Buffer.from('-----BEGIN PRIVATE KEY-----\nnot a real key\n-----END PRIVATE KEY-----\n'),
  };
  for (const [rel, data] of Object.entries(extras)) fs.writeFileSync(path.join(dataDir, rel), data);
  await sqlite(
    path.join(dataDir, 'db.sqlite3'),
    `PRAGMA journal_mode=WAL;
     CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);
     CREATE INDEX t_v ON t(v);
     WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000)
       INSERT INTO t(v) SELECT printf('seed-%06d', x) FROM c;`,
  );
  return { dataDir, extras };
}

/**
 * A process that keeps one connection open and writes, the way the application does. Checkpoints
 * are off so that committed rows stay in the WAL: the backup must read them from there.
 */
class Writer {
  private readonly proc: ChildProcessWithoutNullStreams;
  private out = '';
  private timer?: NodeJS.Timeout;
  private n = 0;

  constructor(db: string) {
    this.proc = spawn('sqlite3', ['-bail', db]);
    this.proc.stdout.on('data', (d: Buffer) => (this.out += d.toString()));
    this.proc.stdin.write('PRAGMA busy_timeout=10000;\nPRAGMA wal_autocheckpoint=0;\n');
  }

  /** Commits `count` rows tagged `tag` and resolves once they are committed. */
  async commit(tag: string, count: number): Promise<void> {
    for (let i = 0; i < count; i++) this.proc.stdin.write(`INSERT INTO t(v) VALUES ('${tag}-${i}');\n`);
    this.proc.stdin.write(`SELECT 'done-${tag}';\n`);
    const deadline = Date.now() + 10000;
    while (!this.out.includes(`done-${tag}`)) {
      if (Date.now() > deadline || this.proc.exitCode !== null) throw new Error(`writer stalled: ${this.out}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Keeps committing small transactions until stop(). */
  startChurn(): void {
    this.timer = setInterval(() => {
      this.proc.stdin.write(`INSERT INTO t(v) VALUES ('churn-${this.n++}');\n`);
    }, 2);
  }

  /** Dies like a crashed application: no checkpoint, the WAL stays behind. */
  kill(): void {
    if (this.timer) clearInterval(this.timer);
    this.proc.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.stdin.end('.quit\n');
    await exited;
  }
}

beforeAll(async () => {
  pgw = await startPushgateway();
});

afterAll(async () => {
  await pgw?.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('sqlite-backup.sh', () => {
  it('copies a live WAL database under a concurrent writer, plus the extra files byte for byte', async () => {
    const { dataDir, extras } = await makeDataDir('live');
    const dir = newDir('sqlite-live');
    const live = path.join(dataDir, 'db.sqlite3');
    const writer = new Writer(live);
    try {
      await writer.commit('before-backup', 500);
      // The committed rows exist only in the WAL so far; a backup that ignores it would miss them.
      expect(fs.statSync(`${live}-wal`).size).toBeGreaterThan(0);
      expect(await sqlite(`file:${live}?mode=ro&immutable=1`, "SELECT count(*) FROM t WHERE v LIKE 'before-backup-%';")).toBe('0\n');

      writer.startChurn();
      const r = await runScript('sqlite-backup.sh', [], { env: sqliteEnv('vw', 'snapshot', dir, dataDir) });
      expect(r.stderr).toContain('finished successfully');
      expect(r.code).toBe(0);
      expect(r.stderr).toContain("optional extra path 'sends' is absent; skipped");
      expect(r.tmpLeftovers).toEqual([]);
      await writer.commit('after-backup', 1);

      const [db] = seriesIn(dir, 'db_', '.sqlite3');
      const [files] = seriesIn(dir, 'files_', '.tar.zst');
      expect(db).toBeDefined();
      expect(files).toBeDefined();
      expect(db.slice(3, -8)).toBe(files.slice(6, -8));
      expect(allFiles(dir).sort()).toEqual(['.lock-snapshot', db, `${db}.manifest.json`, files, `${files}.manifest.json`].sort());

      const copy = path.join(dir, db);
      expect(await sqlite(`file:${copy}?mode=ro`, 'PRAGMA integrity_check;')).toBe('ok\n');
      expect(await sqlite(`file:${copy}?mode=ro`, "SELECT count(*) FROM t WHERE v LIKE 'before-backup-%';")).toBe('500\n');
      expect(await sqlite(`file:${copy}?mode=ro`, "SELECT count(*) FROM t WHERE v LIKE 'seed-%';")).toBe('2000\n');
      expect(await sqlite(`file:${copy}?mode=ro`, "SELECT count(*) FROM t WHERE v LIKE 'after-backup-%';")).toBe('0\n');
      // The copy is self-contained: no -wal next to it, nothing to replay.
      expect(fs.existsSync(`${copy}-wal`)).toBe(false);

      const out = newDir('sqlite-extract');
      await runOk('bash', ['-c', 'set -o pipefail; zstd -dcq -- "$1" | tar -xf - -C "$2"', 'bash', path.join(dir, files), out]);
      for (const [rel, data] of Object.entries(extras)) {
        expect({ rel, same: fs.readFileSync(path.join(out, rel)).equals(data) }).toEqual({ rel, same: true });
      }
      // Only the configured paths: not the live database (it is copied consistently on its own).
      expect(fs.existsSync(path.join(out, 'db.sqlite3'))).toBe(false);

      const g = await pgw.group('vw', 'snapshot');
      expect(g.get('backup_last_run_success')?.value).toBe(1);
      expect(g.get('backup_last_success_timestamp_seconds')?.labels).toMatchObject({ engine: 'sqlite', runner: 'cronjob' });
      expect(g.get('backup_last_size_bytes')?.value).toBe(fs.statSync(copy).size + fs.statSync(path.join(dir, files)).size);
    } finally {
      await writer.stop();
    }
  });

  it('never writes to the live database, even one left with a WAL by a crashed writer', async () => {
    const { dataDir } = await makeDataDir('crashed');
    const dir = newDir('sqlite-crashed');
    const live = path.join(dataDir, 'db.sqlite3');
    const writer = new Writer(live);
    await writer.commit('in-wal', 100);
    writer.kill();
    // A read-write connection would checkpoint this WAL into the main file when it closes, so
    // both files would change; the read-only one used by the job must leave them as they are.
    const hash = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
    const before = { db: hash(live), wal: hash(`${live}-wal`) };
    expect(fs.statSync(`${live}-wal`).size).toBeGreaterThan(0);

    const r = await runScript('sqlite-backup.sh', [], { env: sqliteEnv('vw-crashed', 'snapshot', dir, dataDir) });
    expect(r.code).toBe(0);
    expect({ db: hash(live), wal: hash(`${live}-wal`) }).toEqual(before);
    const [db] = seriesIn(dir, 'db_', '.sqlite3');
    expect(await sqlite(`file:${path.join(dir, db)}?mode=ro`, "SELECT count(*) FROM t WHERE v LIKE 'in-wal-%';")).toBe('100\n');
  });

  it('refuses a corrupt database, and the integrity job reports it', async () => {
    const { dataDir } = await makeDataDir('corrupt');
    const live = path.join(dataDir, 'db.sqlite3');
    await sqlite(live, 'PRAGMA journal_mode=DELETE;');
    const dir = newDir('sqlite-corrupt');

    // Healthy first, so that the failure below is caused by the corruption alone.
    const healthy = await runScript('sqlite-integrity-check.sh', [], { env: sqliteEnv('vw-corrupt', 'integrity', dir, dataDir) });
    expect(healthy.code).toBe(0);
    let g = await pgw.group('vw-corrupt', 'integrity');
    expect(g.get('backup_integrity_ok')?.value).toBe(1);
    expect(g.get('backup_integrity_ok')?.labels).toMatchObject({ engine: 'sqlite', runner: 'cronjob' });
    expect(g.get('backup_last_run_success')?.value).toBe(1);

    // Eight bytes inside a b-tree page: sqlite3 still opens the file and exits 0 on integrity_check,
    // printing the damage instead of "ok".
    const fd = fs.openSync(live, 'r+');
    fs.writeSync(fd, Buffer.from('XXXXXXXX'), 0, 8, 4096 * 5 + 200);
    fs.closeSync(fd);
    const check = await run('sqlite3', ['-bail', `file:${live}?mode=ro`, 'PRAGMA integrity_check;']);
    expect(check.code).toBe(0);
    expect(check.stdout).not.toBe('ok\n');

    const backup = await runScript('sqlite-backup.sh', [], { env: sqliteEnv('vw-corrupt', 'snapshot', dir, dataDir) });
    expect(backup.code).not.toBe(0);
    expect(backup.stderr).toContain('integrity_check of');
    // The integrity job never touches the backup volume, not even for a lock file.
    expect(allFiles(dir)).toEqual(['.lock-snapshot']);
    const gb = await pgw.group('vw-corrupt', 'snapshot');
    expect(gb.get('backup_last_run_success')?.value).toBe(0);
    expect(gb.has('backup_last_success_timestamp_seconds')).toBe(false);

    const integrity = await runScript('sqlite-integrity-check.sh', [], { env: sqliteEnv('vw-corrupt', 'integrity', dir, dataDir) });
    expect(integrity.code).not.toBe(0);
    g = await pgw.group('vw-corrupt', 'integrity');
    expect(g.get('backup_integrity_ok')?.value).toBe(0);
    expect(g.get('backup_last_run_success')?.value).toBe(0);
  });

  it('the integrity check reports on the live database whether the backup volume is read-only or missing', async () => {
    const { dataDir } = await makeDataDir('novolume');
    const live = path.join(dataDir, 'db.sqlite3');
    await sqlite(live, 'PRAGMA journal_mode=DELETE;');
    // Read-only as a mount, not by mode bits (the tests run as root, which writes through 0555).
    const readOnly = newDir('sqlite-ro');
    await runOk('mount', ['--bind', readOnly, readOnly]);
    try {
      await runOk('mount', ['-o', 'remount,ro,bind', readOnly]);
      const missing = path.join(newDir('sqlite-gone'), 'deleted-export');
      for (const [label, dir] of [['ro', readOnly], ['missing', missing]] as const) {
        const service = `vw-novolume-${label}`;
        const healthy = await runScript('sqlite-integrity-check.sh', [], { env: sqliteEnv(service, 'integrity', dir, dataDir) });
        expect({ label, code: healthy.code, stderr: healthy.stderr }).toEqual({ label, code: 0, stderr: expect.stringContaining('integrity_check: ok') });
        expect((await pgw.group(service, 'integrity')).get('backup_integrity_ok')?.value).toBe(1);
      }
      const fd = fs.openSync(live, 'r+');
      fs.writeSync(fd, Buffer.from('XXXXXXXX'), 0, 8, 4096 * 5 + 200);
      fs.closeSync(fd);
      for (const [label, dir] of [['ro', readOnly], ['missing', missing]] as const) {
        const service = `vw-novolume-${label}`;
        const corrupt = await runScript('sqlite-integrity-check.sh', [], { env: sqliteEnv(service, 'integrity', dir, dataDir) });
        expect({ label, code: corrupt.code }).toEqual({ label, code: 1 });
        expect(corrupt.stderr).toMatch(/integrity_check of \S+ failed/);
        const g = await pgw.group(service, 'integrity');
        expect({ label, ok: g.get('backup_integrity_ok')?.value, success: g.get('backup_last_run_success')?.value }).toEqual({ label, ok: 0, success: 0 });
      }
      expect(fs.existsSync(missing)).toBe(false);
      expect(allFiles(readOnly)).toEqual([]);
    } finally {
      await runOk('umount', [readOnly]);
    }
  });

  it('fails on a missing database without creating one', async () => {
    const { dataDir } = await makeDataDir('missing');
    const dir = newDir('sqlite-missing');
    const e = sqliteEnv('vw-missing', 'snapshot', dir, dataDir, { SQLITE_DB: 'gone.sqlite3' });
    const backup = await runScript('sqlite-backup.sh', [], { env: e });
    expect(backup.code).not.toBe(0);
    expect(fs.existsSync(path.join(dataDir, 'gone.sqlite3'))).toBe(false);
    expect(seriesIn(dir, 'db_', '.sqlite3')).toEqual([]);

    const integrity = await runScript('sqlite-integrity-check.sh', [], {
      env: { ...e, BACKUP_KIND: 'integrity' },
    });
    expect(integrity.code).not.toBe(0);
    expect(fs.existsSync(path.join(dataDir, 'gone.sqlite3'))).toBe(false);
    const g = await pgw.group('vw-missing', 'integrity');
    expect(g.get('backup_integrity_ok')?.value).toBe(0);
  });

  it('refuses a zero-byte database file, which sqlite3 would call a healthy empty database', async () => {
    const { dataDir } = await makeDataDir('empty');
    fs.writeFileSync(path.join(dataDir, 'empty.sqlite3'), '');
    const dir = newDir('sqlite-empty');
    const r = await runScript('sqlite-backup.sh', [], {
      env: sqliteEnv('vw-empty', 'snapshot', dir, dataDir, { SQLITE_DB: 'empty.sqlite3' }),
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('not an SQLite database');
    expect(seriesIn(dir, 'db_', '.sqlite3')).toEqual([]);
  });

  it('fails when a required extra path is missing, publishing nothing', async () => {
    const { dataDir } = await makeDataDir('noextra');
    const dir = newDir('sqlite-noextra');
    const r = await runScript('sqlite-backup.sh', [], {
      env: sqliteEnv('vw-noextra', 'snapshot', dir, dataDir, { SQLITE_EXTRA_PATHS: 'attachments icons' }),
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("required extra path 'icons' does not exist");
    expect(allFiles(dir)).toEqual(['.lock-snapshot']);
  });

  it('rejects a copy far smaller than the previous one and skips retention', async () => {
    const { dataDir } = await makeDataDir('shrink');
    const dir = newDir('sqlite-shrink');
    const previous = 'db_20200101T000000Z.sqlite3';
    const big = crypto.randomBytes(8 * 1024 * 1024);
    fs.writeFileSync(path.join(dir, previous), big);
    const r = await runScript('sqlite-backup.sh', [], {
      // Retention would delete the old copy (keep 1, nothing recent) if it ran.
      env: { ...sqliteEnv('vw-shrink', 'snapshot', dir, dataDir), BACKUP_KEEP_LAST: '1', BACKUP_KEEP_WITHIN_SECONDS: '0' },
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('.rejected');
    expect(seriesIn(dir, 'db_', '.sqlite3')).toEqual([previous]);
    expect(fs.readFileSync(path.join(dir, previous)).equals(big)).toBe(true);
    const rejected = allFiles(dir).filter((f) => /^db_\d{8}T\d{6}Z\.sqlite3\.rejected$/.test(f));
    expect(rejected).toHaveLength(1);
    expect(await sqlite(`file:${path.join(dir, rejected[0])}?mode=ro`, 'PRAGMA integrity_check;')).toBe('ok\n');
    // The run stopped at the rejection: no files archive from it either, and no temp files.
    expect(seriesIn(dir, 'files_', '.tar.zst')).toEqual([]);
    expect(allFiles(dir).filter((f) => f.includes('.tmp.'))).toEqual([]);
    const g = await pgw.group('vw-shrink', 'snapshot');
    expect(g.get('backup_last_run_success')?.value).toBe(0);
    expect(g.get('backup_last_size_bytes')?.value).toBe(fs.statSync(path.join(dir, rejected[0])).size);
  });

  it('keeps the last success timestamp through a later failure (POST, not PUT)', async () => {
    const { dataDir } = await makeDataDir('keep-ts');
    const dir = newDir('sqlite-keep-ts');
    const good = await runScript('sqlite-backup.sh', [], { env: sqliteEnv('vw-keep-ts', 'snapshot', dir, dataDir) });
    expect(good.code).toBe(0);
    const success = (await pgw.group('vw-keep-ts', 'snapshot')).get('backup_last_success_timestamp_seconds')?.value;
    expect(success).toBeGreaterThan(0);

    fs.rmSync(path.join(dataDir, 'db.sqlite3'));
    const bad = await runScript('sqlite-backup.sh', [], { env: sqliteEnv('vw-keep-ts', 'snapshot', dir, dataDir) });
    expect(bad.code).not.toBe(0);
    const g = await pgw.group('vw-keep-ts', 'snapshot');
    expect(g.get('backup_last_run_success')?.value).toBe(0);
    expect(g.get('backup_last_success_timestamp_seconds')?.value).toBe(success);
    // The earlier copy is untouched by the failed run.
    expect(seriesIn(dir, 'db_', '.sqlite3')).toHaveLength(1);
  });

  it('succeeds and logs the failure when the Pushgateway is unreachable', async () => {
    const { dataDir } = await makeDataDir('nopush');
    const dir = newDir('sqlite-nopush');
    const deadPort = await freePort();
    const r = await runScript('sqlite-backup.sh', [], {
      env: { ...sqliteEnv('vw-nopush', 'snapshot', dir, dataDir), PUSHGATEWAY_URL: `http://127.0.0.1:${deadPort}` },
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/WARNING: metrics push to http:\/\/127\.0\.0\.1:\d+\/metrics\/job\/backup\/service\/vw-nopush\/kind\/snapshot failed/);
    expect(seriesIn(dir, 'db_', '.sqlite3')).toHaveLength(1);
    expect(seriesIn(dir, 'files_', '.tar.zst')).toHaveLength(1);
  });
});
