import type { HostPlan } from '../plan/host-plan';

/**
 * Restores of the host layers (daily-backup's pvc-data weeks and SQLite copies) have no Job: they
 * run as root on the Proxmox host, through host-scripts/host-restore.sh. This renders the exact
 * command for a request, with the policy's install path and backup disk, for `backup-policy
 * host-restore` and the daily-backup runbook alike. The checks here are the script's own, made
 * early so that a typo is reported before anyone logs in to the host; the script checks again.
 */

export type HostRestoreRequest =
  | { kind: 'files'; week: string; pvc: string; path?: string; to: string; overwrite: boolean }
  | { kind: 'sqlite'; db: string; copy: string; to: string; overwrite: boolean }
  | { kind: 'list'; pvc?: string; db?: string };

const WEEK = /^(\d{4})-W?(\d{2})$/;
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;
const COPY = /^sqlite_\d{8}T\d{6}Z\.sqlite3$/;

/** A word the host's shell (bash) reads back as `text`, whatever it holds. */
export function shellWord(text: string): string {
  if (/^[A-Za-z0-9_./=:@%+,-]+$/.test(text)) return text;
  // eslint-disable-next-line no-control-regex
  if (!/[\x00-\x1f\x7f]/.test(text)) return `'${text.replace(/'/g, `'\\''`)}'`;
  // Control characters (a newline in a file name) as bash's $'...' escapes: the command stays one line.
  const escaped = [...text]
    .map((c) => {
      const code = c.codePointAt(0)!;
      if (c === '\\' || c === "'") return `\\${c}`;
      if (c === '\n') return '\\n';
      if (c === '\t') return '\\t';
      return code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : c;
    })
    .join('');
  return `$'${escaped}'`;
}

/** Segments of a path without empty and "." ones, or a problem ('..', empty, NUL). */
function segments(text: string): string[] | string {
  if (text.includes('\0')) return 'a path cannot hold a NUL character';
  const parts = text.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.includes('..')) return 'must not contain ".."';
  return parts;
}

function under(path: string, dir: string): boolean {
  return path === dir || dir === '/' || path.startsWith(`${dir}/`);
}

/** --to: absolute (it is read on the host, not here), and clear of the backup disk. */
function targetProblem(to: string, disk: string, what: string): string | undefined {
  if (!to.startsWith('/')) return `--to must be an absolute path on the host, received ${JSON.stringify(to)}`;
  const parts = segments(to);
  if (typeof parts === 'string') return `--to ${parts}, received ${JSON.stringify(to)}`;
  const path = `/${parts.join('/')}`;
  if (under(path, disk)) return `--to ${JSON.stringify(to)} is on the backup disk ${disk}, allowed: ${what} outside it`;
  if (under(disk, path)) return `--to ${JSON.stringify(to)} contains the backup disk ${disk}, allowed: ${what} of its own`;
  return undefined;
}

function pvcProblem(pvc: string): string | undefined {
  const [ns, claim, ...rest] = pvc.split('/');
  if (rest.length > 0 || claim === undefined || !NAME.test(ns) || !NAME.test(claim)) {
    return `--pvc must be NAMESPACE/PVC as in pvc-data/<week>/, received ${JSON.stringify(pvc)}`;
  }
  return undefined;
}

function dbProblem(db: string): string | undefined {
  const parts = segments(db);
  if (db.startsWith('/') || typeof parts === 'string' || parts.length < 3 || !NAME.test(parts[0]) || !NAME.test(parts[1])) {
    return `--db must be NAMESPACE/PVC/PATH as in sqlite-backup/ (the database's path in the volume), received ${JSON.stringify(db)}`;
  }
  return undefined;
}

