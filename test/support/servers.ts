/**
 * Real database servers for integration tests, in two major versions per engine: the older from
 * this machine's Debian 12 packages, the newer from the backup-drill image's root filesystem
 * (Debian 13 packages, images/backup-drill/packages.txt), run read-only in it through
 * test/support/in-rootfs.sh. `SERVER_VERSIONS` lists them; each `start*` takes `version`. The
 * helpers that talk to a server (psql, mariadb, redis-cli, etcdctl) come from the same place as the
 * server, so a test's client is never older than its server.
 *
 * Each server runs in its own temp dir under /tmp (Unix socket paths are limited to about 107 bytes,
 * and jest's tmpdir can be long), on 127.0.0.1 with a port picked by binding port 0, so suites can run
 * in parallel with each other and with anything on the default ports. Every `start*` returns the
 * connection details and a `stop()` that kills the server and removes its dir. A process `exit` hook
 * kills whatever a crashed suite left running.
 *
 * Passwords are never put on a server's command line: tests scan /proc/<pid>/cmdline to prove the
 * backup scripts don't leak them, and a leak from the fixture would make that scan meaningless.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { inImage, requireRootfs } from './rootfs';

export interface RunningServer {
  /** Kills the server and removes its temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const liveCleanups = new Set<() => void>();
process.on('exit', () => {
  for (const cleanup of liveCleanups) {
    try {
      cleanup();
    } catch {
      // Best effort at process exit: nothing left to report to.
    }
  }
});

/** A port that was free a moment ago (bind port 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        reject(new Error('no port'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

/** Runs a command to completion, feeding `input` on stdin. Never throws on a non-zero exit. */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string | Buffer; cwd?: string } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    );
    child.stdin.on('error', () => {
      // The command may exit without reading its input; its exit status tells the story.
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Like `run`, but throws with the command's stderr unless it exits 0; returns stdout. */
export async function runOk(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string | Buffer; cwd?: string } = {},
): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}

