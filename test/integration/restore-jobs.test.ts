/**
 * Restore is code: the restore Job that `backup-policy restore` renders, run by the harness inside
 * the backup-tools image (its PostgreSQL 17 and MariaDB 11.8 clients) against servers of every
 * version the suites run, from the copies the rendered backup CronJobs made. For each version and
 * both modes (full, per-database), the case matrix of the restore contract:
 *   (a) a fresh server with no database and no roles (MariaDB: only the accounts a new server has);
 *   (b) over existing data in place: refused without --yes, saying what it would replace, nothing
 *       changed; replaced with it;
 *   (c) database names with a space, a quote, `=` and non-ASCII, each restored and compared.
 * The restored server is compared with the source object by object and row by row: schemas, rows,
 * sequences, large objects, database collations and character sets, and roles or accounts that
 * log in with their passwords. Every restore goes to its target through `--target` (the policy
 * still points at the source, which a Job that ignored --target would find full and refuse), and
 * `--print-commands` is followed as printed, with kubectl standing in for the API server.
 *
 * Each version's three servers (source, and the targets of the full and the per-database cases)
 * start at once; its copies are made once and shared by all its cases.
 */
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { Mariadb, Postgres, Pushgateway, SERVER_VERSIONS, mysqlString, run, startMariadb, startPostgres, startPushgateway, waitUntil } from '../support/servers';
import { myAccountsFingerprint, myDatabaseFingerprint, myDatabases } from '../harness/mysql-compare';
import { jobManifestView, runJob, type PodResult, type TestCluster } from '../harness/cronjob-harness';
import { SECRETS, testCluster, testPolicy, type TestPorts } from '../harness/test-policy';
import { pgClusterFingerprint, pgDatabaseFingerprint, pgDatabases } from '../harness/postgres-compare';
import { groupValues } from '../harness/pushgateway';
import { MYSQL_ROOT_OVER_TCP, MYSQL_SEED_SQL, PG_UNICODE_DB, seedPostgres } from '../harness/seeds';
import { planPolicy, type PlannedService } from '../../policy/plan/plan';
import { packageRoot } from '../../policy/io/scripts';
import { renderRestoreJob, type RestoreRequest } from '../../policy/render/restore-job';

/** One name per character class a name-handling bug trips on: a space, a quote, '=', non-ASCII. */
const NAMES = ['with space', "it's", 'a=b', 'café ✓'] as const;
/** The restore target as a cluster DNS name, resolved by the harness like the services' names. */
const TARGET_HOST = 'restore-target.dbaas.svc.cluster.local';
const NAME_OWNER_PW = 'Name-owner-pw-3';
/** Roles and accounts of the seeds, with the passwords they must log in with after a restore. */
const PG_LOGINS = [['app_owner', 'App-owner-pw-1'], ['analyst', 'Analyst-pw-2'], ['name_owner', NAME_OWNER_PW]] as const;
const MY_APP = ['app', 'App-pw-1'] as const;

const pgIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
const myIdent = (name: string) => `\`${name.replace(/`/g, '``')}\``;

let pgw: Pushgateway;
const cleanups: (() => Promise<void> | void)[] = [];
/** Distinct render times, so that no two Jobs of the file share a name (names carry the second). */
let clock = Date.parse('2026-11-29T10:00:00Z');
const nextNow = () => new Date((clock += 1000));

interface Ctx<S> {
  version: string;
  source: S;
  /** Fresh servers: for the full cases (then --print-commands), and for the per-database ones. */
  full: S;
  db: S;
  nfs: string;
  ports: TestPorts;
  cluster: TestCluster;
  service: PlannedService;
}

