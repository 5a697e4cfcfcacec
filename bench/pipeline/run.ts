/**
 * Pipeline benchmark: the real PostgreSQL and MariaDB job scripts on realistic data, each beside the
 * engine's own dump tool writing to /dev/null, beside the spec's `| gzip -9` pipeline, and each
 * restore beside the tool's own restore of an uncompressed copy. See bench/README.md.
 *
 *   node dist/bench/pipeline/run.js [--runs 5] [--gzip-runs 3] [--restore-runs 3] [--engines postgres,mysql]
 *     [--skip-restores] [--scale 1] [--cache /var/tmp/backup-policy-bench] [--section NAME] [--no-write]
 *     [--before-ref main]
 *
 * --before-ref REF also times the job scripts as they are at git REF (extracted into a temp dir),
 * alternated with the current ones in the same rounds, so a change is measured under the same load.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backupEnv } from '../../test/support/run-script';
import { runOk } from '../../test/support/servers';
import { DATABASES } from './data';
import { alternate, cpuSummary, loadAverage, machine, median, mib, type Result, type Variant, wallSummary, treeBytes } from './measure';
import { writeSection } from './results';
import { restoreMariadb, restorePostgres, startCachedMariadb, startCachedPostgres, stopAll } from './servers';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const SCRIPTS = path.join(ROOT, 'host-scripts');

interface Options {
  runs: number;
  gzipRuns: number;
  restoreRuns: number;
  engines: string[];
  restores: boolean;
  scale: number;
  cache: string;
  section: string;
  write: boolean;
  beforeRef?: string;
  /** Only the restores: each job runs once, untimed, to make the copies they restore. */
  onlyRestores: boolean;
  /** Where the restore medians go for the RPO/RTO docs (bench/restore-times.json), or nothing. */
  restoreTimes?: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    runs: 5,
    gzipRuns: 3,
    restoreRuns: 3,
    engines: ['postgres', 'mysql'],
    restores: true,
    scale: 1,
    cache: '/var/tmp/backup-policy-bench',
    section: 'Pipelines',
    write: true,
    onlyRestores: false,
  };
  let sectionSet = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--runs') o.runs = Number(next());
    else if (a === '--gzip-runs') o.gzipRuns = Number(next());
    else if (a === '--restore-runs') o.restoreRuns = Number(next());
    else if (a === '--engines') o.engines = next().split(',');
    else if (a === '--skip-restores') o.restores = false;
    else if (a === '--scale') o.scale = Number(next());
    else if (a === '--cache') o.cache = next();
    else if (a === '--section') {
      o.section = next();
      sectionSet = true;
    } else if (a === '--only-restores') o.onlyRestores = true;
    else if (a === '--no-write') o.write = false;
    else if (a === '--before-ref') o.beforeRef = next();
    else throw new Error(`unknown option ${a}`);
  }
  if (o.onlyRestores && !o.restores) throw new Error('--only-restores and --skip-restores exclude each other');
  if (o.onlyRestores && !sectionSet) o.section = 'Restores';
  if (o.write && o.restores && o.engines.join(',') === 'postgres,mysql' && o.scale === 1) o.restoreTimes = RESTORE_TIMES;
  return o;
}

/** The committed record of the restore medians that docs/rpo-rto.md shows (read by policy/io). */
const RESTORE_TIMES = path.join(ROOT, 'bench', 'restore-times.json');

/** One restore mode of one engine, as bench/restore-times.json records it. */
interface RestoreTime {
  engine: 'postgres' | 'mysql';
  mode: 'full' | 'per-database';
  server: string;
  /** What was restored: the databases, and the size of their uncompressed dump. */
  databases: string[];
  dumpBytes: number;
  copyBytes: number;
  script: { medianSeconds: number; minSeconds: number; maxSeconds: number; runs: number };
  tool: { command: string; medianSeconds: number; minSeconds: number; maxSeconds: number; runs: number };
}

const log = (s: string) => process.stderr.write(`${s}\n`);

/** Single-quoted for bash. */
function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function freshDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
}

function jobEnv(engine: string, kind: string, dir: string, server: Record<string, string>): Record<string, string> {
  // No size-ratio check: every run writes into an empty directory anyway, and no Pushgateway.
  return { ...backupEnv({ service: 'bench', engine, kind, dir, minSizeRatio: '0' }), ...server };
}

