/**
 * Broken on purpose: every backup CronJob of the homelab stack, run through the harness against
 * real servers, under each failure that applies to it. For every cell:
 * - every pod of the Job exits non-zero (a Pushgateway outage alone must not fail a good backup, but
 *   must show in the log), and the log says why;
 * - the status metric says failed, the attempt was recorded, and the success timestamp is still the
 *   previous run's (a sentinel seeded before the cell);
 * - no partial or unverified file carries a backup name, nothing is left under a `.tmp.` name;
 * - every previous backup is intact, byte for byte, and retention did not run: the cell starts with
 *   old copies that retention would delete (older than keepWithin, beyond keepLast).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Etcd, Mariadb, Postgres, Pushgateway, Redis, run, runOk, startEtcd, startMariadb, startPostgres, startPushgateway, startRedis, waitUntil } from '../support/servers';
import { seriesIn } from '../support/run-script';
import { JobResult, PodOptions, PodResult, runJob, startPod, TestCluster } from '../harness/cronjob-harness';
import { DEAD_ADDRESS, HOST, SECRETS, testCluster } from '../harness/test-policy';
import { groupValues, seedGroup, SENTINEL_SUCCESS_TS } from '../harness/pushgateway';
import { dirState, holdLock, killProcessTree, parentPid, smallFilesystem, truncatingRdbProxy } from '../harness/faults';
import { MYSQL_ROOT_OVER_TCP, MYSQL_SEED_SQL, seedEtcd, seedRedis } from '../harness/seeds';
import { RespClient } from '../harness/resp';
import { inImage } from '../support/rootfs';
import { startVaultNode, VaultAnswer, VaultNode } from '../fakes/vault-api';
import { createVaultwardenData, VaultwardenData } from '../harness/vaultwarden';

// ---------------------------------------------------------------------------------------------
// Servers, data and the stack

let pg: Postgres;
let my: Mariadb;
let redis: Redis;
let etcd: Etcd;
let pgw: Pushgateway;
let vw: VaultwardenData;
let cluster: TestCluster;
let vault: VaultNode;
const cleanups: (() => Promise<void> | void)[] = [];

function tempDir(label: string, owner: number): string {
  const d = fs.mkdtempSync(`/tmp/bp-fail-${label}-`);
  fs.chownSync(d, owner, owner);
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

const PGBENCH_SCALE = 8;
const NOTES_FILL = "INSERT INTO notes (body) SELECT md5(g::text) || ' Grüße ✓ ' || repeat(md5((g * 7)::text), 4) FROM generate_series(1, 20000) g;";
// Incompressible rows, most of the dump: without them the dump is far below half its usual size.
const MYSQL_BULK_FILL = `
SET SESSION max_recursive_iterations = 1000000;
INSERT INTO shop.bulk WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 150000)
  SELECT n, UNHEX(CONCAT(SHA2(n, 512), SHA2(n + 1, 512), SHA2(n + 2, 256))) FROM seq;`;

async function seedAll(): Promise<void> {
  await pg.psql(`CREATE DATABASE app; CREATE DATABASE bench;`);
  await pg.psql(`CREATE TABLE notes (id serial PRIMARY KEY, body text); ${NOTES_FILL}`, { db: 'app' });
  await runOk('pgbench', ['-i', '-q', '-s', String(PGBENCH_SCALE), 'bench'], { env: { ...process.env, ...pg.env } });
  await my.sql(MYSQL_ROOT_OVER_TCP);
  await my.sql(MYSQL_SEED_SQL);
  await my.sql('CREATE TABLE shop.bulk (id INT PRIMARY KEY, body VARBINARY(255)) ENGINE=InnoDB');
  await my.sql(MYSQL_BULK_FILL);
  const c = await RespClient.connect(redis.port, '127.0.0.1', SECRETS.redis);
  await seedRedis(c, 20000);
  c.close();
  await seedEtcd(etcd.env, 500);
}

// ---------------------------------------------------------------------------------------------
// The jobs under test

interface Subject {
  job: string;
  service: string;
  kind: 'full' | 'per-database' | 'snapshot';
  engine: string;
  /** The backup volume's claim. */
  claim: string;
  /** The job's uid, which owns the backup directory. */
  owner: number;
  keepLast: number;
  /** How its server goes down, and what the log then says. */
  down: () => PodOptions;
  downLog: RegExp;
  /** The engine's own check that a published file is a good backup. */
  verify: (file: string) => Promise<void>;
}