function backupDir(prefix: string): string {
  const dir = fs.mkdtempSync(`/tmp/${prefix}`);
  fs.chownSync(dir, 10001, 10001);
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function runBackups(cluster: TestCluster, names: string[]): Promise<void> {
  for (const name of names) {
    const job = await runJob(cluster, name);
    if (!job.succeeded) throw new Error(`${name} failed:\n${job.attempts.map((a) => a.stderr).join('\n')}`);
  }
}

/** Renders the restore Job from the policy that points at the source, aimed at `target` with --target. */
async function restore<S extends { port: number }>(ctx: Ctx<S>, target: S, request: Omit<RestoreRequest, 'target'>, claims?: TestCluster['claims']): Promise<PodResult> {
  const job = renderRestoreJob(ctx.service, { ...request, target: `${TARGET_HOST}:${target.port}` }, nextNow());
  const view = jobManifestView(job);
  const result = await runJob(ctx.cluster, view.name, { job: view, hosts: { [TARGET_HOST]: '127.0.0.1' }, ...(claims ? { claims } : {}) });
  expect(result.attempts).toHaveLength(1);
  return result.attempts[0];
}

function expectSucceeded(pod: PodResult, secret: string): void {
  expect({ code: pod.code, errors: pod.stderr.split('\n').filter((l) => /ERROR|WARNING/.test(l)) }).toEqual({ code: 0, errors: [] });
  expect(pod.stderr).toContain('finished successfully');
  expect(pod.stdout + pod.stderr).not.toContain(secret);
  expect(pod.tmpLeftovers).toEqual([]);
}

function expectRefused(pod: PodResult, ...said: string[]): void {
  expect(pod.code).toBe(1);
  for (const s of said) expect(pod.stderr).toContain(s);
  expect(pod.stderr).toContain('set RESTORE_OVERWRITE=yes to do that');
}

/**
 * A new backup dir with a copy of `copy` (a path under `from`) and a manifest beside it, as the
 * backup writes it, and copies of `others` (without manifests: copies made before manifests).
 */
function withManifest(from: string, copy: string, engine: string, databases: Record<string, unknown>, others: string[] = []): string {
  const dir = backupDir('bp-it-restore-manifest-');
  for (const file of [copy, ...others]) {
    fs.mkdirSync(path.join(dir, path.dirname(file)), { recursive: true });
    fs.copyFileSync(path.join(from, file), path.join(dir, file));
  }
  const bytes = fs.readFileSync(path.join(dir, copy));
  const manifest = {
    format: 1,
    service: engine === 'postgres' ? 'postgresql' : 'mysql',
    engine,
    kind: 'per-database',
    copy: path.basename(copy),
    createdAt: path.basename(copy).replace(/^dump_(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z.*$/, '$1-$2-$3T$4:$5:$6Z'),
    bytes: bytes.length,
    blake2b: crypto.createHash('blake2b512').update(bytes).digest('hex'),
    databases,
  };
  fs.writeFileSync(path.join(dir, `${copy}.manifest.json`), JSON.stringify(manifest, null, 2));
  for (const d of [dir, ...fs.readdirSync(dir, { recursive: true }).map((p) => path.join(dir, String(p)))]) fs.chownSync(d, 10001, 10001);
  return dir;
}

/** The newest copy in `dir` under the backup dir (its path under the backup dir). */
function newest(nfs: string, dir: string, suffix: string): string {
  const files = fs.readdirSync(path.join(nfs, dir)).filter((f) => /^dump_\d{8}T\d{6}Z/.test(f) && f.endsWith(suffix)).sort();
  return path.join(dir, files[files.length - 1]);
}

/**
 * The source servers never change after their backups: their fingerprints are taken once and
 * compared with every restore's (they are the slowest part of a comparison).
 */
const sourceMemo = new Map<string, Promise<unknown>>();
function once<T>(source: { port: number }, key: string, take: () => Promise<T>): Promise<T> {
  const k = `${source.port} ${key}`;
  if (!sourceMemo.has(k)) sourceMemo.set(k, take());
  return sourceMemo.get(k) as Promise<T>;
}

/**
 * `backup-policy restore ... --print-commands`, run by bash as printed, with `kubectl` a stand-in
 * for the API server (there is no cluster here): `apply -f -` hands the manifest to the test, which
 * runs it through the harness as the kubelet would, and `logs` / `get job` answer from that run.
 * The stand-in restores nothing itself, and refuses any call the printed commands do not make.
 */
async function followPrintedCommands<S extends { port: number }>(ctx: Ctx<S>, cliArgs: string[]): Promise<{ code: number | null; stdout: string; applied: any; pod: PodResult; calls: string[] }> {
  const work = fs.mkdtempSync('/tmp/bp-it-print-');
  cleanups.push(() => fs.rmSync(work, { recursive: true, force: true }));
  const policyFile = path.join(work, 'policy.json');
  fs.writeFileSync(policyFile, JSON.stringify(testPolicy(ctx.ports)));
  const cli = await run(process.execPath, [path.join(packageRoot(), 'dist/cli/main.js'), 'restore', ...cliArgs, '--policy', policyFile, '--target', `127.0.0.1:${ctx.full.port}`, '--print-commands']);
  if (cli.code !== 0) throw new Error(`backup-policy restore exited ${cli.code}: ${cli.stderr}`);
  const bin = path.join(work, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(
    path.join(bin, 'kubectl'),
    `#!/bin/bash
# A stand-in for kubectl in this test: the Job itself is run by the test's harness.
set -eu
dir=${JSON.stringify(work)}
printf '%s\\n' "$*" >>"$dir/calls"
case $1 in
  apply) [[ $* == 'apply -f -' ]] || exit 2; cat >"$dir/applied.tmp"; mv "$dir/applied.tmp" "$dir/applied.yaml"; echo "job.batch created" ;;
  -n)
    case $3 in
      logs) for ((i = 0; i < 3000; i++)); do [[ -e $dir/done ]] && break; sleep 0.1; done; cat "$dir/log" ;;
      get) cat "$dir/succeeded" ;;
      *) exit 2 ;;
    esac
    ;;
  *) exit 2 ;;
esac
`,
    { mode: 0o755 },
  );
  const script = path.join(work, 'restore.sh');
  fs.writeFileSync(script, cli.stdout);
  const child = spawn('bash', [script], { env: { PATH: `${bin}:${process.env.PATH}` }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  await waitUntil(() => fs.existsSync(path.join(work, 'applied.yaml')), 30000, 'kubectl apply');
  const applied = parse(fs.readFileSync(path.join(work, 'applied.yaml'), 'utf8'));
  const result = await runJob(ctx.cluster, applied.metadata.name, { job: jobManifestView(applied) });
  const pod = result.attempts[0];
  fs.writeFileSync(path.join(work, 'log'), pod.stderr);
  fs.writeFileSync(path.join(work, 'succeeded'), result.succeeded ? '1' : '');
  fs.writeFileSync(path.join(work, 'done'), '');
  const code = await exited;
  return { code, stdout, applied, pod, calls: fs.readFileSync(path.join(work, 'calls'), 'utf8').trim().split('\n') };
}

/** What the printed commands must have done with kubectl, in order, for the Job they applied. */
function expectedCalls(applied: any): string[] {
  const { name, namespace } = applied.metadata;
  return ['apply -f -', `-n ${namespace} logs -f --pod-running-timeout=10m job/${name}`, `-n ${namespace} get job/${name} -o jsonpath={.status.succeeded}`];
}

/** The render time a Job's name carries, to render the same Job again and compare. */
function renderTime(name: string): Date {
  const m = /(\d{4})(\d\d)(\d\d)t(\d\d)(\d\d)(\d\d)$/.exec(name)!;
  return new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/** Four small databases whose names need quoting, with a sequence, a large object, their own collation. */
async function seedPgNames(pg: Postgres): Promise<void> {
  await pg.psql(
    `CREATE ROLE name_owner LOGIN PASSWORD '${NAME_OWNER_PW}';\n` +
      NAMES.map((n, i) => `CREATE DATABASE ${pgIdent(n)} OWNER name_owner TEMPLATE template0 ${i % 2 ? "ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'" : "ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'"};`).join('\n'),
  );
  for (const n of NAMES) {
    await pg.psql(
      `SET ROLE name_owner;
       CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL);
       INSERT INTO notes (body) SELECT 'note ' || g || ' é' FROM generate_series(1, 50) g;
       DELETE FROM notes WHERE id > 40;
       SELECT setval('notes_id_seq', 77);
       CREATE TABLE files (loid oid);
       INSERT INTO files SELECT lo_from_bytea(0, convert_to('large object é', 'UTF8'));
       GRANT SELECT ON notes TO reporter;`,
      { db: n },
    );
  }
}

async function pgLogins(pg: Postgres): Promise<string[]> {
  return Promise.all(PG_LOGINS.map(([user, password]) => pg.psql('select current_user', { as: { user, password } }).then((o) => o.trim(), (e: Error) => `${user}: ${e.message}`)));
}

/** The database's line of the cluster fingerprint: owner, encoding, collation, ctype, privileges. */
async function pgDatabaseLine(pg: Postgres, db: string): Promise<string[]> {
  return (await pgClusterFingerprint(pg)).filter((l) => l.startsWith(`database ${db} owner `));
}

async function expectPgDatabase(target: Postgres, source: Postgres, db: string): Promise<void> {
  const [want, got] = await Promise.all([once(source, `db ${db}`, () => pgDatabaseFingerprint(source, db)), pgDatabaseFingerprint(target, db)]);
  expect({ db, fingerprint: got }).toEqual({ db, fingerprint: want });
  expect(await pgDatabaseLine(target, db)).toEqual(await once(source, `line ${db}`, () => pgDatabaseLine(source, db)));
}

async function expectPgCluster(target: Postgres, source: Postgres): Promise<void> {
  expect(await pgClusterFingerprint(target)).toEqual(await once(source, 'cluster', () => pgClusterFingerprint(source)));
  for (const db of await once(source, 'databases', () => pgDatabases(source))) await expectPgDatabase(target, source, db);
  expect(await pgLogins(target)).toEqual(PG_LOGINS.map(([user]) => user));
}

const pg: Record<string, Ctx<Postgres>> = {};
const my: Record<string, Ctx<Mariadb>> = {};

async function setUpPostgres(version: string): Promise<void> {
  const [source, full, db] = await Promise.all([0, 1, 2].map(() => startPostgres({ password: SECRETS.postgres, version })));
  cleanups.push(() => source.stop(), () => full.stop(), () => db.stop());
  await seedPostgres(source, { pgbenchScale: 1 });
  await seedPgNames(source);
  const nfs = backupDir('bp-it-restore-pg-');
  const ports = { pushgateway: Number(new URL(pgw.url).port), postgres: source.port };
  const cluster = testCluster(ports, { 'postgresql-backup': nfs });
  await runBackups(cluster, ['postgresql-full-backup', 'postgresql-per-db-backup']);
  const service = planPolicy(testPolicy(ports)).services.find((s) => s.id === 'postgresql')!;
  pg[version] = { version, source, full, db, nfs, ports, cluster, service };
}

async function myLogin(m: Mariadb, user: string, password: string): Promise<string> {
  // The host's client (MariaDB 10.11) logs in to either server version; the password goes in
  // the environment (MYSQL_PWD), as a test convenience only.
  const r = await run('mariadb', ['--no-defaults', '-h', '127.0.0.1', '-P', String(m.port), '-u', user, '--batch', '--skip-column-names', '-e', 'SELECT CURRENT_USER()'], {
    env: { ...process.env, MYSQL_PWD: password },
  });
  return r.code === 0 ? r.stdout.trim() : `refused: ${r.stderr.trim()}`;
}

/** Four small databases whose names need quoting, each with its own character set and collation. */
const MY_NAMES_SQL = [
  ['latin1', 'latin1_german2_ci'],
  ['utf8mb4', 'utf8mb4_bin'],
  ['utf8mb3', 'utf8mb3_general_ci'],
  ['utf8mb4', 'utf8mb4_unicode_ci'],
]
  .map(([cs, coll], i) => {
    const db = myIdent(NAMES[i]);
    return `CREATE DATABASE ${db} CHARACTER SET ${cs} COLLATE ${coll};
      CREATE TABLE ${db}.notes (id int AUTO_INCREMENT PRIMARY KEY, body varchar(100) CHARACTER SET utf8mb4 NOT NULL);
      INSERT INTO ${db}.notes (body) VALUES ('Grüße ✓ 🎉'), ('it''s "quoted"'), ('a=b');
      DELETE FROM ${db}.notes WHERE id = 3;
      CREATE SEQUENCE ${db}.invoice_no START WITH 500 INCREMENT BY 5;
      DO NEXTVAL(${db}.invoice_no);`;
  })
  .join('\n');

/** A MariaDB sequence's position (mysqldump carries it with SETVAL). */
async function mySequence(m: Mariadb, db: string): Promise<string> {
  return (await m.sql(`SELECT next_not_cached_value, increment FROM ${myIdent(db)}.invoice_no`)).trim();
}

async function expectMyDatabase(target: Mariadb, source: Mariadb, db: string): Promise<void> {
  const want = await once(source, `db ${db}`, () => myDatabaseFingerprint(source, db));
  expect({ db, fingerprint: await myDatabaseFingerprint(target, db) }).toEqual({ db, fingerprint: want });
  if ((NAMES as readonly string[]).includes(db)) expect({ db, sequence: await mySequence(target, db) }).toEqual({ db, sequence: await once(source, `sequence ${db}`, () => mySequence(source, db)) });
}

const myAccounts = (source: Mariadb) => once(source, 'accounts', () => myAccountsFingerprint(source));
const mySourceDatabases = (source: Mariadb) => once(source, 'databases', () => myDatabases(source));

async function setUpMariadb(version: string): Promise<void> {
  const servers = await Promise.all([0, 1, 2].map(() => startMariadb({ version })));
  const [source, full, db] = servers;
  cleanups.push(...servers.map((s) => () => s.stop()));
  // Every server is set up as the homelab's: the backup user (root) reaches it over TCP.
  await Promise.all(servers.map((s) => s.sql(MYSQL_ROOT_OVER_TCP)));
  await source.sql(MYSQL_SEED_SQL);
  await source.sql(MY_NAMES_SQL);
  const nfs = backupDir('bp-it-restore-my-');
  const ports = { pushgateway: Number(new URL(pgw.url).port), mysql: source.port };
  const cluster = testCluster(ports, { 'mysql-backup': nfs });
  await runBackups(cluster, ['mysql-full-backup', 'mysql-per-db-backup']);
  const service = planPolicy(testPolicy(ports)).services.find((s) => s.id === 'mysql')!;
  my[version] = { version, source, full, db, nfs, ports, cluster, service };
}

beforeAll(async () => {
  pgw = await startPushgateway();
  cleanups.push(() => pgw.stop());
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe.each(SERVER_VERSIONS.postgres)('PostgreSQL %s: the rendered restore Job', (version) => {
  beforeAll(() => setUpPostgres(version), 240000);

  it('full, onto a fresh server with no database and no roles: every role, database, object and row', async () => {
    const ctx = pg[version];
    const pod = await restore(ctx, ctx.full, { mode: 'full', copy: 'latest', overwrite: false });
    expectSucceeded(pod, SECRETS.postgres);
    await expectPgCluster(ctx.full, ctx.source);
    // The Job went where --target said: the source (the policy's server) is as it was.
    expect(await pgDatabases(ctx.source)).toEqual(await pgDatabases(ctx.full));
    const metrics = await groupValues(pgw, 'postgresql', 'restore-full');
    expect(metrics.backup_restore_last_run_success).toBe(1);
    expect(metrics.backup_restore_duration_seconds).toBeGreaterThan(0);
  }, 240000);

  it('full, over existing data: refused without --yes, saying what, nothing changed; replaced with it', async () => {
    const { full: target, source } = pg[version];
    await target.psql("INSERT INTO sales.customers (name) VALUES ('only on the target')", { db: 'shop' });
    await target.psql('CREATE DATABASE extra');
    const before = [await pgClusterFingerprint(target), await pgDatabaseFingerprint(target, 'shop')];
    const refused = await restore(pg[version], target, { mode: 'full', copy: 'latest', overwrite: false });
    expectRefused(refused, `is not empty (databases: ${(await pgDatabases(target)).filter((d) => d !== 'postgres').map((d) => `'${d}'`).join(' ')};`, 'would drop and replace them');
    expect([await pgClusterFingerprint(target), await pgDatabaseFingerprint(target, 'shop')]).toEqual(before);
    expect((await groupValues(pgw, 'postgresql', 'restore-full')).backup_restore_last_run_success).toBe(0);

    const replaced = await restore(pg[version], target, { mode: 'full', copy: 'latest', overwrite: true });
    expectSucceeded(replaced, SECRETS.postgres);
    expect(replaced.stderr).toContain("dropping database 'extra'");
    await expectPgCluster(target, source);
  }, 240000);

  it('per-database, onto a fresh server: each database (names with a space, a quote, =, non-ASCII) with its roles and collation', async () => {
    const ctx = pg[version];
    for (const db of ['shop', PG_UNICODE_DB, ...NAMES]) {
      const pod = await restore(ctx, ctx.db, { mode: 'per-database', copy: 'latest', database: db, overwrite: false });
      expectSucceeded(pod, SECRETS.postgres);
      await expectPgDatabase(ctx.db, ctx.source, db);
    }
    // The roles came from the full copy, with their passwords: they log in.
    expect(await pgLogins(ctx.db)).toEqual(PG_LOGINS.map(([user]) => user));
    expect((await pgDatabases(ctx.db)).sort()).toEqual(['postgres', 'shop', PG_UNICODE_DB, ...NAMES].sort());
  }, 240000);

  it('per-database, over existing data: refused without --yes, saying what, nothing changed; replaced with it', async () => {
    const { db: target, source } = pg[version];
    await target.psql('DELETE FROM sales.orders WHERE id > 100; SELECT lo_unlink(424242);', { db: 'shop' });
    const before = await pgDatabaseFingerprint(target, 'shop');
    const refused = await restore(pg[version], target, { mode: 'per-database', copy: 'latest', database: 'shop', overwrite: false });
    expectRefused(refused, "database 'shop' exists on", 'large objects; restoring per-db/shop/dump_', 'would drop and replace it');
    expect(await pgDatabaseFingerprint(target, 'shop')).toEqual(before);

    const replaced = await restore(pg[version], target, { mode: 'per-database', copy: 'latest', database: 'shop', overwrite: true });
    expectSucceeded(replaced, SECRETS.postgres);
    await expectPgDatabase(target, source, 'shop');
  }, 240000);

  it("checks the counts against the copy's manifest, and fails naming the database and table that differ", async () => {
    const ctx = pg[version];
    const copy = newest(ctx.nfs, 'per-db/a=b', '.dump.zst');
    // Hand-written from the seed: 40 notes, 1 file row, 1 large object.
    // The newest full copy too: the per-database restore takes the roles from it.
    const full = [newest(ctx.nfs, '.', '.sql.zst')];
    const good = withManifest(ctx.nfs, copy, 'postgres', { 'a=b': { tables: { 'public.notes': 40, 'public.files': 1 }, largeObjects: 1 } }, full);
    const ok = await restore(ctx, ctx.db, { mode: 'per-database', copy: 'latest', database: 'a=b', overwrite: true }, { 'postgresql-backup': good });
    expectSucceeded(ok, SECRETS.postgres);
    expect(ok.stderr).toContain(`counts match ${copy}.manifest.json: 1 databases, 2 tables, 41 rows, 1 large objects`);

    const bad = withManifest(ctx.nfs, copy, 'postgres', { 'a=b': { tables: { 'public.notes': 41, 'public.files': 1, 'public.gone': 3 }, largeObjects: 2 } }, full);
    const failed = await restore(ctx, ctx.db, { mode: 'per-database', copy: 'latest', database: 'a=b', overwrite: true }, { 'postgresql-backup': bad });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain("manifest mismatch: database 'a=b', table public.notes: expected 41 rows, got 40 rows");
    expect(failed.stderr).toContain("manifest mismatch: database 'a=b', table public.gone: expected 3 rows, got no table");
    expect(failed.stderr).toContain("manifest mismatch: database 'a=b': expected 2 large objects, got 1");
    expect(failed.stderr).toContain(`3 counts after the restore differ from ${copy}.manifest.json`);
  }, 240000);

  it('--print-commands, followed as printed (kubectl standing in for the API server), restores what the Job restores', async () => {
    const ctx = pg[version];
    // Into the server of the full cases, without the database: the roles are there already.
    await ctx.full.psql(`DROP DATABASE ${pgIdent("it's")}`);
    const r = await followPrintedCommands(ctx, ['postgresql', '--database', "it's"]);
    expect({ code: r.code, said: r.stdout.includes('restore succeeded') }).toEqual({ code: 0, said: true });
    expect(r.calls).toEqual(expectedCalls(r.applied));
    // The manifest it applied is the Job the renderer makes for that request at that moment.
    const request: RestoreRequest = { mode: 'per-database', copy: 'latest', database: "it's", overwrite: false, target: `127.0.0.1:${ctx.full.port}` };
    expect(r.applied).toEqual(renderRestoreJob(ctx.service, request, renderTime(r.applied.metadata.name)));
    expect(r.stdout).toContain("restored database 'it's' from per-db/it's/dump_");
    await expectPgDatabase(ctx.full, ctx.source, "it's");
  }, 240000);
});

describe.each(SERVER_VERSIONS.mariadb)('MariaDB %s: the rendered restore Job', (version) => {
  beforeAll(() => setUpMariadb(version), 240000);

  it('full, onto a fresh server: every database and row, the accounts, which log in at once', async () => {
    const ctx = my[version];
    expect(await myLogin(ctx.full, ...MY_APP)).toMatch(/^refused/);
    const pod = await restore(ctx, ctx.full, { mode: 'full', copy: 'latest', overwrite: false });
    expectSucceeded(pod, SECRETS.mysql);
    expect(pod.stderr).toContain('replace every account of');
    expect(pod.stderr).toContain('none is removed or changed');
    const dbs = await mySourceDatabases(ctx.source);
    expect(await myDatabases(ctx.full)).toEqual(dbs);
    for (const db of dbs) await expectMyDatabase(ctx.full, ctx.source, db);
    expect(await myAccountsFingerprint(ctx.full)).toEqual(await myAccounts(ctx.source));
    expect(await myLogin(ctx.full, ...MY_APP)).toBe('app@%');
    expect((await groupValues(pgw, 'mysql', 'restore-full')).backup_restore_last_run_success).toBe(1);
  }, 240000);

  it('full, over existing data and accounts: refused without --yes, saying what, nothing changed; replaced with it', async () => {
    const { full: target, source } = my[version];
    await target.sql(`CREATE DATABASE extra; INSERT INTO shop.customers (name) VALUES ('only on the target');
      CREATE USER 'intruder'@'%' IDENTIFIED BY ${mysqlString('intruder-pw')};`);
    const before = [await myDatabases(target), await myAccountsFingerprint(target), await myDatabaseFingerprint(target, 'shop')];
    const refused = await restore(my[version], target, { mode: 'full', copy: 'latest', overwrite: false });
    expectRefused(refused, `holds databases: ${(await myDatabases(target)).map((d) => `'${d}'`).join(' ')}; `, "would remove or change (password or plugin): 'intruder'@'%';", 'replace every account of the server');
    expect([await myDatabases(target), await myAccountsFingerprint(target), await myDatabaseFingerprint(target, 'shop')]).toEqual(before);

    const replaced = await restore(my[version], target, { mode: 'full', copy: 'latest', overwrite: true });
    expectSucceeded(replaced, SECRETS.mysql);
    expect(replaced.stderr).toContain("these are removed or take the copy's password: 'intruder'@'%'");
    expect(await myDatabases(target)).toEqual(await mySourceDatabases(source));
    for (const db of await mySourceDatabases(source)) await expectMyDatabase(target, source, db);
    expect(await myAccountsFingerprint(target)).toEqual(await myAccounts(source));
    expect(await myLogin(target, 'intruder', 'intruder-pw')).toMatch(/^refused/);
    expect(await myLogin(target, ...MY_APP)).toBe('app@%');
  }, 240000);

  it('per-database, onto a fresh server: each database (names with a space, a quote, =, non-ASCII) with its character set and collation', async () => {
    const ctx = my[version];
    for (const db of ['shop', 'crm', ...NAMES]) {
      const pod = await restore(ctx, ctx.db, { mode: 'per-database', copy: 'latest', database: db, overwrite: false });
      expectSucceeded(pod, SECRETS.mysql);
      await expectMyDatabase(ctx.db, ctx.source, db);
    }
    expect((await myDatabases(ctx.db)).sort()).toEqual(['shop', 'crm', ...NAMES].sort());
  }, 240000);

  it('per-database, over existing data: refused without --yes, saying what, nothing changed; replaced with it', async () => {
    const { db: target, source } = my[version];
    await target.sql('DELETE FROM shop.orders WHERE id > 100');
    const before = await myDatabaseFingerprint(target, 'shop');
    const refused = await restore(my[version], target, { mode: 'per-database', copy: 'latest', database: 'shop', overwrite: false });
    expectRefused(refused, "database 'shop' exists on", 'tables and views; restoring per-db/shop/dump_', 'would drop and replace it');
    expect(await myDatabaseFingerprint(target, 'shop')).toEqual(before);

    const replaced = await restore(my[version], target, { mode: 'per-database', copy: 'latest', database: 'shop', overwrite: true });
    expectSucceeded(replaced, SECRETS.mysql);
    await expectMyDatabase(target, source, 'shop');
  }, 240000);

  it("checks the counts against the copy's manifest, and fails naming the database and table that differ", async () => {
    const ctx = my[version];
    const copy = newest(ctx.nfs, 'per-db/a=b', '.sql.zst');
    // Hand-written from the seed: two notes are left.
    const good = withManifest(ctx.nfs, copy, 'mysql', { 'a=b': { tables: { notes: 2 } } });
    const ok = await restore(ctx, ctx.db, { mode: 'per-database', copy: 'latest', database: 'a=b', overwrite: true }, { 'mysql-backup': good });
    expectSucceeded(ok, SECRETS.mysql);
    expect(ok.stderr).toContain(`counts match ${copy}.manifest.json: 1 databases, 1 tables, 2 rows`);

    const bad = withManifest(ctx.nfs, copy, 'mysql', { 'a=b': { tables: { notes: 3 } } });
    const failed = await restore(ctx, ctx.db, { mode: 'per-database', copy: 'latest', database: 'a=b', overwrite: true }, { 'mysql-backup': bad });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain("manifest mismatch: database 'a=b', table notes: expected 3 rows, got 2 rows");
  }, 240000);

  it('--print-commands, followed as printed (kubectl standing in for the API server), restores what the Job restores', async () => {
    const ctx = my[version];
    // Into the server of the full cases, without the database.
    await ctx.full.sql(`DROP DATABASE ${myIdent("it's")}`);
    const r = await followPrintedCommands(ctx, ['mysql', '--database', "it's"]);
    expect({ code: r.code, said: r.stdout.includes('restore succeeded') }).toEqual({ code: 0, said: true });
    expect(r.calls).toEqual(expectedCalls(r.applied));
    const request: RestoreRequest = { mode: 'per-database', copy: 'latest', database: "it's", overwrite: false, target: `127.0.0.1:${ctx.full.port}` };
    expect(r.applied).toEqual(renderRestoreJob(ctx.service, request, renderTime(r.applied.metadata.name)));
    await expectMyDatabase(ctx.full, ctx.source, "it's");
  }, 240000);
});