/** A job run: the real script, with the env its CronJob gives it, into a fresh directory. */
function jobVariant(name: string, script: string, mode: string, engine: string, dir: string, server: Record<string, string>, scripts = SCRIPTS): Variant {
  return {
    name,
    before: async () => freshDir(dir),
    command: () => ({ script: `bash ${q(path.join(scripts, script))} ${mode}`, env: jobEnv(engine, mode, dir, server) }),
    after: async () => treeBytes(dir),
  };
}

function stats(r: Result): RestoreTime['script'] {
  const w = r.samples.map((x) => x.wallMs / 1000);
  const round = (x: number) => Math.round(x * 100) / 100;
  return { medianSeconds: round(median(w)), minSeconds: round(Math.min(...w)), maxSeconds: round(Math.max(...w)), runs: w.length };
}

/**
 * The copies the restores read, laid out as the jobs keep them on the backup volume: the full copy
 * at the top, the per-database copies under per-db/<db>/ (the restore scripts find the newest
 * themselves, and the per-database restores read the full copy too: roles, character sets).
 */
function restoreVolume(dir: string, fullDir: string, perDbDir: string, suffix: string): { full: string; perDb: (db: string) => string } {
  freshDir(dir);
  const name = fs.readdirSync(fullDir).find((f) => f.endsWith(suffix) && f.startsWith('dump_'))!;
  fs.renameSync(path.join(fullDir, name), path.join(dir, name));
  fs.renameSync(path.join(perDbDir, 'per-db'), path.join(dir, 'per-db'));
  return {
    full: path.join(dir, name),
    perDb: (db) => {
      const d = path.join(dir, 'per-db', db);
      return path.join(d, fs.readdirSync(d).find((f) => f.startsWith('dump_') && !f.endsWith('.json'))!);
    },
  };
}

/** The env a restore Job gives the engine's restore script (its backup job's, plus the restore's). */
function restoreEnv(engine: string, dir: string, server: Record<string, string>, extra: Record<string, string> = {}): Record<string, string> {
  return { ...backupEnv({ service: 'bench', engine, kind: 'full', dir, minSizeRatio: '0' }), ...server, RESTORE_OVERWRITE: 'yes', ...extra };
}

/** Dump variants timed (the default) or, with --only-restores, run once each to make the copies. */
async function dumpResults(o: Options, variants: Variant[], work: string): Promise<Result[]> {
  if (!o.onlyRestores) return alternate(variants, o.runs, work, log);
  const jobs = variants.filter((v) => v.name === 'full job' || v.name === 'per-database job');
  return alternate(jobs, 1, work, log);
}

function fileBytes(file: string): () => Promise<number> {
  return async () => fs.statSync(file).size;
}

interface Row {
  comparison: string;
  ours: Result;
  reference: Result;
  target: string;
  /** 'slower': ours / reference; 'faster': reference / ours. */
  sense: 'slower' | 'faster';
}

interface EngineReport {
  title: string;
  restoreTimes: RestoreTime[];
  results: Result[];
  commands: Map<string, string>;
  rows: Row[];
  sizes: { copy: string; bytes: number; raw: number }[];
}

function find(results: Result[], name: string): Result {
  const r = results.find((x) => x.name === name);
  if (!r) throw new Error(`no result ${name}`);
  return r;
}

function ratio(row: Row): number {
  const a = median(row.ours.samples.map((s) => s.wallMs));
  const b = median(row.reference.samples.map((s) => s.wallMs));
  return row.sense === 'slower' ? a / b : b / a;
}