/** Runs an engine's check with the image's tools: the version that wrote the file reads it. */
async function ok(cmd: string, args: string[]): Promise<void> {
  const r = await run(...inImage('backup-tools', [cmd, ...args]));
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}

const SUBJECTS: Record<string, Subject> = {
  'postgres full': {
    job: 'postgresql-full-backup', service: 'postgresql', kind: 'full', engine: 'postgres', claim: 'postgresql-backup', owner: 10001, keepLast: 7,
    down: () => ({ hosts: { [HOST.postgres]: DEAD_ADDRESS } }),
    downLog: /Connection refused[\s\S]*pg_dumpall failed/,
    verify: (f) => ok('zstd', ['-tq', f]),
  },
  'postgres per-database': {
    job: 'postgresql-per-db-backup', service: 'postgresql', kind: 'per-database', engine: 'postgres', claim: 'postgresql-backup', owner: 10001, keepLast: 7,
    down: () => ({ hosts: { [HOST.postgres]: DEAD_ADDRESS } }),
    downLog: /Connection refused[\s\S]*cannot list databases/,
    // pg_restore --list stops reading after the table of contents: the rest is drained, or zstd
    // would die of SIGPIPE and fail a good file.
    verify: (f) => ok('bash', ['-c', 'set -o pipefail; zstd -dcq -- "$1" | { pg_restore --list >/dev/null; cat >/dev/null; }', 'bash', f]),
  },
  'mysql full': {
    job: 'mysql-full-backup', service: 'mysql', kind: 'full', engine: 'mysql', claim: 'mysql-backup', owner: 10001, keepLast: 7,
    down: () => ({ hosts: { [HOST.mysql]: DEAD_ADDRESS } }),
    downLog: /Can't connect[\s\S]*mariadb-dump failed/,
    verify: (f) => ok('zstd', ['-tq', f]),
  },
  'mysql per-database': {
    job: 'mysql-per-db-backup', service: 'mysql', kind: 'per-database', engine: 'mysql', claim: 'mysql-backup', owner: 10001, keepLast: 7,
    down: () => ({ hosts: { [HOST.mysql]: DEAD_ADDRESS } }),
    downLog: /Can't connect[\s\S]*cannot list databases/,
    verify: (f) => ok('zstd', ['-tq', f]),
  },
  redis: {
    job: 'redis-backup', service: 'redis', kind: 'snapshot', engine: 'redis', claim: 'redis-backup', owner: 10001, keepLast: 4,
    down: () => ({ hosts: { [HOST.redis]: DEAD_ADDRESS } }),
    downLog: /redis-cli --rdb failed/,
    verify: (f) => ok('redis-check-rdb', [f]),
  },
  etcd: {
    job: 'etcd-plain-backup', service: 'etcd-plain', kind: 'snapshot', engine: 'etcd', claim: 'etcd-plain-backup', owner: 10001, keepLast: 4,
    down: () => ({ hosts: { [HOST.etcdPlain]: DEAD_ADDRESS } }),
    downLog: /no endpoint produced a snapshot/,
    verify: (f) => ok('zstd', ['-tq', f]),
  },
  vault: {
    job: 'vault-backup', service: 'vault', kind: 'snapshot', engine: 'vault', claim: 'vault-backup', owner: 10001, keepLast: 4,
    // FAKE VAULT (test/fakes/vault-api.ts): Vault cannot be installed here.
    down: () => ({ hosts: { [HOST.vault]: DEAD_ADDRESS } }),
    downLog: /cannot download the snapshot from \S+ \(curl exit 7\)/,
    verify: (f) => ok('gzip', ['-tq', f]),
  },
  sqlite: {
    job: 'vaultwarden-backup', service: 'vaultwarden', kind: 'snapshot', engine: 'sqlite', claim: 'vaultwarden-backup', owner: 0, keepLast: 8,
    // No server to lose: the SQLite analogue is the application's volume without its database.
    down: () => ({ claims: { 'vaultwarden-data': tempDir('vw-empty', 0) } }),
    downLog: /does not exist|unable to open/,
    verify: async (f) => {
      if (f.endsWith('.tar.zst')) await ok('bash', ['-c', 'set -o pipefail; zstd -dcq -- "$1" | tar -tf - >/dev/null', 'bash', f]);
      else expect((await runOk('sqlite3', [`file:${f}?mode=ro`, 'PRAGMA integrity_check'])).trim()).toBe('ok');
    },
  },
};

