/**
 * Runs the backup job scripts the way a CronJob does: `bash host-scripts/<script> [mode]` with a clean
 * environment (PATH, TMPDIR and the job's variables only), so that nothing from the test process's
 * environment can make a script pass by accident.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const SCRIPTS_DIR = path.resolve(__dirname, '..', '..', 'host-scripts');
export const LIB_PATH = path.join(SCRIPTS_DIR, 'backup-lib.sh');

export interface RunOptions {
  /** The job's environment; an `undefined` value leaves the variable out. */
  env?: Record<string, string | undefined>;
  /** TMPDIR for the run. Default: a fresh empty dir, removed after the run. */
  tmpdir?: string;
  /** Directories put in front of PATH. */
  pathPrepend?: string[];
  /** Kill the script (SIGKILL) after this long. Default 60 s. */
  timeoutMs?: number;
}

export interface ScriptResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Whatever the run left in TMPDIR (names relative to it): a clean job leaves nothing. */
  tmpLeftovers: string[];
  durationMs: number;
}

export interface RunningScript {
  child: ChildProcess;
  result: Promise<ScriptResult>;
}

function listRecursive(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).sort();
}

/** Spawns `bash <argv...>` with the clean environment; the caller awaits `result`. */
function startBash(argv: string[], opts: RunOptions): RunningScript {
  const ownTmp = opts.tmpdir === undefined;
  const tmpdir = opts.tmpdir ?? fs.mkdtempSync('/tmp/bp-run-');
  const basePath = process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  const env: Record<string, string> = {
    PATH: [...(opts.pathPrepend ?? []), basePath].join(':'),
    TMPDIR: tmpdir,
  };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v !== undefined) env[k] = v;
  }
  const started = Date.now();
  // Its own process group, so that a timeout kills the tools the script started too; killing only
  // bash would leave them holding stdout open, and the run would never end.
  const child = spawn('bash', argv, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const killGroup = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => err.push(d));
  const timer = setTimeout(killGroup, opts.timeoutMs ?? 60000);
  const result = new Promise<ScriptResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const tmpLeftovers = listRecursive(tmpdir);
      if (ownTmp) fs.rmSync(tmpdir, { recursive: true, force: true });
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        tmpLeftovers,
        durationMs: Date.now() - started,
      });
    });
  });
  return { child, result };
}

/** Starts `bash host-scripts/<script> args...`; for tests that act while the job runs. */
export function startScript(script: string, args: string[] = [], opts: RunOptions = {}): RunningScript {
  return startBash([path.join(SCRIPTS_DIR, script), ...args], opts);
}

/** Runs `bash host-scripts/<script> args...` to completion. */
export function runScript(script: string, args: string[] = [], opts: RunOptions = {}): Promise<ScriptResult> {
  return startScript(script, args, opts).result;
}

/** Sources backup-lib.sh under `set -euo pipefail` and calls one of its functions. */
export function runLibFunction(fn: string, args: string[] = [], opts: RunOptions = {}): Promise<ScriptResult> {
  return startBash(['-c', 'set -euo pipefail; . "$1"; shift; "$@"', 'bash', LIB_PATH, fn, ...args], opts).result;
}

export interface BackupEnvOptions {
  service: string;
  engine: string;
  kind: string;
  dir: string;
  /** Empty or omitted: no push. */
  pushgatewayUrl?: string;
  runner?: 'cronjob' | 'host';
  keepLast?: number;
  keepWithinSeconds?: number;
  minSizeRatio?: string;
}

/** The common variables of CONTRACT.md, with test-friendly defaults. */
export function backupEnv(o: BackupEnvOptions): Record<string, string> {
  return {
    BACKUP_SERVICE: o.service,
    BACKUP_ENGINE: o.engine,
    BACKUP_KIND: o.kind,
    BACKUP_RUNNER: o.runner ?? 'cronjob',
    BACKUP_DIR: o.dir,
    BACKUP_KEEP_WITHIN_SECONDS: String(o.keepWithinSeconds ?? 14 * 86400),
    BACKUP_KEEP_LAST: String(o.keepLast ?? 3),
    BACKUP_MIN_SIZE_RATIO: o.minSizeRatio ?? '0.5',
    PUSHGATEWAY_URL: o.pushgatewayUrl ?? '',
  };
}

/** A fresh backup target directory (the NFS volume in production). */
export function makeBackupDir(label: string): string {
  return fs.mkdtempSync(`/tmp/bp-out-${label}-`);
}

/** UTC `YYYYmmddTHHMMSSZ`, the timestamp format of backup names. */
export function backupTimestamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

/** Names in `dir` matching `prefix<timestamp>suffix` exactly, sorted. */
export function seriesIn(dir: string, prefix: string, suffix: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`^${esc(prefix)}\\d{8}T\\d{6}Z${esc(suffix)}$`);
  return fs.readdirSync(dir).filter((n) => re.test(n)).sort();
}

/** Every entry under `dir` (recursive, relative names), for "nothing else was written" checks. */
export function allFiles(dir: string): string[] {
  return listRecursive(dir);
}

/** The command line of every process on the machine (arguments joined by spaces). */
export function processCommandLines(): string[] {
  const lines: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      lines.push(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '));
    } catch {
      // The process exited while we looked.
    }
  }
  return lines;
}

/** PID and all its descendants, read from /proc (children of every thread). */
export function processTree(pid: number): number[] {
  const pids = [pid];
  let taskDirs: string[] = [];
  try {
    taskDirs = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return pids;
  }
  for (const task of taskDirs) {
    let children = '';
    try {
      children = fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const c of children.trim().split(/\s+/).filter(Boolean)) pids.push(...processTree(Number(c)));
  }
  return pids;
}

/** Whether a process with this PID exists (and is not a zombie). */
export function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