/** The job variants as they were at --before-ref, with their comparisons. */
function beforeJobs(o: Options, work: string, script: string, engine: string, env: Record<string, string>, refFull: string, refPerDb: string, gzip: string) {
  if (!o.beforeRef) return { variants: [] as Variant[], rows: (_: Result[]) => [] as Row[] };
  const scripts = path.join(work, 'before-scripts');
  const variants = [
    jobVariant(`full job at ${o.beforeRef}`, script, 'full', engine, path.join(work, `${engine}-before-full`), env, scripts),
    jobVariant(`per-database job at ${o.beforeRef}`, script, 'per-database', engine, path.join(work, `${engine}-before-per-db`), env, scripts),
  ];
  const rows = (results: Result[]): Row[] => [
    { comparison: `before: full job at ${o.beforeRef} vs ${refFull}`, ours: find(results, `full job at ${o.beforeRef}`), reference: find(results, refFull), target: '≤ 1.5× (stretch 1.25×)', sense: 'slower' },
    { comparison: `before: per-database job at ${o.beforeRef} vs ${refPerDb}`, ours: find(results, `per-database job at ${o.beforeRef}`), reference: find(results, refPerDb), target: '≤ 1.5× (stretch 1.25×)', sense: 'slower' },
    { comparison: `before: full job at ${o.beforeRef} vs ${gzip}`, ours: find(results, `full job at ${o.beforeRef}`), reference: find(results, gzip), target: '≥ 5× faster', sense: 'faster' },
  ];
  return { variants, rows };
}