/** Backup files of one run, as the golden copies each cell starts from (relative paths). */
const golden: Record<string, { dir: string; files: string[] }> = {};

function isSeriesFile(rel: string): boolean {
  return /(^|\/)(dump|snapshot|db|files)_\d{8}T\d{6}Z\.[a-z0-9.]+$/.test(rel) && !rel.endsWith('.rejected') && !rel.endsWith('.manifest.json');
}

/**
 * A backup directory as a cell finds it: the golden copies of a real run, and under each series
 * `keepLast + 2` older copies from 2020 (beyond keepWithin), which retention would delete.
 */
function previousBackups(s: Subject): string {
  const dir = tempDir(s.service, s.owner);
  for (const rel of golden[s.job].files) {
    const src = path.join(golden[s.job].dir, rel);
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.copyFileSync(src, path.join(dir, rel));
    const name = path.basename(rel);
    for (let day = 1; day <= s.keepLast + 2; day++) {
      const old = name.replace(/_\d{8}T\d{6}Z/, `_202001${String(day).padStart(2, '0')}T000000Z`);
      fs.copyFileSync(src, path.join(dir, path.dirname(rel), old));
    }
  }
  runOkSync(['chown', '-R', `${s.owner}:${s.owner}`, dir]);
  return dir;
}

function runOkSync(argv: string[]): void {
  const r = spawnSync(argv[0], argv.slice(1));
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
}

