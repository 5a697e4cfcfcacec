import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { generatedFiles } from '../policy/generated-files';
import { lintPolicy, pvcCoverage } from '../policy/lint';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { PolicyValidationError } from '../policy/errors';
import { renderPolicyJsonSchema } from '../policy/json-schema';
import { loadPolicyAtRevision, loadPolicyFile } from '../policy/load';
import { reviewPolicies } from '../policy/review';
import { parsePolicy, planPolicy, type PlannedService } from '../policy/plan';
import type { BackupPolicyInput } from '../policy/schema';
import { packageRoot, readScript } from '../policy/scripts';
import { planHost } from '../policy/host-plan';
import { renderHostBundle, writeHostBundle } from '../policy/render/host-bundle';
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

/** Every value of a repeatable option. */
function options(args: string[], name: string): string[] {
  const values: string[] = [];
  for (let value = option(args, name); value !== undefined; value = option(args, name)) values.push(value);
  return values;
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
  if (stale && command !== undefined && !['help', '--help', 'schema'].includes(command)) {
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
      case 'plan-review': {
        const base = option(args, '--base');
        const policyFile = option(args, '--policy') ?? join(packageRoot(), 'stacks/homelab-policy.ts');
        if (!base || args.length > 0) throw new UsageError('plan-review takes --base <git revision> [--policy FILE]');
        const before = parsePolicy(loadPolicyAtRevision(base, policyFile, join(packageRoot(), 'node_modules')));
        const after = parsePolicy(loadPolicyFile(policyFile));
        out(reviewPolicies(before, after, base).trimEnd());
        return 0;
      }
      case 'lint': {
        const policyFile = option(args, '--policy');
        const pvcsFile = option(args, '--pvcs');
        const lvm = options(args, '--lvm-class');
        const nfs = options(args, '--nfs-class');
        if (args.length > 0) throw new UsageError(`unexpected arguments: ${args.join(' ')}`);
        const policy = parsePolicy(loadPolicy(policyFile));
        const plan = planPolicy(policy);
        const findings = lintPolicy(policy, plan);
        for (const f of findings) err(`${f.path}: ${f.message}`);
        let gaps = 0;
        if (pvcsFile) {
          const rows = pvcCoverage(policy, plan, JSON.parse(readFileSync(pvcsFile, 'utf8')), { lvm: lvm.length > 0 ? lvm : ['proxmox-lvm'], nfs });
          out('| PVC | storage class | covered by |');
          out('|---|---|---|');
          for (const row of rows) {
            const by = row.covered.length > 0 ? row.covered.join(', ') : row.excludedBy ? `nothing: excluded by ${row.excludedBy}` : '**nothing (not covered, not excluded)**';
            out(`| ${row.pvc} | ${row.storageClass || '(none)'} | ${by} |`);
            if (row.covered.length === 0 && !row.excludedBy) {
              gaps += 1;
              err(`pvcs.${row.pvc}: no layer covers this PVC and no exclusion names it`);
            }
          }
        }
        const problems = findings.length + gaps;
        (problems > 0 ? err : out)(`${problems} finding${problems === 1 ? '' : 's'}`);
        return problems > 0 ? 1 : 0;
      }
      case 'host-bundle': {
        const dir = option(args, '--out');
        const policyFile = option(args, '--policy');
        if (!dir || args.length > 0) throw new UsageError('host-bundle takes --out DIR and optionally --policy FILE');
        const host = planHost(parsePolicy(loadPolicy(policyFile)));
        if (!host) throw new PolicyValidationError(['host: the policy has no host section, received nothing, allowed: a host section to render a bundle from']);
        // A leftover file from an older bundle could be installed by mistake: only a fresh folder.
        if (existsSync(dir) && readdirSync(dir).length > 0) throw new UsageError(`${dir} is not empty; write the bundle into a new folder`);
        for (const name of writeHostBundle(dir, renderHostBundle(host, readScript))) out(`wrote ${join(dir, name)}`);
        out(`install on the host with: bash ${join(dir, 'install.sh')}`);
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