async function benchPostgres(o: Options, work: string): Promise<EngineReport> {
  const server = await startCachedPostgres(o.cache, o.scale);
  const commands = new Map<string, string>();
  const results: Result[] = [];
  const rows: Row[] = [];
  const sizes: EngineReport['sizes'] = [];
  const restoreTimes: RestoreTime[] = [];
  try {
    const env = server.env;
    const databases = (
      await runOk('psql', ['-X', '-w', '-At', '-d', 'postgres', '-c', 'select datname from pg_database where datallowconn and not datistemplate order by datname'], {
        env: { ...process.env, ...env },
      })
    )
      .trim()
      .split('\n');
    const dbList = databases.join(' ');
    const raw = path.join(work, 'pg-raw');
    freshDir(raw);
    // Uncompressed copies: the raw sizes, and the input of the tool's own restore.
    await runOk('bash', ['-c', `set -euo pipefail; pg_dumpall -w > ${q(raw)}/all.sql; for db in ${dbList}; do PGDATABASE=$db pg_dump -w -Fc -Z0 > ${q(raw)}/$db.dump; done`], {
      env: { ...process.env, ...env },
    });
    const rawFull = fs.statSync(path.join(raw, 'all.sql')).size;
    const rawPerDb = databases.reduce((n, db) => n + fs.statSync(path.join(raw, `${db}.dump`)).size, 0);

    const fullDir = path.join(work, 'pg-full');
    const perDbDir = path.join(work, 'pg-per-db');
    const gzFile = path.join(work, 'pg-all.sql.gz');
    const dumpVariants: Variant[] = [
      jobVariant('full job', 'postgres-backup.sh', 'full', 'postgres', fullDir, env),
      { name: 'pg_dumpall > /dev/null', command: () => ({ script: 'pg_dumpall -w > /dev/null', env }) },
      {
        name: 'pg_dumpall | gzip -9',
        command: () => ({ script: `set -o pipefail; pg_dumpall -w | gzip -9 > ${q(gzFile)}`, env }),
        after: fileBytes(gzFile),
        maxRuns: o.gzipRuns,
      },
      jobVariant('per-database job', 'postgres-backup.sh', 'per-database', 'postgres', perDbDir, env),
      {
        name: 'pg_dump -Fc -Z0 > /dev/null, each database',
        command: () => ({ script: `set -e; for db in ${dbList}; do PGDATABASE=$db pg_dump -w -Fc -Z0 > /dev/null; done`, env }),
      },
    ];
    const before = beforeJobs(o, work, 'postgres-backup.sh', 'postgres', env, 'pg_dumpall > /dev/null', 'pg_dump -Fc -Z0 > /dev/null, each database', 'pg_dumpall | gzip -9');
    dumpVariants.push(...before.variants);
    for (const v of dumpVariants) commands.set(v.name, v.command().script.replace(SCRIPTS, 'host-scripts').split(work).join('$WORK'));
    log(`postgres dumps (${dbList})`);
    const dumped = await dumpResults(o, dumpVariants, work);
    if (!o.onlyRestores) results.push(...dumped);
    const copyBytes = { full: find(dumped, 'full job').bytes, perDb: 0 };
    // With --only-restores the dumps ran once, untimed: their rows belong to the "Pipelines" section.
    if (!o.onlyRestores) {
      rows.push(...before.rows(results));
      rows.push(
        { comparison: 'full job vs `pg_dumpall > /dev/null`', ours: find(results, 'full job'), reference: find(results, 'pg_dumpall > /dev/null'), target: '≤ 1.5× (stretch 1.25×)', sense: 'slower' },
        {
          comparison: 'per-database job vs `pg_dump -Fc -Z0 > /dev/null` per database',
          ours: find(results, 'per-database job'),
          reference: find(results, 'pg_dump -Fc -Z0 > /dev/null, each database'),
          target: '≤ 1.5× (stretch 1.25×)',
          sense: 'slower',
        },
        { comparison: 'full job vs the spec\'s `pg_dumpall | gzip -9`', ours: find(results, 'full job'), reference: find(results, 'pg_dumpall | gzip -9'), target: '≥ 5× faster', sense: 'faster' },
      );
      sizes.push(
        { copy: 'pg_dumpall text (raw)', bytes: rawFull, raw: rawFull },
        { copy: 'full job (.sql.zst)', bytes: find(results, 'full job').bytes, raw: rawFull },
        { copy: 'pg_dumpall | gzip -9', bytes: find(results, 'pg_dumpall | gzip -9').bytes, raw: rawFull },
        { copy: 'pg_dump -Fc -Z0, all databases (raw)', bytes: rawPerDb, raw: rawPerDb },
        { copy: 'per-database job (.dump.zst), all databases', bytes: find(results, 'per-database job').bytes, raw: rawPerDb },
      );
      if (o.beforeRef) {
        sizes.push(
          { copy: `full job at ${o.beforeRef}`, bytes: find(results, `full job at ${o.beforeRef}`).bytes, raw: rawFull },
          { copy: `per-database job at ${o.beforeRef}`, bytes: find(results, `per-database job at ${o.beforeRef}`).bytes, raw: rawPerDb },
        );
      }
    }

    if (o.restores) {
      const target = await restorePostgres();
      try {
        const tenv = target.env;
        const restored = DATABASES;
        const dropAll = async () => {
          await target.psql(restored.map((db) => `drop database if exists ${db};`).join('\n'));
        };
        const volume = restoreVolume(path.join(work, 'pg-volume'), fullDir, perDbDir, '.sql.zst');
        for (const db of restored) copyBytes.perDb += fs.statSync(volume.perDb(db)).size;
        const script = q(path.join(SCRIPTS, 'postgres-restore.sh'));
        const volumeDir = path.dirname(volume.full);
        const restoreVariants: Variant[] = [
          // The restore Job's script, into a cluster without the databases (the target starts as
          // the tool's own restore finds it); RESTORE_OVERWRITE as the Job sets it with --yes.
          { name: 'restore full: postgres-restore.sh full', before: dropAll, command: () => ({ script: `bash ${script} full`, env: restoreEnv('postgres', volumeDir, tenv) }) },
          // ON_ERROR_STOP=0 because the dump's CREATE ROLE postgres fails on any cluster.
          { name: 'restore full: psql -f uncompressed', before: dropAll, command: () => ({ script: `psql -X -q -w -d postgres -v ON_ERROR_STOP=0 -f ${q(raw)}/all.sql > /dev/null 2>&1`, env: tenv }) },
          {
            name: 'restore per-db: postgres-restore.sh per-database, each database',
            before: dropAll,
            command: () => ({ script: `set -e; for db in ${restored.join(' ')}; do RESTORE_DATABASE=$db bash ${script} per-database; done`, env: restoreEnv('postgres', volumeDir, tenv) }),
          },
          {
            name: 'restore per-db: pg_restore --create uncompressed, each database',
            before: dropAll,
            command: () => ({ script: `set -e; for db in ${restored.join(' ')}; do pg_restore -w --exit-on-error --create -d postgres ${q(raw)}/$db.dump; done`, env: tenv }),
          },
        ];
        for (const v of restoreVariants) commands.set(v.name, v.command().script.replace(SCRIPTS, 'host-scripts').split(work).join('$WORK'));
        log('postgres restores');
        results.push(...(await alternate(restoreVariants, o.restoreRuns, work, log)));
        const fullScript = find(results, 'restore full: postgres-restore.sh full');
        const fullTool = find(results, 'restore full: psql -f uncompressed');
        const perDbScript = find(results, 'restore per-db: postgres-restore.sh per-database, each database');
        const perDbTool = find(results, 'restore per-db: pg_restore --create uncompressed, each database');
        rows.push(
          { comparison: 'full restore: `postgres-restore.sh full` vs `psql -f` of the uncompressed dump', ours: fullScript, reference: fullTool, target: '≤ 1.2×', sense: 'slower' },
          {
            comparison: `per-database restore (${restored.join(', ')}): \`postgres-restore.sh per-database\` vs \`pg_restore --create\` of an uncompressed -Fc dump`,
            ours: perDbScript,
            reference: perDbTool,
            target: '≤ 1.2×',
            sense: 'slower',
          },
        );
        const rawOf = (dbs: string[]) => dbs.reduce((n, db) => n + fs.statSync(path.join(raw, `${db}.dump`)).size, 0);
        restoreTimes.push(
          { engine: 'postgres', mode: 'full', server: 'PostgreSQL 15', databases, dumpBytes: rawFull, copyBytes: copyBytes.full, script: stats(fullScript), tool: { command: 'psql -f (uncompressed pg_dumpall)', ...stats(fullTool) } },
          {
            engine: 'postgres',
            mode: 'per-database',
            server: 'PostgreSQL 15',
            databases: restored,
            dumpBytes: rawOf(restored),
            copyBytes: copyBytes.perDb,
            script: stats(perDbScript),
            tool: { command: 'pg_restore --create (uncompressed pg_dump -Fc -Z0)', ...stats(perDbTool) },
          },
        );
      } finally {
        await target.stop();
      }
    }
  } finally {
    await server.stop();
  }
  return { title: 'PostgreSQL 15', results, commands, rows, sizes, restoreTimes };
}