/** What is wrong with the request, as one line naming the option, what was received and what is allowed. */
export function hostRestoreProblem(host: HostPlan, request: HostRestoreRequest): string | undefined {
  const disk = host.fileBackup.mountPoint;
  // (if/else, not a switch: "sqlite" here is a kind of host copy, not the engine, and the engine
  // registry test keeps `case '<engine>'` inside engine modules.)
  if (request.kind === 'files') {
    if (request.week !== 'latest' && !WEEK.test(request.week)) return `--week must be YYYY-WW (ISO week, as the folders in ${disk}/pvc-data are named; YYYY-Www too) or latest, received ${JSON.stringify(request.week)}`;
    const pvc = pvcProblem(request.pvc);
    if (pvc) return pvc;
    if (request.path !== undefined) {
      const parts = segments(request.path);
      if (request.path.startsWith('/') || typeof parts === 'string' || parts.length === 0) {
        return `--path must be a file or folder relative to the PVC's root, without "..", received ${JSON.stringify(request.path)}`;
      }
    }
    return targetProblem(request.to, disk, 'a folder');
  }
  if (request.kind === 'list') {
    if ((request.pvc === undefined) === (request.db === undefined)) return 'list takes either --pvc NAMESPACE/PVC or --db NAMESPACE/PVC/PATH';
    return request.pvc !== undefined ? pvcProblem(request.pvc) : dbProblem(request.db!);
  }
  if (request.copy !== 'latest' && !COPY.test(request.copy)) return `--copy must be latest or a copy's name, sqlite_<YYYYmmddTHHMMSSZ>.sqlite3, received ${JSON.stringify(request.copy)}`;
  if (request.to.endsWith('/')) return `--to must name the database file, not a folder, received ${JSON.stringify(request.to)}`;
  return dbProblem(request.db) ?? targetProblem(request.to, disk, 'a database file');
}

/** The command line, run as root on the host. */
export function hostRestoreCommand(host: HostPlan, request: HostRestoreRequest): string {
  const args: string[] = [host.restore.path, request.kind];
  const add = (option: string, value: string | undefined) => {
    if (value !== undefined) args.push(option, shellWord(value));
  };
  if (request.kind === 'files') {
    add('--week', request.week);
    add('--pvc', request.pvc);
    add('--path', request.path);
    add('--to', request.to);
  } else if (request.kind === 'list') {
    add('--pvc', request.pvc);
    add('--db', request.db);
  } else {
    add('--db', request.db);
    add('--copy', request.copy);
    add('--to', request.to);
  }
  if (request.kind !== 'list' && request.overwrite) args.push('--yes');
  return args.join(' ');
}

/** The printed procedure: where it runs, what it reads, then the command. */
export function renderHostRestore(host: HostPlan, request: HostRestoreRequest): string {
  const disk = host.fileBackup.mountPoint;
  const source =
    request.kind === 'files'
      ? `# Reads ${disk}/pvc-data/<week>/<--pvc>/ (daily-backup's weekly copies, ${host.fileBackup.weeklyGenerations} weeks kept); the disk is named in ${host.configPath}.`
      : request.kind === 'sqlite'
        ? `# Reads the copies in ${disk}/sqlite-backup/<--db>/ (daily-backup's SQLite copies); the disk is named in ${host.configPath}.`
        : `# Reads ${disk} (named in ${host.configPath}); changes nothing.`;
  const lines = [`# Run as root on the Proxmox host ${host.name}: ssh root@${host.address}`, source];
  if (request.kind === 'files') {
    lines.push(
      '# Restoring in place: scale the workload using the PVC to 0 and mount its volume first; --to is the',
      '# volume\'s root (--path lands at <--to>/<--path>). Files in --to that the copy lacks are left alone.',
    );
  }
  if (request.kind === 'sqlite') lines.push('# Stop the application first: the database is replaced by rename, its -wal/-shm moved aside with the old file.');
  if (request.kind !== 'list') {
    lines.push(
      request.overwrite
        ? '# --yes: existing files are replaced (the command lists them).'
        : '# Without --yes nothing existing is replaced: the command lists what it would replace and stops.',
    );
  }
  lines.push(hostRestoreCommand(host, request));
  return `${lines.join('\n')}\n`;
}