/** Polls `cond` every 50 ms until it holds; throws after `timeoutMs`. */
export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The server versions the integration suites run, older (this machine's) first. */
export const SERVER_VERSIONS = {
  postgres: ['15', '17'],
  mariadb: ['10.11', '11.8'],
  redis: ['7', '8'],
  etcd: ['3.4', '3.5'],
} as const;

/** Where a server's binaries (and the tools that talk to it) come from. */
interface Runtime {
  /** The `[command, args]` that run `argv`, as `user` when given. */
  command(argv: string[], user?: string): [string, string[]];
  /** A user's uid and gid as that root filesystem knows them. */
  ids(user: string): { uid: number; gid: number };
}

const HOST: Runtime = {
  command: (argv, user) => (user ? ['runuser', ['-u', user, '--', ...argv]] : [argv[0], argv.slice(1)]),
  ids: (user) => ({
    uid: Number(execFileSync('id', ['-u', user]).toString().trim()),
    gid: Number(execFileSync('id', ['-g', user]).toString().trim()),
  }),
};

/** Debian 13's servers, from the backup-drill image's root filesystem. */
function drillImage(): Runtime {
  const root = requireRootfs('backup-drill');
  return {
    command: (argv, user) => inImage('backup-drill', argv, user ?? ''),
    ids: (user) => {
      const line = fs.readFileSync(path.join(root, 'etc', 'passwd'), 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
      if (!line) throw new Error(`no user ${user} in the backup-drill image`);
      const f = line.split(':');
      return { uid: Number(f[2]), gid: Number(f[3]) };
    },
  };
}

function runtimeFor<E extends keyof typeof SERVER_VERSIONS>(engine: E, version: string): Runtime {
  const versions: readonly string[] = SERVER_VERSIONS[engine];
  if (!versions.includes(version)) throw new Error(`${engine} ${version} is not one of ${versions.join(', ')}`);
  return version === versions[0] ? HOST : drillImage();
}

/** The `[command, args]` that run `argv` from where `engine` `version` comes from (this machine or the drill image). */
export function serverCommand<E extends keyof typeof SERVER_VERSIONS>(engine: E, version: string, argv: string[], user?: string): [string, string[]] {
  return runtimeFor(engine, version).command(argv, user);
}

/** A 0700 temp dir under /tmp, owned by `user` when given (servers refuse to run as root). */
function makeServerDir(kind: string, user?: string, rt: Runtime = HOST): string {
  const dir = fs.mkdtempSync(`/tmp/bp-${kind}-`);
  if (user) {
    const { uid, gid } = rt.ids(user);
    fs.chownSync(dir, uid, gid);
  }
  return dir;
}

function logTail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, log?: string): Promise<void> {
  try {
    await waitUntil(probe, timeoutMs, `${what} ready`);
  } catch (e) {
    throw new Error(`${(e as Error).message}${log ? `\n${logTail(log)}` : ''}`);
  }
}

/** Spawns a long-running server with stdout/stderr to `log`; returns the child and a killer. */
function spawnServer(cmd: string, args: string[], log: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const fd = fs.openSync(log, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env });
  fs.closeSync(fd);
  return child;
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

function registerCleanup(dir: string, kill: () => void): () => void {
  const cleanup = () => {
    kill();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  liveCleanups.add(cleanup);
  return cleanup;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

export interface Postgres extends RunningServer {
  /** The server's major version (SERVER_VERSIONS.postgres). */
  version: string;
  host: string;
  port: number;
  /** The bootstrap superuser. */
  user: string;
  password?: string;
  dir: string;
  /** PGHOST, PGPORT, PGUSER and (when set) PGPASSWORD, as the backup job receives them. */
  env: Record<string, string>;
  /** Runs SQL through psql as the superuser (or `as`), returns unaligned, tuples-only output. */
  psql(sql: string, opts?: { db?: string; as?: { user: string; password?: string } }): Promise<string>;
}

export async function startPostgres(opts: { password?: string; user?: string; version?: string } = {}): Promise<Postgres> {
  const version = opts.version ?? SERVER_VERSIONS.postgres[0];
  const rt = runtimeFor('postgres', version);
  const PG_BIN = `/usr/lib/postgresql/${version}/bin`;
  const asPostgres = (...argv: string[]) => {
    const [cmd, args] = rt.command(argv, 'postgres');
    return runOk(cmd, args);
  };
  const user = opts.user ?? 'postgres';
  const dir = makeServerDir('pg', 'postgres', rt);
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'server.log');
  const { uid, gid } = rt.ids('postgres');
  const initArgs = [`${PG_BIN}/initdb`, '-D', data, '-U', user, '--no-sync', '-E', 'UTF8', '--locale=C'];
  if (opts.password !== undefined) {
    // scram everywhere, so that a backup that does not pass PGPASSWORD correctly fails.
    const pwfile = path.join(dir, 'pwfile');
    fs.writeFileSync(pwfile, `${opts.password}\n`, { mode: 0o600 });
    fs.chownSync(pwfile, uid, gid);
    initArgs.push('-A', 'scram-sha-256', `--pwfile=${pwfile}`);
    await asPostgres(...initArgs).finally(() => fs.rmSync(pwfile, { force: true }));
  } else {
    initArgs.push('-A', 'trust');
    await asPostgres(...initArgs);
  }
  const port = await freePort();
  const pgCtl = (...args: string[]) => asPostgres(`${PG_BIN}/pg_ctl`, '-D', data, ...args);
  await pgCtl(
    '-w',
    '-l',
    log,
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`,
    'start',
  ).catch((e: Error) => {
    throw new Error(`${e.message}\n${logTail(log)}`);
  });

  const killSync = () => {
    try {
      const pid = Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      // SIGQUIT is the postmaster's immediate shutdown: children exit with it.
      if (pid > 0) process.kill(pid, 'SIGQUIT');
    } catch {
      // Already gone.
    }
  };
  const cleanup = registerCleanup(dir, killSync);
  const env: Record<string, string> = { PGHOST: '127.0.0.1', PGPORT: String(port), PGUSER: user };
  if (opts.password !== undefined) env.PGPASSWORD = opts.password;

  let stopped = false;
  return {
    version,
    host: '127.0.0.1',
    port,
    user,
    password: opts.password,
    dir,
    env,
    async psql(sql, o = {}) {
      const e: NodeJS.ProcessEnv = { ...process.env, ...env, PGDATABASE: o.db ?? 'postgres' };
      if (o.as) {
        e.PGUSER = o.as.user;
        if (o.as.password === undefined) delete e.PGPASSWORD;
        else e.PGPASSWORD = o.as.password;
      }
      const [cmd, args] = rt.command(['psql', '-X', '-w', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-f', '-']);
      return runOk(cmd, args, { env: e, input: sql });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await pgCtl('-m', 'immediate', 'stop').catch(() => killSync());
      cleanup();
      liveCleanups.delete(cleanup);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// MariaDB

export interface Mariadb extends RunningServer {
  /** SERVER_VERSIONS.mariadb */
  version: string;
  host: string;
  port: number;
  /** A user with all privileges, reachable over TCP with `password`. */
  user: string;
  password: string;
  socket: string;
  dir: string;
  /** MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD, as the backup job receives them. */
  env: Record<string, string>;
  /** Runs SQL (from stdin) as root over the socket; returns batch output without column names. */
  sql(sql: string, opts?: { db?: string }): Promise<string>;
}

/** SQL string literal for MariaDB (default sql_mode: backslash is an escape character). */
export function mysqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export async function startMariadb(opts: { password?: string; user?: string; version?: string } = {}): Promise<Mariadb> {
  const version = opts.version ?? SERVER_VERSIONS.mariadb[0];
  const rt = runtimeFor('mariadb', version);
  const tool = (argv: string[], input?: string) => {
    const [cmd, args] = rt.command(argv);
    return { cmd, args, input };
  };
  const user = opts.user ?? 'backup_admin';
  const password = opts.password ?? 'mariadb-test-password';
  const dir = makeServerDir('my', 'mysql', rt);
  const data = path.join(dir, 'data');
  const socket = path.join(dir, 'mysqld.sock');
  const log = path.join(dir, 'server.log');
  // Its own temp folder: MariaDB names temp tables /tmp/#sql-temptable-<pid>-..., and servers
  // started in pid namespaces (the Debian 13 ones run from the image's root filesystem) can share
  // a pid, so two bootstraps at once removed each other's tables (seen once in CI).
  const tmp = path.join(dir, 'tmp');
  fs.mkdirSync(tmp, { mode: 0o700 });
  const { uid, gid } = rt.ids('mysql');
  fs.chownSync(tmp, uid, gid);
  // --no-defaults first: the Debian /etc/mysql config points at the system datadir and socket.
  const install = tool(['mariadb-install-db', '--no-defaults', `--datadir=${data}`, `--tmpdir=${tmp}`, '--user=mysql', '--auth-root-authentication-method=normal', '--skip-test-db']);
  await runOk(install.cmd, install.args);
  const port = await freePort();
  const server = tool([
      'mariadbd',
      '--no-defaults',
      `--datadir=${data}`,
      `--tmpdir=${tmp}`,
      '--user=mysql',
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${socket}`,
      `--pid-file=${path.join(dir, 'mysqld.pid')}`,
      '--skip-name-resolve',
      '--innodb-flush-log-at-trx-commit=0',
      '--innodb-buffer-pool-size=32M',
      '--character-set-server=utf8mb4',
      '--collation-server=utf8mb4_unicode_ci',
  ]);
  const child = spawnServer(server.cmd, server.args, log);
  const cleanup = registerCleanup(dir, () => child.kill('SIGKILL'));
  const rootSql = (sql: string, db?: string) => {
    const t = tool(['mariadb', '--no-defaults', '-S', socket, '-uroot', '--default-character-set=utf8mb4', '--batch', '--skip-column-names', ...(db ? [db] : [])]);
    return runOk(t.cmd, t.args, { input: sql });
  };
  const ping = tool(['mariadb-admin', '--no-defaults', '-S', socket, '-uroot', 'ping']);
  try {
    await waitFor('mariadbd', async () => (await run(ping.cmd, ping.args)).code === 0, 30000, log);
    await rootSql(
      `CREATE USER ${mysqlString(user)}@'%' IDENTIFIED BY ${mysqlString(password)};\n` +
        `GRANT ALL PRIVILEGES ON *.* TO ${mysqlString(user)}@'%' WITH GRANT OPTION;\n`,
    );
  } catch (e) {
    cleanup();
    liveCleanups.delete(cleanup);
    throw e;
  }
  let stopped = false;
  return {
    version,
    host: '127.0.0.1',
    port,
    user,
    password,
    socket,
    dir,
    env: { MYSQL_HOST: '127.0.0.1', MYSQL_PORT: String(port), MYSQL_USER: user, MYSQL_PASSWORD: password },
    sql: (sql, o = {}) => rootSql(sql, o.db),
    async stop() {
      if (stopped) return;
      stopped = true;
      await killChild(child);
      cleanup();
      liveCleanups.delete(cleanup);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Redis

export interface Redis extends RunningServer {
  /** SERVER_VERSIONS.redis */
  version: string;
  host: string;
  port: number;
  password?: string;
  dir: string;
  /** REDIS_HOST, REDIS_PORT and (when set) REDISCLI_AUTH, as the backup job receives them. */
  env: Record<string, string>;
  /** Runs one redis-cli command; returns its raw output. */
  cli(...args: string[]): Promise<string>;
}

/** `loadRdb`: an RDB file the server loads at startup (to prove a backup restores). */
export async function startRedis(opts: { password?: string; loadRdb?: string; version?: string } = {}): Promise<Redis> {
  const version = opts.version ?? SERVER_VERSIONS.redis[0];
  const rt = runtimeFor('redis', version);
  const dir = makeServerDir('redis');
  const log = path.join(dir, 'server.log');
  const port = await freePort();
  if (opts.loadRdb) fs.copyFileSync(opts.loadRdb, path.join(dir, 'dump.rdb'));
  // The password lives in the config file, not on the command line.
  const conf = [
    `port ${port}`,
    'bind 127.0.0.1',
    `dir ${dir}`,
    'dbfilename dump.rdb',
    // Redis waits 5 s by default before serving a diskless SYNC (what `redis-cli --rdb` asks for),
    // hoping to batch replicas; tests don't need to pay that on every backup.
    'repl-diskless-sync-delay 0',
    'save ""',
    'appendonly no',
    ...(opts.password !== undefined ? [`requirepass "${opts.password.replace(/(["\\])/g, '\\$1')}"`] : []),
  ].join('\n');
  const confFile = path.join(dir, 'redis.conf');
  fs.writeFileSync(confFile, `${conf}\n`, { mode: 0o600 });
  const [serverCmd, serverArgs] = rt.command(['redis-server', confFile]);
  const child = spawnServer(serverCmd, serverArgs, log);
  const cleanup = registerCleanup(dir, () => child.kill('SIGKILL'));
  const env: Record<string, string> = { REDIS_HOST: '127.0.0.1', REDIS_PORT: String(port) };
  if (opts.password !== undefined) env.REDISCLI_AUTH = opts.password;
  const cli = (...args: string[]) => {
    const [cmd, argv] = rt.command(['redis-cli', '-h', '127.0.0.1', '-p', String(port), ...args]);
    return runOk(cmd, argv, { env: { ...process.env, ...env } });
  };
  try {
    await waitFor('redis-server', async () => (await cli('ping').catch(() => '')).trim() === 'PONG', 10000, log);
  } catch (e) {
    cleanup();
    liveCleanups.delete(cleanup);
    throw e;
  }
  let stopped = false;
  return {
    version,
    host: '127.0.0.1',
    port,
    password: opts.password,
    dir,
    env,
    cli,
    async stop() {
      if (stopped) return;
      stopped = true;
      await killChild(child);
      cleanup();
      liveCleanups.delete(cleanup);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// etcd

export interface Etcd extends RunningServer {
  /** SERVER_VERSIONS.etcd */
  version: string;
  endpoint: string;
  dir: string;
  /** ETCDCTL_API and ETCDCTL_ENDPOINTS, as the backup job receives them. */
  env: Record<string, string>;
  ctl(...args: string[]): Promise<string>;
}

export async function startEtcd(opts: { version?: string } = {}): Promise<Etcd> {
  const version = opts.version ?? SERVER_VERSIONS.etcd[0];
  const rt = runtimeFor('etcd', version);
  const dir = makeServerDir('etcd');
  const log = path.join(dir, 'server.log');
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const [serverCmd, serverArgs] = rt.command([
      'etcd',
      '--name',
      'test',
      '--data-dir',
      path.join(dir, 'data'),
      '--listen-client-urls',
      endpoint,
      '--advertise-client-urls',
      endpoint,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      `test=${peer}`,
      '--unsafe-no-fsync',
  ]);
  const child = spawnServer(serverCmd, serverArgs, log);
  const cleanup = registerCleanup(dir, () => child.kill('SIGKILL'));
  const env = { ETCDCTL_API: '3', ETCDCTL_ENDPOINTS: endpoint };
  const ctl = (...args: string[]) => {
    const [cmd, argv] = rt.command(['etcdctl', ...args]);
    return runOk(cmd, argv, { env: { ...process.env, ...env } });
  };
  try {
    await waitFor('etcd', async () => (await ctl('endpoint', 'health').then(() => true, () => false)), 15000, log);
  } catch (e) {
    cleanup();
    liveCleanups.delete(cleanup);
    throw e;
  }
  let stopped = false;
  return {
    version,
    endpoint,
    dir,
    env,
    ctl,
    async stop() {
      if (stopped) return;
      stopped = true;
      await killChild(child);
      cleanup();
      liveCleanups.delete(cleanup);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Prometheus Pushgateway

/** One sample of the Prometheus text format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Pushgateway extends RunningServer {
  url: string;
  /** Every sample the Pushgateway currently exposes on /metrics. */
  samples(): Promise<Sample[]>;
  /**
   * The samples pushed to one grouping key of the backup contract
   * (`job="backup"`, `service`, `kind`), keyed by metric name.
   */
  group(service: string, kind: string): Promise<Map<string, Sample>>;
}

/** Parses the Prometheus text exposition format (what /metrics serves). */
export function parseMetricsText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`unparseable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    for (const l of (m[3] ?? '').matchAll(labelRe)) {
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return samples;
}

export async function startPushgateway(): Promise<Pushgateway> {
  const dir = makeServerDir('pgw');
  const log = path.join(dir, 'server.log');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawnServer('prometheus-pushgateway', [`--web.listen-address=127.0.0.1:${port}`], log);
  const cleanup = registerCleanup(dir, () => child.kill('SIGKILL'));
  try {
    await waitFor('pushgateway', async () => (await fetch(`${url}/-/ready`).then((r) => r.ok, () => false)), 10000, log);
  } catch (e) {
    cleanup();
    liveCleanups.delete(cleanup);
    throw e;
  }
  const samples = async () => {
    const res = await fetch(`${url}/metrics`);
    if (!res.ok) throw new Error(`GET /metrics: HTTP ${res.status}`);
    return parseMetricsText(await res.text());
  };
  let stopped = false;
  return {
    url,
    samples,
    async group(service, kind) {
      const byName = new Map<string, Sample>();
      for (const s of await samples()) {
        if (s.labels.job === 'backup' && s.labels.service === service && s.labels.kind === kind) {
          if (byName.has(s.name)) throw new Error(`duplicate sample ${s.name} in group ${service}/${kind}`);
          byName.set(s.name, s);
        }
      }
      return byName;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await killChild(child);
      cleanup();
      liveCleanups.delete(cleanup);
    },
  };
}