const MY_DUMP_OPTIONS = '--single-transaction --routines --triggers --events --hex-blob --default-character-set=utf8mb4';

function defaultsFile(file: string, env: Record<string, string>): void {
  fs.writeFileSync(file, `[client]\nhost=${env.MYSQL_HOST}\nport=${env.MYSQL_PORT}\nprotocol=TCP\nuser=${env.MYSQL_USER}\npassword="${env.MYSQL_PASSWORD}"\n`, { mode: 0o600 });
}

async function benchMysql(o: Options, work: string): Promise<EngineReport> {
  const server = await startCachedMariadb(o.cache, o.scale);
  const commands = new Map<string, string>();
  const results: Result[] = [];
  const rows: Row[] = [];
  const sizes: EngineReport['sizes'] = [];
  const restoreTimes: RestoreTime[] = [];
  try {
    const env = server.env;
    const cnf = path.join(work, 'source.cnf');
    defaultsFile(cnf, env);
    const dump = `mariadb-dump --defaults-extra-file=${q(cnf)} ${MY_DUMP_OPTIONS}`;
    const shown = (await runOk('mariadb', [`--defaults-extra-file=${cnf}`, '--batch', '--skip-column-names', '-e', 'SHOW DATABASES'])).trim().split('\n');
    // The job's own list: everything but the server's metadata schemas.
    const databases = shown.filter((d) => !['information_schema', 'performance_schema', 'sys'].includes(d));
    const dbList = databases.join(' ');
    const raw = path.join(work, 'my-raw');
    freshDir(raw);
    await runOk('bash', ['-c', `set -euo pipefail; ${dump} --all-databases > ${q(raw)}/all.sql; for db in ${dbList}; do ${dump} -- $db > ${q(raw)}/$db.sql; done`]);
    const rawFull = fs.statSync(path.join(raw, 'all.sql')).size;
    const rawPerDb = databases.reduce((n, db) => n + fs.statSync(path.join(raw, `${db}.sql`)).size, 0);

    const fullDir = path.join(work, 'my-full');
    const perDbDir = path.join(work, 'my-per-db');
    const gzFile = path.join(work, 'my-all.sql.gz');
    const dumpVariants: Variant[] = [
      jobVariant('full job', 'mysql-backup.sh', 'full', 'mysql', fullDir, env),
      { name: 'mariadb-dump --all-databases > /dev/null', command: () => ({ script: `${dump} --all-databases > /dev/null`, env: {} }) },
      { name: 'mariadb-dump --all-databases | gzip -9', command: () => ({ script: `set -o pipefail; ${dump} --all-databases | gzip -9 > ${q(gzFile)}`, env: {} }), after: fileBytes(gzFile), maxRuns: o.gzipRuns },
      jobVariant('per-database job', 'mysql-backup.sh', 'per-database', 'mysql', perDbDir, env),
      { name: 'mariadb-dump > /dev/null, each database', command: () => ({ script: `set -e; for db in ${dbList}; do ${dump} -- $db > /dev/null; done`, env: {} }) },
    ];
    const before = beforeJobs(o, work, 'mysql-backup.sh', 'mysql', env, 'mariadb-dump --all-databases > /dev/null', 'mariadb-dump > /dev/null, each database', 'mariadb-dump --all-databases | gzip -9');
    dumpVariants.push(...before.variants);
    for (const v of dumpVariants) commands.set(v.name, v.command().script.replace(SCRIPTS, 'host-scripts').split(work).join('$WORK'));
    log(`mariadb dumps (${dbList})`);
    const dumped = await dumpResults(o, dumpVariants, work);
    if (!o.onlyRestores) results.push(...dumped);
    const copyBytes = { full: find(dumped, 'full job').bytes, perDb: 0 };
    if (!o.onlyRestores) {
      rows.push(...before.rows(results));
      rows.push(
        { comparison: 'full job vs `mariadb-dump --all-databases > /dev/null`', ours: find(results, 'full job'), reference: find(results, 'mariadb-dump --all-databases > /dev/null'), target: '≤ 1.5× (stretch 1.25×)', sense: 'slower' },
        { comparison: 'per-database job vs `mariadb-dump > /dev/null` per database', ours: find(results, 'per-database job'), reference: find(results, 'mariadb-dump > /dev/null, each database'), target: '≤ 1.5× (stretch 1.25×)', sense: 'slower' },
        { comparison: 'full job vs the spec\'s `mysqldump | gzip -9`', ours: find(results, 'full job'), reference: find(results, 'mariadb-dump --all-databases | gzip -9'), target: '≥ 5× faster', sense: 'faster' },
      );
      sizes.push(
        { copy: 'mariadb-dump --all-databases text (raw)', bytes: rawFull, raw: rawFull },
        { copy: 'full job (.sql.zst)', bytes: find(results, 'full job').bytes, raw: rawFull },
        { copy: 'mariadb-dump --all-databases | gzip -9', bytes: find(results, 'mariadb-dump --all-databases | gzip -9').bytes, raw: rawFull },
        { copy: 'mariadb-dump per database text (raw)', bytes: rawPerDb, raw: rawPerDb },
        { copy: 'per-database job (.sql.zst), all databases', bytes: find(results, 'per-database job').bytes, raw: rawPerDb },
      );
      if (o.beforeRef) {
        sizes.push(
          { copy: `full job at ${o.beforeRef}`, bytes: find(results, `full job at ${o.beforeRef}`).bytes, raw: rawFull },
          { copy: `per-database job at ${o.beforeRef}`, bytes: find(results, `per-database job at ${o.beforeRef}`).bytes, raw: rawPerDb },
        );
      }
    }

    if (o.restores) {
      const target = await restoreMariadb();
      try {
        const tcnf = path.join(work, 'target.cnf');
        defaultsFile(tcnf, target.env);
        const client = `mariadb --defaults-extra-file=${q(tcnf)} --default-character-set=utf8mb4`;
        const restored = DATABASES;
        const dropAll = async () => {
          await target.rootSql(restored.map((db) => `DROP DATABASE IF EXISTS ${db};`).join('\n'));
        };
        const recreate = async () => {
          await dropAll();
          await target.rootSql(restored.map((db) => `CREATE DATABASE ${db};`).join('\n'));
        };
        const volume = restoreVolume(path.join(work, 'my-volume'), fullDir, perDbDir, '.sql.zst');
        for (const db of restored) copyBytes.perDb += fs.statSync(volume.perDb(db)).size;
        const script = q(path.join(SCRIPTS, 'mysql-restore.sh'));
        const volumeDir = path.dirname(volume.full);
        // The full dump's `mysql` schema carries the same two accounts the target was created with
        // (root over the socket, the backup user), so restoring it over the target changes no login.
        const restoreVariants: Variant[] = [
          { name: 'restore full: mysql-restore.sh full', before: dropAll, command: () => ({ script: `bash ${script} full`, env: restoreEnv('mysql', volumeDir, target.env) }) },
          { name: 'restore full: mariadb < uncompressed', before: dropAll, command: () => ({ script: `${client} < ${q(raw)}/all.sql`, env: {} }) },
          {
            name: 'restore per-db: mysql-restore.sh per-database, each database',
            before: dropAll,
            command: () => ({ script: `set -e; for db in ${restored.join(' ')}; do RESTORE_DATABASE=$db bash ${script} per-database; done`, env: restoreEnv('mysql', volumeDir, target.env) }),
          },
          {
            name: 'restore per-db: mariadb < uncompressed, each database',
            before: recreate,
            command: () => ({ script: `set -e; for db in ${restored.join(' ')}; do ${client} $db < ${q(raw)}/$db.sql; done`, env: {} }),
          },
        ];
        for (const v of restoreVariants) commands.set(v.name, v.command().script.replace(SCRIPTS, 'host-scripts').split(work).join('$WORK'));
        log('mariadb restores');
        results.push(...(await alternate(restoreVariants, o.restoreRuns, work, log)));
        const fullScript = find(results, 'restore full: mysql-restore.sh full');
        const fullTool = find(results, 'restore full: mariadb < uncompressed');
        const perDbScript = find(results, 'restore per-db: mysql-restore.sh per-database, each database');
        const perDbTool = find(results, 'restore per-db: mariadb < uncompressed, each database');
        rows.push(
          { comparison: 'full restore: `mysql-restore.sh full` vs `mariadb <` the uncompressed dump', ours: fullScript, reference: fullTool, target: '≤ 1.2×', sense: 'slower' },
          {
            comparison: `per-database restore (${restored.join(', ')}): \`mysql-restore.sh per-database\` vs \`mariadb <\` the uncompressed dump`,
            ours: perDbScript,
            reference: perDbTool,
            target: '≤ 1.2×',
            sense: 'slower',
          },
        );
        const rawOf = (dbs: string[]) => dbs.reduce((n, db) => n + fs.statSync(path.join(raw, `${db}.sql`)).size, 0);
        restoreTimes.push(
          { engine: 'mysql', mode: 'full', server: 'MariaDB 10.11', databases, dumpBytes: rawFull, copyBytes: copyBytes.full, script: stats(fullScript), tool: { command: 'mariadb < (uncompressed mariadb-dump --all-databases)', ...stats(fullTool) } },
          {
            engine: 'mysql',
            mode: 'per-database',
            server: 'MariaDB 10.11',
            databases: restored,
            dumpBytes: rawOf(restored),
            copyBytes: copyBytes.perDb,
            script: stats(perDbScript),
            tool: { command: 'mariadb <db> < (uncompressed mariadb-dump <db>)', ...stats(perDbTool) },
          },
        );
      } finally {
        await target.stop();
      }
    }
  } finally {
    await server.stop();
  }
  return { title: 'MariaDB 10.11', results, commands, rows, sizes, restoreTimes };
}

