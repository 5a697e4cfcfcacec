import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { generatedFiles } from '../policy/generated-files';
import { PolicyValidationError } from '../policy/errors';
import { renderPolicyJsonSchema } from '../policy/json-schema';
import { loadPolicyFile } from '../policy/load';
import { parsePolicy, planPolicy, type PlannedService } from '../policy/plan';
import type { BackupPolicyInput } from '../policy/schema';
import { packageRoot } from '../policy/scripts';
import { staleBuildMessage } from './fresh-build';

const USAGE = `usage: backup-policy <command> [options]

commands:
  validate <policy.ts|.yaml|.json>   check a policy; one line per service, or every issue with its path
  synth [--policy FILE] [--out DIR] [--stack ID]
                                     synthesize Terraform JSON (default: the bundled homelab policy into cdktf.out)
  schema [--out FILE]                print (or write) the JSON Schema for YAML/JSON policies
  generate [--policy FILE] [--dir DIR]
                                     write the generated files (alert rules, promtool tests, schema) under DIR (default: .)
`;

class UsageError extends Error {}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i === -1) return undefined;
  const value = args[i + 1];
  if (value === undefined || value.startsWith('--')) throw new UsageError(`${name} needs a value`);
  args.splice(i, 2);
  return value;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

function describeService(service: PlannedService): string {
  const jobs = service.jobs.map((job) => `${job.kind} ${lowerFirst(job.schedule.toHuman())}`).join('; ');
  const retention = service.jobs.find((j) => j.retention)?.retention?.toHuman() ?? 'none';
  return `${service.id.padEnd(20)} ${service.engine.padEnd(9)} ${service.namespace.padEnd(14)} ${jobs}; keep ${retention}`;
}

function loadPolicy(file: string | undefined): BackupPolicyInput {
  if (file) return loadPolicyFile(file) as BackupPolicyInput;
  // The bundled policy is loaded lazily so that `validate FILE` never touches it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('../stacks/homelab-policy') as typeof import('../stacks/homelab-policy')).homelabPolicy;
}

export function run(argv: string[], out: (line: string) => void = console.log, err: (line: string) => void = console.error): number {
  const args = [...argv];
  const command = args.shift();
  const stale = __filename.endsWith('.js') ? staleBuildMessage(packageRoot(), __filename) : undefined;
  if (stale && (command === 'validate' || command === 'synth' || command === 'generate')) {
    err(`backup-policy: ${stale}`);
    return 2;
  }
  try {
    switch (command) {
      case 'validate': {
        if (args.length !== 1) throw new UsageError('validate takes exactly one policy file');
        const plan = planPolicy(parsePolicy(loadPolicy(args[0])));
        for (const service of plan.services) out(describeService(service));
        out(`valid: ${plan.services.length} services, ${plan.services.reduce((n, s) => n + s.jobs.length, 0)} jobs, time zone ${plan.timeZone}`);
        return 0;
      }
      case 'synth': {
        const policyFile = option(args, '--policy');
        const outDir = option(args, '--out') ?? 'cdktf.out';
        const stackId = option(args, '--stack') ?? 'homelab';
        if (args.length > 0) throw new UsageError(`unexpected arguments: ${args.join(' ')}`);
        const policy = loadPolicy(policyFile);
        // cdktf is loaded only here: validate and schema stay fast and free of it.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { synthPolicy } = require('../stacks/synth') as typeof import('../stacks/synth');
        const written = synthPolicy({ policy, outDir, stackId });
        out(`synthesized stack "${stackId}" into ${written}`);
        return 0;
      }
      case 'generate': {
        const policyFile = option(args, '--policy');
        const dir = option(args, '--dir') ?? '.';
        if (args.length > 0) throw new UsageError(`unexpected arguments: ${args.join(' ')}`);
        // Everything is rendered before the first write, so an invalid policy writes nothing.
        const files = generatedFiles(loadPolicy(policyFile));
        for (const [path, text] of Object.entries(files)) {
          mkdirSync(dirname(join(dir, path)), { recursive: true });
          writeFileSync(join(dir, path), text);
          out(`wrote ${join(dir, path)}`);
        }
        return 0;
      }
      case 'schema': {
        const file = option(args, '--out');
        if (file) writeFileSync(file, renderPolicyJsonSchema());
        else out(renderPolicyJsonSchema().trimEnd());
        return 0;
      }
      case undefined:
      case '--help':
      case 'help':
        out(USAGE.trimEnd());
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof PolicyValidationError) {
      for (const issue of error.issues) err(issue);
      err(`${error.issues.length} issue${error.issues.length === 1 ? '' : 's'} found; nothing was written`);
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
