import { stringify } from 'yaml';
import { planPolicy } from '../../policy/plan/plan';
import { renderRestoreCommands, renderRestoreJob, restoreProblem, type RestoreRequest } from '../../policy/render/restore-job';
import { UsageError, loadPolicy, option, withPolicySource, type Command } from '../args';

/**
 * restore <service> [--mode full|per-database] [--copy latest|FILE] [--database DB] [--target T] [--yes]
 *   [--output yaml|json] [--print-commands] [--policy FILE]
 * Prints the restore Job (for `kubectl apply -f -`) or the same procedure as shell commands.
 */
export const restore: Command = (args, { out }) => {
  const policyFile = option(args, '--policy');
  const mode = option(args, '--mode');
  const copy = option(args, '--copy') ?? 'latest';
  const database = option(args, '--database');
  const target = option(args, '--target');
  const output = option(args, '--output') ?? 'yaml';
  const flags = new Set(args.filter((a) => a.startsWith('--')));
  const rest = args.filter((a) => !a.startsWith('--'));
  const unknown = [...flags].filter((f) => f !== '--yes' && f !== '--print-commands');
  if (rest.length !== 1 || unknown.length > 0) throw new UsageError(`restore takes one service id and options${unknown.length > 0 ? `; unknown: ${unknown.join(' ')}` : ''}`);
  if (output !== 'yaml' && output !== 'json') throw new UsageError(`--output is yaml or json, received "${output}"`);
  const plan = withPolicySource(loadPolicy(policyFile), planPolicy);
  const service = plan.services.find((s) => s.id === rest[0]);
  if (!service) {
    // "host" is a valid service id, so the host's layers have a verb of their own; point there.
    const host = plan.host && rest[0] === 'host' ? '; the Proxmox host\'s file and SQLite copies: backup-policy host-restore files|sqlite ...' : '';
    throw new UsageError(`no service "${rest[0]}" in the policy; services: ${plan.services.map((s) => s.id).join(', ')}${host}`);
  }
  const modes = service.restore?.modes ?? [];
  const chosen = (mode ?? (database !== undefined ? 'per-database' : modes.includes('full') ? 'full' : modes[0] ?? 'full')) as RestoreRequest['mode'];
  const request: RestoreRequest = { mode: chosen, copy, database, overwrite: flags.has('--yes'), ...(target !== undefined ? { target } : {}) };
  const problem = restoreProblem(service, request);
  if (problem) throw new UsageError(problem);
  const job = renderRestoreJob(service, request, new Date());
  const manifest = output === 'json' ? `${JSON.stringify(job, null, 2)}\n` : stringify(job, { lineWidth: 0, aliasDuplicateObjects: false });
  out((flags.has('--print-commands') ? renderRestoreCommands(job, manifest) : manifest).trimEnd());
  return 0;
};