/** A Markdown table cell: a pipe inside code would end the cell. */
function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

function markdown(o: Options, reports: EngineReport[], startLoad: string, endLoad: string, started: Date): string {
  const lines: string[] = [];
  const when = started.toISOString().slice(0, 16).replace('T', ' ');
  lines.push(`<!-- pipeline:${o.section} begin -->`, `## ${o.section}`, '');
  lines.push(
    `${when} UTC; ${machine()}. 1-minute load average ${startLoad} at the start, ${endLoad} at the end.`,
    `Median of ${o.runs} runs (gzip -9: ${Math.min(o.gzipRuns, o.runs)}, restores: ${o.restoreRuns}), range in brackets; variants of one comparison alternated round-robin with the order rotated each round. Each run is a whole process tree timed from spawn to exit; "cpu" is user + system time of that tree (the database server's own work is not in it). Data: \`bench/pipeline/data.ts\` at scale ${o.scale}.`,
    '',
    'Reproduce: `npm run -s build && node dist/bench/pipeline/run.js' +
      (o.runs !== 5 ? ` --runs ${o.runs}` : '') +
      (o.gzipRuns !== 3 ? ` --gzip-runs ${o.gzipRuns}` : '') +
      (o.restoreRuns !== 3 ? ` --restore-runs ${o.restoreRuns}` : '') +
      (o.restores ? '' : ' --skip-restores') +
      (o.onlyRestores ? ' --only-restores' : '') +
      (o.engines.join(',') !== 'postgres,mysql' ? ` --engines ${o.engines.join(',')}` : '') +
      (o.section !== (o.onlyRestores ? 'Restores' : 'Pipelines') ? ` --section ${q(o.section)}` : '') +
      (o.beforeRef ? ` --before-ref ${o.beforeRef}` : '') +
      '`',
    '',
  );
  for (const r of reports) {
    lines.push(`### ${r.title}`, '', '| comparison | ours | reference | ratio | target | met |', '|---|--:|--:|--:|---|---|');
    for (const row of r.rows) {
      const x = ratio(row);
      const limit = row.target.startsWith('≥') ? Number(/≥ ([\d.]+)/.exec(row.target)![1]) : Number(/≤ ([\d.]+)/.exec(row.target)![1]);
      const met = row.sense === 'faster' ? x >= limit : x <= limit;
      const shown = row.sense === 'faster' ? `${x.toFixed(2)}× faster` : `${x.toFixed(2)}×`;
      lines.push(`| ${cell(row.comparison)} | ${wallSummary(row.ours)} | ${wallSummary(row.reference)} | ${shown} | ${row.target} | ${met ? 'yes' : 'no'} |`);
    }
    if (r.sizes.length) lines.push('', '| copy | size | ratio to raw |', '|---|--:|--:|');
    for (const s of r.sizes) lines.push(`| ${cell(s.copy)} | ${mib(s.bytes)} (${s.bytes} B) | ${(s.raw / s.bytes).toFixed(2)} |`);
    lines.push('', '| variant | command | wall | cpu |', '|---|---|--:|--:|');
    for (const res of r.results) lines.push(`| ${cell(res.name)} | \`${cell(r.commands.get(res.name) ?? '')}\` | ${wallSummary(res)} | ${cpuSummary(res)} |`);
    lines.push('');
  }
  lines.push(`<!-- pipeline:${o.section} end -->`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  fs.mkdirSync(o.cache, { recursive: true });
  const work = fs.mkdtempSync('/var/tmp/bp-pipeline-');
  // An interrupted run must not leave its servers running or its copies behind: the servers are
  // children of this process's group, which the handler ends with the work dir.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`${signal}: stopping\n`);
      stopAll().finally(() => {
        fs.rmSync(work, { recursive: true, force: true });
        process.exit(1);
      });
    });
  }
  if (o.beforeRef) {
    const dest = path.join(work, 'before-scripts');
    fs.mkdirSync(dest);
    await runOk('bash', ['-c', `git -C ${q(ROOT)} archive ${q(o.beforeRef)} host-scripts | tar -x -C ${q(dest)} --strip-components=1`]);
  }
  const started = new Date();
  const startLoad = loadAverage();
  const reports: EngineReport[] = [];
  try {
    if (o.engines.includes('postgres')) reports.push(await benchPostgres(o, work));
    if (o.engines.includes('mysql')) reports.push(await benchMysql(o, work));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const endLoad = loadAverage();
  const text = markdown(o, reports, startLoad, endLoad, started);
  process.stdout.write(`${text}\n`);
  if (o.write) writeSection(o.section, text);
  if (o.restoreTimes) {
    const record = {
      measuredAt: started.toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
      machine: machine(),
      loadAverage: { start: Number(startLoad), end: Number(endLoad) },
      source: `bench/results.md, section "${o.section}"`,
      command: `node dist/bench/pipeline/run.js${o.onlyRestores ? ' --only-restores' : ''}${o.restoreRuns !== 3 ? ` --restore-runs ${o.restoreRuns}` : ''}`,
      restores: reports.flatMap((r) => r.restoreTimes),
    };
    fs.writeFileSync(o.restoreTimes, `${JSON.stringify(record, null, 2)}\n`);
  }
}

main().catch((e: Error) => {
  process.stderr.write(`${e.stack ?? e.message}\n`);
  process.exit(1);
});
