import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT, EnvironmentError, PolicyValidationError, UsageError, oneLine } from '../policy/values/errors';
import { packageRoot } from '../policy/io/scripts';
import type { Command } from './args';
import { staleBuildMessage } from './fresh-build';

interface Verb {
  usage: string;
  load: () => Command;
}

/**
 * Each command lives in its own file and is loaded only when called, so `validate` never loads
 * cdktf and a broken command cannot break the others. Its usage lives here so that `VERB --help`
 * works even when the command itself could not load.
 */
const VERBS: Record<string, Verb> = {
  validate: {
    usage: 'validate <policy.ts|.yaml|.json>   check a policy; one line per service, or every issue as file:line:col: path: message',
    load: () => require('./commands/validate').validate,
  },
  synth: {
    usage: 'synth [--policy FILE] [--out DIR] [--stack ID]\n    synthesize Terraform JSON (default: the bundled homelab policy into cdktf.out, stack "homelab");\n    an invalid policy writes nothing',
    load: () => require('./commands/synth').synth,
  },
  'plan-review': {
    usage: 'plan-review --base REV [--policy FILE]\n    Markdown: what the working tree changes in protection against the git revision REV',
    load: () => require('./commands/plan-review').planReview,
  },
  lint: {
    usage: 'lint [--policy FILE] [--pvcs FILE] [--lvm-class NAME]... [--nfs-class NAME]...\n    judge a valid policy (RPO, retention, overlaps, copies) and, given the output of\n    kubectl get pvc -A -o json, report PVCs no layer covers; exit 1 on any finding',
    load: () => require('./commands/lint').lint,
  },
  schema: {
    usage: 'schema [--out FILE]   print (or write) the JSON Schema for YAML/JSON policies',
    load: () => require('./commands/schema').schema,
  },
  'host-bundle': {
    usage: 'host-bundle --out DIR [--policy FILE]\n    write the Proxmox host\'s scripts, units, host.env and install.sh into DIR (a new or empty folder)',
    load: () => require('./commands/host-bundle').hostBundle,
  },
  restore: {
    usage: 'restore <service> [--mode full|per-database|snapshot] [--copy latest|FILE] [--database DB]\n        [--target HOST:PORT|URL|CLAIM|PATH] [--yes] [--output yaml|json] [--print-commands] [--policy FILE]\n    print the Kubernetes Job that restores a copy (for kubectl apply -f -), or with\n    --print-commands the same procedure as shell; --target restores elsewhere than the policy\'s\n    server or volume (the form depends on the engine); without --yes it never replaces data\n    (the Proxmox host\'s layers: see host-restore)',
    load: () => require('./commands/restore').restore,
  },
  'host-restore': {
    usage: 'host-restore files --week YYYY-WW|latest --pvc NAMESPACE/PVC [--path PATH] --to DIR [--yes]\n        | sqlite --db NAMESPACE/PVC/PATH [--copy latest|sqlite_<ts>.sqlite3] --to FILE [--yes]\n        | list --pvc NAMESPACE/PVC | --db NAMESPACE/PVC/PATH   [--policy FILE]\n    print the command that restores from the Proxmox host\'s daily backup (a PVC\'s files from a\n    week\'s copy, or an SQLite copy), to run as root on the host; without --yes it never replaces data',
    load: () => require('./commands/host-restore').hostRestore,
  },
  generate: {
    usage: 'generate [--policy FILE] [--dir DIR]\n    write the generated files (alert rules, promtool tests, docs, schema) under DIR (default: .)',
    load: () => require('./commands/generate').generate,
  },
};

const EXIT_CODES = `exit codes:
  0  success
  1  the policy or the project configuration is invalid (or lint found problems); every issue is listed
  2  usage: unknown command or option, missing value, a named file that does not exist
  3  environment: a stale build, no git repository, a file or folder that cannot be read or written
  4  internal error: a bug in backup-policy; please report it with the command line`;

const USAGE = `usage: backup-policy <command> [options]
       backup-policy <command> --help
       backup-policy --version

commands:
${Object.values(VERBS).map((v) => `  ${v.usage.replace(/\n/g, '\n  ')}`).join('\n')}

${EXIT_CODES}`;

function verbUsage(name: string): string {
  return `usage: backup-policy ${VERBS[name].usage}\n\n${EXIT_CODES}`;
}

function version(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** File system refusals, reported as environment problems with the path they concern. */
const SYSTEM_ERRORS = new Set(['EACCES', 'EPERM', 'ENOSPC', 'EROFS', 'ENOTDIR', 'EISDIR', 'ENOENT', 'EEXIST', 'ENOTEMPTY', 'EMFILE', 'EBUSY']);

export function run(argv: string[], out: (line: string) => void = console.log, err: (line: string) => void = console.error): number {
  const args = [...argv];
  const command = args.shift();
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    (command === undefined ? err : out)(USAGE);
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  if (command === '--version' || command === '-V') {
    out(version());
    return EXIT.ok;
  }
  const verb = VERBS[command];
  if (!verb) {
    err(`backup-policy: unknown command "${command}"; run backup-policy --help for the list`);
    return EXIT.usage;
  }
  // A verb's own help wins over everything else, wherever the flag stands.
  if (args.includes('--help') || args.includes('-h')) {
    out(verbUsage(command));
    return EXIT.ok;
  }
  try {
    const stale = __filename.endsWith('.js') ? staleBuildMessage(packageRoot(), __filename) : undefined;
    if (stale && command !== 'schema') throw new EnvironmentError(stale);
    return verb.load()(args, { out, err });
  } catch (error) {
    return report(error, command, err);
  }
}

function report(error: unknown, command: string, errRaw: (line: string) => void): number {
  // File names and option values come from the user: each message stays one line of plain text.
  const err = (line: string) => errRaw(oneLine(line));
  if (error instanceof PolicyValidationError) {
    for (const issue of error.issues) err(issue);
    err(`${error.issues.length} issue${error.issues.length === 1 ? '' : 's'} found; nothing was written`);
    return EXIT.invalidPolicy;
  }
  // Thrown by stacks/synth.ts (known by name: the CLI loads cdktf only for synth): the project's
  // configuration or output folder refused, nothing written.
  if (error instanceof Error && (error.name === 'OutputFolderError' || error.name === 'StateLocationError')) {
    err(`backup-policy ${command}: ${error.message}`);
    return EXIT.invalidPolicy;
  }
  if (error instanceof UsageError) {
    err(`backup-policy ${command}: ${error.message}`);
    err(`usage: backup-policy ${VERBS[command].usage.split('\n')[0]}  (backup-policy ${command} --help for more)`);
    return EXIT.usage;
  }
  if (error instanceof EnvironmentError) {
    err(`backup-policy ${command}: ${error.message}`);
    return EXIT.environment;
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code && SYSTEM_ERRORS.has(code)) {
    const { path, syscall } = error as NodeJS.ErrnoException;
    err(`backup-policy ${command}: cannot ${syscall ?? 'use'} ${path ?? 'a file'} (${code}); check that the folder exists and this user may write there`);
    return EXIT.environment;
  }
  // No stack trace for users; BACKUP_POLICY_DEBUG=1 shows it to whoever fixes the bug.
  const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
  err(`backup-policy ${command}: internal error: ${message} (set BACKUP_POLICY_DEBUG=1 for the stack trace, and please report it)`);
  if (process.env.BACKUP_POLICY_DEBUG) err(error instanceof Error ? (error.stack ?? message) : message);
  return EXIT.internal;
}

if (require.main === module) {
  process.exitCode = run(process.argv.slice(2));
}
