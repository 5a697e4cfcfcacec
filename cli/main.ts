import { PolicyValidationError } from '../policy/values/errors';
import { packageRoot } from '../policy/io/scripts';
import { UsageError, type Command } from './args';
import { staleBuildMessage } from './fresh-build';

const USAGE = `usage: backup-policy <command> [options]

commands:
  validate <policy.ts|.yaml|.json>   check a policy; one line per service, or every issue with its path
  synth [--policy FILE] [--out DIR] [--stack ID]
                                     synthesize Terraform JSON (default: the bundled homelab policy into cdktf.out)
  plan-review --base REV [--policy FILE]
                                     Markdown: what the working tree changes in protection against REV
  lint [--policy FILE] [--pvcs FILE] [--lvm-class NAME]... [--nfs-class NAME]...
                                     judge a valid policy (RPO, retention, overlaps, copies) and, given
                                     the output of kubectl get pvc -A -o json, report PVCs no layer covers
  schema [--out FILE]                print (or write) the JSON Schema for YAML/JSON policies
  host-bundle --out DIR [--policy FILE]
                                     write the Proxmox host's scripts, units, host.env and install.sh into DIR
  restore <service> [--mode full|per-database] [--copy latest|FILE] [--database DB] [--yes]
          [--output yaml|json] [--print-commands] [--policy FILE]
                                     print the Kubernetes Job that restores a copy (kubectl apply -f -),
                                     or the same procedure as shell commands
  generate [--policy FILE] [--dir DIR]
                                     write the generated files (alert rules, promtool tests, schema) under DIR (default: .)
`;

/**
 * Each command lives in its own file and is loaded only when called, so `validate` never loads
 * cdktf and a broken command cannot break the others.
 */
const COMMANDS: Record<string, () => Command> = {
  validate: () => require('./commands/validate').validate,
  synth: () => require('./commands/synth').synth,
  generate: () => require('./commands/generate').generate,
  'plan-review': () => require('./commands/plan-review').planReview,
  lint: () => require('./commands/lint').lint,
  'host-bundle': () => require('./commands/host-bundle').hostBundle,
  schema: () => require('./commands/schema').schema,
  restore: () => require('./commands/restore').restore,
};

export function run(argv: string[], out: (line: string) => void = console.log, err: (line: string) => void = console.error): number {
  const args = [...argv];
  const command = args.shift();
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    out(USAGE.trimEnd());
    return command === undefined ? 2 : 0;
  }
  const stale = __filename.endsWith('.js') ? staleBuildMessage(packageRoot(), __filename) : undefined;
  if (stale && command !== 'schema') {
    err(`backup-policy: ${stale}`);
    return 2;
  }
  try {
    const load = COMMANDS[command];
    if (!load) throw new UsageError(`unknown command "${command}"`);
    return load()(args, { out, err });
  } catch (error) {
    if (error instanceof PolicyValidationError) {
      for (const issue of error.issues) err(issue);
      err(`${error.issues.length} issue${error.issues.length === 1 ? '' : 's'} found; nothing was written`);
      return 1;
    }
    // Thrown by stacks/synth.ts (known by name: the CLI loads cdktf only for synth).
    if (error instanceof Error && (error.name === 'OutputFolderError' || error.name === 'StateLocationError')) {
      err(`backup-policy: ${error.message}`);
      return 1;
    }
    if (error instanceof UsageError) {
      err(`backup-policy: ${error.message}\n${USAGE}`);
      return 2;
    }
    throw error;
  }
}

if (require.main === module) {
  process.exitCode = run(process.argv.slice(2));
}
