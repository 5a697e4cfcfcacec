/**
 * PostgreSQL 15 and MariaDB 10.11 for the pipeline benchmark, started the way
 * test/support/servers.ts starts them (Debian binaries, loopback, a free port, the server's own
 * user) but on a data directory kept between runs: loading 450 MB takes minutes, and the data is
 * deterministic, so a machine builds it once (`cache/<engine>/ready` marks a finished load).
 * Restore targets are fresh, throwaway servers like the tests' ones.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, run, runOk, startPostgres, waitUntil, type Postgres } from '../../test/support/servers';
import { DATABASES, generateTsv, tables } from './data';

const PG_BIN = '/usr/lib/postgresql/15/bin';

const running = new Set<() => Promise<void>>();

/** Stops every server this process started and has not stopped yet (for a signal handler). */
export async function stopAll(): Promise<void> {
  for (const stop of [...running]) await stop().catch(() => undefined);
}

/** Registers `stop` until it has run once. */
function tracked(stop: () => Promise<void>): () => Promise<void> {
  const once = async () => {
    if (!running.delete(once)) return;
    await stop();
  };
  running.add(once);
  return once;
}

export interface CachedServer {
  /** The job's connection environment (PGHOST... or MYSQL_HOST...). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

function chownTo(dir: string, user: string): void {
  execFileSync('chown', ['-R', `${user}:${user}`, dir]);
}

/** TSV files shared by both engines, built on first use. */
export function ensureTsv(cache: string, scale: number): string {
  const dir = path.join(cache, `tsv-${scale}`);
  const marker = path.join(dir, 'complete');
  if (!fs.existsSync(marker)) {
    fs.rmSync(dir, { recursive: true, force: true });
    process.stderr.write(`generating data (scale ${scale}) into ${dir}\n`);
    generateTsv(dir, scale);
    fs.writeFileSync(marker, '');
  }
  // The servers' users read these files when loading.
  fs.chmodSync(cache, 0o755);
  fs.chmodSync(dir, 0o755);
  for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o644);
  return dir;
}

export async function startCachedPostgres(cache: string, scale: number): Promise<CachedServer> {
  const root = path.join(cache, `pg-${scale}`);
  const data = path.join(root, 'data');
  const ready = path.join(root, 'ready');
  const fresh = !fs.existsSync(ready);
  if (fresh) {
    fs.rmSync(root, { recursive: true, force: true });
    fs.mkdirSync(root, { recursive: true });
    chownTo(root, 'postgres');
    await runOk('runuser', ['-u', 'postgres', '--', `${PG_BIN}/initdb`, '-D', data, '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C', '-A', 'trust']);
  }
  const port = await freePort();
  const pgCtl = (...args: string[]) => runOk('runuser', ['-u', 'postgres', '--', `${PG_BIN}/pg_ctl`, '-D', data, ...args]);
  await pgCtl('-w', '-l', path.join(root, 'server.log'), '-o', `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`, 'start');
  const env = { PGHOST: '127.0.0.1', PGPORT: String(port), PGUSER: 'postgres' };
  const stop = tracked(async () => {
    await pgCtl('-m', 'fast', 'stop');
  });
  if (fresh) {
    try {
      const tsv = ensureTsv(cache, scale);
      const psql = (db: string, sql: string) =>
        runOk('psql', ['-X', '-w', '-q', '-v', 'ON_ERROR_STOP=1', '-d', db, '-f', '-'], { env: { ...process.env, ...env }, input: sql });
      for (const db of DATABASES) await psql('postgres', `create database ${db};`);
      for (const t of tables(scale)) {
        process.stderr.write(`loading postgres ${t.db}.${t.name}\n`);
        const file = path.join(tsv, `${t.db}.${t.name}.tsv`);
        const indexes = t.indexes.map((c) => `create index on ${t.name} (${c});`).join('\n');
        await psql(t.db, `create table ${t.name} (${t.pg});\ncopy ${t.name} from '${file}';\n${indexes}\nanalyze ${t.name};`);
      }
      await psql('postgres', 'checkpoint;');
      fs.writeFileSync(ready, '');
    } catch (e) {
      await stop();
      throw e;
    }
  }
  return { env, stop };
}