beforeAll(async () => {
  [pg, my, redis, etcd, pgw, vault] = await Promise.all([
    startPostgres({ password: SECRETS.postgres }),
    startMariadb(),
    startRedis({ password: SECRETS.redis }),
    startEtcd(),
    startPushgateway(),
    startVaultNode({ token: SECRETS.vaultToken }),
  ]);
  cleanups.push(() => pg.stop(), () => my.stop(), () => redis.stop(), () => etcd.stop(), () => pgw.stop(), () => vault.stop());
  await seedAll();
  vw = await createVaultwardenData(tempDir('vw-data', 0), 5000);
  const claims: TestCluster['claims'] = { 'vaultwarden-data': vw.dir };
  cluster = testCluster(
    { pushgateway: Number(new URL(pgw.url).port), postgres: pg.port, mysql: my.port, redis: redis.port, etcdPlain: Number(new URL(etcd.endpoint).port), vault: vault.port },
    claims,
  );
  for (const s of Object.values(SUBJECTS)) {
    const dir = tempDir(`golden-${s.service}`, s.owner);
    const job = await runJob(cluster, s.job, { claims: { ...claims, [s.claim]: dir } });
    if (!job.succeeded) throw new Error(`golden run of ${s.job} failed:\n${job.attempts.map((a) => a.stderr).join('\n')}`);
    golden[s.job] = { dir, files: [...dirState(dir).keys()].filter(isSeriesFile) };
  }
}, 240000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

// ---------------------------------------------------------------------------------------------
// The checks every cell makes

async function expectFailureReported(s: Subject, since: number): Promise<void> {
  const g = await groupValues(pgw, s.service, s.kind);
  expect({ status: g.backup_last_run_success, lastSuccess: g.backup_last_success_timestamp_seconds }).toEqual({ status: 0, lastSuccess: SENTINEL_SUCCESS_TS });
  expect(g.backup_last_attempt_timestamp_seconds).toBeGreaterThanOrEqual(since);
}

/**
 * Everything that was in the directory is still there, unchanged (which also proves retention did
 * not run: the 2020 copies beyond keepLast would be gone); what was added is only the lock file,
 * `*.rejected` copies when `rejected` is allowed, and new backups only under `newBackupsIn`.
 */
function expectNothingLost(s: Subject, before: Map<string, string>, after: Map<string, string>, opts: { rejected?: boolean; newBackupsIn?: string[] } = {}): void {
  const changed = [...before].filter(([rel, sum]) => after.get(rel) !== sum).map(([rel]) => rel);
  expect({ missingOrChanged: changed }).toEqual({ missingOrChanged: [] });
  const added = [...after.keys()].filter((rel) => !before.has(rel));
  const unexpected = added.filter((rel) => {
    if (rel === `.lock-${s.kind}`) return false;
    // A manifest is allowed where its copy is, refused copies included (CONTRACT.md, "Manifest").
    const copy = rel.endsWith('.manifest.json') ? rel.slice(0, -'.manifest.json'.length) : rel;
    if (copy !== rel && !after.has(copy)) return true;
    if (opts.rejected && copy.endsWith('.rejected')) return false;
    if (isSeriesFile(copy) && (opts.newBackupsIn ?? []).includes(path.dirname(copy))) return false;
    return true;
  });
  expect({ unexpectedNewFiles: unexpected }).toEqual({ unexpectedNewFiles: [] });
  expect([...after.keys()].filter((rel) => rel.includes('.tmp.'))).toEqual([]);
}

function expectAllFailed(job: JobResult, why: RegExp): void {
  expect(job.attempts.length).toBeGreaterThan(0);
  for (const a of job.attempts) {
    expect(a.stderr).toMatch(why);
    expect(a.stderr).toMatch(/FAILED with exit status [1-9]/);
    expect(a.stderr).not.toContain('finished successfully');
    expect(a.code).not.toBe(0);
    expect(a.killedAfterGrace).toBe(false);
  }
}

// ---------------------------------------------------------------------------------------------
// The matrix

interface Cell {
  /** Options for the run, given the target directory. */
  options?: (s: Subject, target: string) => PodOptions & { attempts?: number };
  /** The target is a filesystem with this many bytes left. */
  fullFilesystem?: number;
  /** The export is deleted while mounted. */
  vanishes?: boolean;
  /** Another run holds the lock. */
  lockHeld?: boolean;
  /** Work before the run; returns the undo. */
  setup?: (s: Subject, target: string) => Promise<(() => Promise<void>) | void>;
  /** Acts while the job runs (kills the server). */
  during?: () => Promise<void>;
  why: (s: Subject) => RegExp;
  rejected?: boolean;
  newBackupsIn?: string[];
}

const GENERIC: Record<string, Cell> = {
  'server down': { options: (s) => s.down(), why: (s) => s.downLog },
  'target filesystem full': { fullFilesystem: 0, why: () => /No space left on device|Write error|disk is full|cannot create/i },
  'target read-only': {
    options: (s, target) => ({ claims: { [s.claim]: { path: target, readOnly: true } } }),
    why: () => /BACKUP_DIR must be an existing writable directory/,
  },
  'target missing (the export deleted under the mount)': {
    vanishes: true,
    // One pod: a retry could not even start, its volume would fail to mount until the deadline.
    options: (s, target) => ({ claims: { [s.claim]: { path: target, vanishes: true } }, attempts: 1 }),
    why: () => /cannot open lock file|No such file or directory/,
  },
  'two runs at once (another run holds the lock)': { lockHeld: true, why: (s) => new RegExp(`another ${s.kind} run holds`) },
};

/** Engine-specific cells: data broken at the source, dumps that come out empty, servers killed. */
const SPECIFIC: [string, string, Cell][] = [
  ['postgres full', 'dump much smaller than the previous ones (the databases stopped allowing connections)', {
    // pg_dumpall skips a database that does not allow connections, silently.
    setup: async () => {
      await pg.psql('ALTER DATABASE app ALLOW_CONNECTIONS false; ALTER DATABASE bench ALLOW_CONNECTIONS false;');
      return async () => void (await pg.psql('ALTER DATABASE app ALLOW_CONNECTIONS true; ALTER DATABASE bench ALLOW_CONNECTIONS true;'));
    },
    why: () => /less than 0\.5 x dump_\S+ \(\d+ bytes\);[\s\S]*kept as dump_\S+\.rejected/,
    rejected: true,
  }],
  ['postgres per-database', 'one database comes out schema-only (its table truncated)', {
    setup: async () => {
      await pg.psql('TRUNCATE notes', { db: 'app' });
      return async () => void (await pg.psql(NOTES_FILL, { db: 'app' }));
    },
    why: () => /failed databases: app \(the other dumps were kept\)/,
    rejected: true,
    // A per-database job keeps the good dumps of the other databases (CONTRACT.md).
    newBackupsIn: ['per-db/bench', 'per-db/postgres'],
  }],
  ['mysql full', 'dump comes out far smaller (the bulk table emptied)', {
    setup: async () => {
      await my.sql('TRUNCATE shop.bulk');
      return async () => void (await my.sql(MYSQL_BULK_FILL));
    },
    why: () => /kept as dump_\S+\.rejected/,
    rejected: true,
  }],
  ['mysql per-database', 'one database comes out far smaller (its bulk table emptied)', {
    setup: async () => {
      await my.sql('TRUNCATE shop.bulk');
      return async () => void (await my.sql(MYSQL_BULK_FILL));
    },
    why: () => /failed databases: shop \(the other dumps were kept\)/,
    rejected: true,
    // A per-database job keeps the good dumps of the other databases (CONTRACT.md).
    newBackupsIn: ['per-db/crm', 'per-db/mysql'],
  }],
  ['redis', 'RDB comes out empty (the server was flushed)', {
    setup: async () => {
      const c = await RespClient.connect(redis.port, '127.0.0.1', SECRETS.redis);
      await c.ok('FLUSHALL');
      return async () => {
        await seedRedis(c, 20000);
        c.close();
      };
    },
    why: () => /kept as dump_\S+\.rejected/,
    rejected: true,
  }],
  ['redis', 'corrupt source: the RDB stream is cut short but announced complete', {
    setup: async () => {
      // A disk-based full sync sends `$<length>` before the payload, which the proxy rewrites.
      const c = await RespClient.connect(redis.port, '127.0.0.1', SECRETS.redis);
      await c.ok('CONFIG', 'SET', 'repl-diskless-sync', 'no');
      const proxy = await truncatingRdbProxy('127.0.0.3', redis.port);
      return async () => {
        expect(proxy.truncated()).toBe(true);
        await proxy.close();
        await c.ok('CONFIG', 'SET', 'repl-diskless-sync', 'yes');
        c.close();
      };
    },
    options: () => ({ hosts: { [HOST.redis]: '127.0.0.3' } }),
    why: () => /redis-check-rdb rejects the dump/,
  }],
  ['sqlite', 'corrupt source: a page of the live database overwritten', {
    options: () => ({ claims: { 'vaultwarden-data': corruptCopy() } }),
    why: () => /integrity_check of \S+ failed[\s\S]*the live database is not healthy/,
  }],
  ['sqlite', 'database comes out nearly empty (the app recreated it)', {
    options: () => {
      const dir = tempDir('vw-fresh', 0);
      for (const f of fs.readdirSync(vw.dir)) if (!f.startsWith('db.sqlite3')) runOkSync(['cp', '-a', path.join(vw.dir, f), dir]);
      runOkSync(['sqlite3', path.join(dir, 'db.sqlite3'), 'PRAGMA journal_mode=WAL; CREATE TABLE users (uuid TEXT PRIMARY KEY); CREATE TABLE ciphers (uuid TEXT PRIMARY KEY, data TEXT);']);
      return { claims: { 'vaultwarden-data': dir } };
    },
    why: () => /kept as db_\S+\.rejected/,
    rejected: true,
  }],
  ...([
    ['sealed', /Vault is sealed or has no active node \(HTTP 503/],
    ['corrupt', /checksum mismatch for state\.bin/],
    ['truncated', /the snapshot download was cut short/],
    ['cut-gzip', /not a valid gzip stream/],
    ['empty', /the snapshot is empty/],
  ] as [VaultAnswer, RegExp][]).map(([answer, why]): [string, string, Cell] => ['vault', `Vault answers ${answer}`, {
    setup: async () => {
      vault.answer = answer;
      return async () => void (vault.answer = 'ok');
    },
    why: () => why,
  }]),
];

/** Servers killed mid-dump: these run last in the file, the servers stay dead. */
const KILLS: [string, string, Cell][] = [
  ['mysql full', 'server killed mid-dump', {
    during: async () => {
      await waitUntil(async () => /shop|bulk|orders/.test(await my.sql("SELECT IFNULL(GROUP_CONCAT(INFO), '') FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT /*!40001 SQL_NO_CACHE */%'").catch(() => '')), 20000, 'mariadb-dump reading a table');
      const pidFile = (await my.sql("SELECT @@pid_file")).trim();
      await killProcessTree(Number(fs.readFileSync(pidFile, 'utf8').trim()));
    },
    why: () => /Lost connection|server has gone away|Can't connect|mariadb-dump failed/,
  }],
  ['postgres full', 'server killed mid-dump', {
    during: async () => {
      let backend = 0;
      await waitUntil(async () => {
        backend = Number((await pg.psql("SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE query LIKE 'COPY public.pgbench_accounts%'", { db: 'bench' }).catch(() => '0')).trim());
        return backend > 0;
      }, 20000, 'pg_dump copying pgbench_accounts');
      await killProcessTree(parentPid(backend));
    },
    why: () => /server closed the connection unexpectedly|terminat|connection to server[\s\S]*pg_dumpall failed/,
  }],
];

function corruptCopy(): string {
  const dir = tempDir('vw-corrupt', 0);
  runOkSync(['cp', '-a', `${vw.dir}/.`, dir]);
  const db = path.join(dir, 'db.sqlite3');
  runOkSync(['sqlite3', db, 'PRAGMA wal_checkpoint(TRUNCATE);']);
  // Zero a stretch in the middle of a b-tree page of the ciphers table: the header stays valid,
  // the page content no longer adds up.
  const fd = fs.openSync(db, 'r+');
  const pages = Math.floor(fs.statSync(db).size / 4096);
  fs.writeSync(fd, Buffer.alloc(600, 0xa5), 0, 600, Math.floor(pages / 2) * 4096 + 40);
  fs.closeSync(fd);
  return dir;
}

async function runCell(s: Subject, cell: Cell): Promise<void> {
  const prepared = previousBackups(s);
  let target = prepared;
  let small: Awaited<ReturnType<typeof smallFilesystem>> | undefined;
  let lock: Awaited<ReturnType<typeof holdLock>> | undefined;
  if (cell.fullFilesystem !== undefined) {
    small = await smallFilesystem(prepared, s.owner, cell.fullFilesystem);
    target = small.dir;
  }
  if (cell.lockHeld) lock = await holdLock(path.join(target, `.lock-${s.kind}`), s.owner);
  const before = dirState(target);
  await seedGroup(pgw, s.service, s.kind, s.engine);
  const since = Math.floor(Date.now() / 1000);
  const undo = await cell.setup?.(s, target);
  try {
    const extra = cell.options?.(s, target) ?? {};
    const opts: PodOptions & { attempts?: number } = { ...extra, claims: { [s.claim]: target, ...extra.claims } };
    const running = runJob(cluster, s.job, opts);
    // The job is awaited even when the action fails, so that no pod outlives the cell.
    const acted = cell.during?.().then(() => undefined, (e: Error) => e);
    const job = await running;
    const actionError = await acted;
    if (actionError) throw actionError;
    expectAllFailed(job, cell.why(s));
    await expectFailureReported(s, since);
    if (cell.vanishes) {
      expect(fs.existsSync(target)).toBe(false);
    } else {
      expectNothingLost(s, before, dirState(target), { rejected: cell.rejected, newBackupsIn: cell.newBackupsIn });
      if (cell.rejected) expect([...dirState(target).keys()].some((f) => f.endsWith('.rejected'))).toBe(true);
    }
  } finally {
    if (undo) await undo();
    await lock?.release();
    await small?.unmount();
  }
}

/**
 * Room for part of a backup: the write starts and fails halfway. Not for per-database jobs, whose
 * small databases would legitimately fit and be kept.
 */
const FILLS_UP: Cell = { fullFilesystem: 64 * 1024, why: () => /No space left on device|Write error|short write|disk is full/i };

const rows: [string, string, Cell][] = [
  ...Object.keys(SUBJECTS).flatMap((subject) => Object.entries(GENERIC).map(([name, cell]): [string, string, Cell] => [subject, name, cell])),
  ...Object.keys(SUBJECTS)
    .filter((subject) => SUBJECTS[subject].kind !== 'per-database')
    .map((subject): [string, string, Cell] => [subject, 'target filesystem fills up in the middle of the write', FILLS_UP]),
  ...SPECIFIC,
];

describe('a failed backup never reports success, never publishes a partial file, never loses a previous one', () => {
  test.each(rows)('%s: %s', async (subject, _name, cell) => runCell(SUBJECTS[subject], cell), 120000);
});

// ---------------------------------------------------------------------------------------------
// Cells with a different shape

describe('Pushgateway down', () => {
  test.each(Object.keys(SUBJECTS))('%s: the backup succeeds and says in its log that the push failed; retention runs', async (subject) => {
    const s = SUBJECTS[subject];
    const target = previousBackups(s);
    const before = dirState(target);
    await seedGroup(pgw, s.service, s.kind, s.engine);
    const seeded = await groupValues(pgw, s.service, s.kind);
    const job = await runJob(cluster, s.job, { claims: { [s.claim]: target }, hosts: { [HOST.pushgateway]: DEAD_ADDRESS } });
    expect(job.attempts).toHaveLength(1);
    const pod = job.attempts[0];
    expect(pod.stderr).toMatch(/WARNING: metrics push to \S+ failed/);
    expect(pod.stderr).toContain('finished successfully');
    expect(pod.code).toBe(0);
    // Nothing reached the Pushgateway: the seeded group is as it was, its push_time_seconds included.
    expect(await groupValues(pgw, s.service, s.kind)).toEqual(seeded);
    expect(seeded.backup_last_success_timestamp_seconds).toBe(SENTINEL_SUCCESS_TS);
    // Each series: the new verified copy, and retention kept exactly the newest keepLast.
    const after = dirState(target);
    const seriesDirs = [...new Set(golden[s.job].files.map((f) => path.dirname(f)))];
    for (const dir of seriesDirs) {
      for (const [prefix, suffix] of seriesShapes(golden[s.job].files.filter((f) => path.dirname(f) === dir))) {
        const beforeNames = [...before.keys()].filter((f) => path.dirname(f) === dir).map((f) => path.basename(f));
        const names = seriesIn(path.join(target, dir), prefix, suffix);
        const fresh = names.filter((n) => !beforeNames.includes(n));
        expect({ dir, prefix, fresh: fresh.length }).toEqual({ dir, prefix, fresh: 1 });
        await s.verify(path.join(target, dir, fresh[0]));
        const expected = [...beforeNames.filter((n) => n.startsWith(prefix) && n.endsWith(suffix)), fresh[0]].sort().slice(-s.keepLast);
        expect({ dir, prefix, kept: names }).toEqual({ dir, prefix, kept: expected });
      }
    }
    expect([...after.keys()].filter((f) => f.includes('.tmp.'))).toEqual([]);
  }, 120000);
});

function seriesShapes(files: string[]): [string, string][] {
  const shapes = new Set(files.map((f) => path.basename(f).replace(/\d{8}T\d{6}Z/, '\0')));
  return [...shapes].map((s) => s.split('\0') as [string, string]);
}

describe('two pods of the PostgreSQL full backup at once (a manual Job next to the scheduled one)', () => {
  it('the second fails on the lock and says so while the first finishes; one new backup, verified', async () => {
    const s = SUBJECTS['postgres full'];
    const target = tempDir('pg-concurrent', 10001);
    const goldenFile = golden[s.job].files[0];
    fs.copyFileSync(path.join(golden[s.job].dir, goldenFile), path.join(target, goldenFile));
    fs.chownSync(path.join(target, goldenFile), 10001, 10001);
    await seedGroup(pgw, s.service, s.kind, s.engine);
    const since = Math.floor(Date.now() / 1000);
    const first = startPod(cluster, s.job, { claims: { [s.claim]: target } });
    let firstDone = false;
    const firstResult = first.result.then((r) => ((firstDone = true), r));
    await waitUntil(async () => (await pg.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY public.pgbench_accounts%'", { db: 'bench' })).trim() !== '0', 20000, 'first pod dumping');
    const second: PodResult = await startPod(cluster, s.job, { claims: { [s.claim]: target } }).result;
    expect(firstDone).toBe(false);
    expect(second.stderr).toMatch(/another full run holds/);
    expect(second.code).not.toBe(0);
    await expectFailureReported(s, since);
    const r = await firstResult;
    expect(r.stderr).toContain('finished successfully');
    expect(r.code).toBe(0);
    const names = seriesIn(target, 'dump_', '.sql.zst');
    expect(names).toHaveLength(2);
    expect(names[0]).toBe(goldenFile);
    await s.verify(path.join(target, names[1]));
    const g = await groupValues(pgw, s.service, s.kind);
    expect(g.backup_last_run_success).toBe(1);
    expect(g.backup_last_success_timestamp_seconds).toBeGreaterThanOrEqual(since);
    expect(fs.readdirSync(target).filter((f) => f.includes('.tmp.'))).toEqual([]);
  }, 120000);
});

describe('the SQLite integrity check on a corrupt database', () => {
  it('pushes backup_integrity_ok 0 and fails', async () => {
    await seedGroup(pgw, 'vaultwarden', 'integrity', 'sqlite');
    const job = await runJob(cluster, 'vaultwarden-integrity-check', { claims: { 'vaultwarden-data': corruptCopy(), 'vaultwarden-backup': tempDir('vw-int', 0) } });
    expectAllFailed(job, /integrity check failed/);
    const g = await groupValues(pgw, 'vaultwarden', 'integrity');
    expect(g.backup_integrity_ok).toBe(0);
    expect(g.backup_last_run_success).toBe(0);
    expect(g.backup_last_success_timestamp_seconds).toBe(SENTINEL_SUCCESS_TS);
  }, 60000);
});

describe('activeDeadlineSeconds on a dump that hangs (a table lock it waits for forever)', () => {
  // postgresql-deadline is the homelab's PostgreSQL service with a 5 s deadline (test-policy.ts).
  test.each([['postgresql-deadline-per-db-backup', 'per-database'], ['postgresql-deadline-full-backup', 'full']])(
    '%s: SIGTERM stops the dump, removes the work file and pushes the failure within the grace period',
    async (jobName, kind) => {
      const target = tempDir('pg-deadline', 10001);
      await seedGroup(pgw, 'postgresql-deadline', kind, 'postgres');
      const since = Math.floor(Date.now() / 1000);
      // An open transaction holding an exclusive lock: pg_dump's LOCK TABLE waits for it.
      const holder = spawn('psql', ['-X', '-q', '-d', 'app'], { env: { ...process.env, ...pg.env }, stdio: ['pipe', 'ignore', 'ignore'] });
      holder.stdin!.write('BEGIN; LOCK TABLE notes IN ACCESS EXCLUSIVE MODE;\n');
      await waitUntil(async () => (await pg.psql("SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = 'notes'::regclass", { db: 'app' })).trim() !== '0', 10000, 'lock held');
      try {
        const job = await runJob(cluster, jobName, { claims: { 'postgresql-deadline-backup': target }, attempts: 1 });
        const pod = job.attempts[0];
        expect(pod.deadlineExceeded).toBe(true);
        // Stopped by its own SIGTERM handling, not by the kubelet's SIGKILL 30 s later.
        expect(pod.killedAfterGrace).toBe(false);
        expect(pod.stderr).toMatch(/FAILED with exit status 143/);
        expect(pod.code).toBe(143);
        const left = [...dirState(target).keys()];
        expect(left.filter((f) => isSeriesFile(f) || f.includes('.tmp.'))).toEqual([]);
        const g = await groupValues(pgw, 'postgresql-deadline', kind);
        expect(g.backup_last_run_success).toBe(0);
        expect(g.backup_last_attempt_timestamp_seconds).toBeGreaterThanOrEqual(since);
        expect(g.backup_last_success_timestamp_seconds).toBe(SENTINEL_SUCCESS_TS);
      } finally {
        holder.stdin!.end('ROLLBACK;\n');
      }
    },
    60000,
  );
});

describe('servers killed mid-dump (last: the servers stay dead)', () => {
  test.each(KILLS)('%s: %s', async (subject, _name, cell) => runCell(SUBJECTS[subject], cell), 120000);
});