const MARIADB_FLAGS = [
  '--skip-name-resolve',
  '--innodb-flush-log-at-trx-commit=0',
  // 32M (the tests' value) would make every dump read pages through the OS cache one by one; a
  // server holding 450 MB keeps a pool near its working set.
  '--innodb-buffer-pool-size=512M',
  '--character-set-server=utf8mb4',
  '--collation-server=utf8mb4_unicode_ci',
  '--local-infile=1',
];

/** MariaDB on ROOT/data; `init` builds an empty server there first. */
async function startMariadbIn(root: string, init: boolean): Promise<CachedServer & { rootSql(sql: string, db?: string): Promise<string> }> {
  const data = path.join(root, 'data');
  const socket = path.join(root, 'mysqld.sock');
  const user = 'backup_admin';
  const password = 'bench-mariadb-password';
  if (init) {
    fs.rmSync(root, { recursive: true, force: true });
    fs.mkdirSync(root, { recursive: true });
    chownTo(root, 'mysql');
    await runOk('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--user=mysql', '--auth-root-authentication-method=normal', '--skip-test-db']);
  }
  const port = await freePort();
  const logFd = fs.openSync(path.join(root, 'server.log'), 'a');
  const child = spawn(
    'mariadbd',
    ['--no-defaults', `--datadir=${data}`, '--user=mysql', `--port=${port}`, '--bind-address=127.0.0.1', `--socket=${socket}`, `--pid-file=${path.join(root, 'mysqld.pid')}`, ...MARIADB_FLAGS],
    { stdio: ['ignore', logFd, logFd] },
  );
  fs.closeSync(logFd);
  const rootSql = (sql: string, db?: string) =>
    runOk('mariadb', ['--no-defaults', '-S', socket, '-uroot', '--default-character-set=utf8mb4', '--local-infile=1', '--batch', '--skip-column-names', ...(db ? [db] : [])], { input: sql });
  const stop = tracked(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // A clean shutdown, so that a cached data dir starts without crash recovery next time.
    child.kill('SIGTERM');
    await exited;
  });
  try {
    await waitUntil(async () => (await run('mariadb-admin', ['--no-defaults', '-S', socket, '-uroot', 'ping'])).code === 0, 60000, 'mariadbd');
    if (init) await rootSql(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}';\nGRANT ALL PRIVILEGES ON *.* TO '${user}'@'%' WITH GRANT OPTION;\n`);
  } catch (e) {
    await stop();
    throw e;
  }
  return { env: { MYSQL_HOST: '127.0.0.1', MYSQL_PORT: String(port), MYSQL_USER: user, MYSQL_PASSWORD: password }, stop, rootSql };
}

export async function startCachedMariadb(cache: string, scale: number): Promise<CachedServer> {
  const root = path.join(cache, `my-${scale}`);
  const ready = path.join(root, 'ready');
  const fresh = !fs.existsSync(ready);
  const server = await startMariadbIn(root, fresh);
  if (fresh) {
    try {
      const tsv = ensureTsv(cache, scale);
      for (const db of DATABASES) await server.rootSql(`CREATE DATABASE ${db};`);
      for (const t of tables(scale)) {
        process.stderr.write(`loading mariadb ${t.db}.${t.name}\n`);
        const file = path.join(tsv, `${t.db}.${t.name}.tsv`);
        const indexes = t.indexes.map((c) => `CREATE INDEX ${t.name}_${c} ON ${t.name} (${c});`).join('\n');
        await server.rootSql(`CREATE TABLE ${t.name} (${t.mysql});\nLOAD DATA LOCAL INFILE '${file}' INTO TABLE ${t.name} CHARACTER SET utf8mb4;\n${indexes}\nANALYZE TABLE ${t.name};`, t.db);
      }
      fs.writeFileSync(ready, '');
    } catch (e) {
      await server.stop();
      throw e;
    }
  }
  return server;
}

/** A throwaway MariaDB to restore into, with the benchmark server's settings (removed by stop). */
export async function restoreMariadb(): Promise<CachedServer & { rootSql(sql: string, db?: string): Promise<string> }> {
  const root = fs.mkdtempSync('/tmp/bp-bench-my-');
  const server = await startMariadbIn(root, true);
  return {
    ...server,
    stop: tracked(async () => {
      await server.stop();
      fs.rmSync(root, { recursive: true, force: true });
    }),
  };
}

/** A throwaway PostgreSQL to restore into (the tests' fixture, so restores hit a cold cluster). */
export async function restorePostgres(): Promise<Postgres> {
  const pg = await startPostgres();
  return { ...pg, stop: tracked(() => pg.stop()) };
}
