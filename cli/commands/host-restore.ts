import { planPolicy } from '../../policy/plan/plan';
import { hostRestoreProblem, renderHostRestore, type HostRestoreRequest } from '../../policy/render/host-restore';
import { UsageError, loadPolicy, noMoreArguments, option, withPolicySource, type Command } from '../args';

/**
 * host-restore files --week YYYY-WW|latest --pvc NS/PVC [--path PATH] --to DIR [--yes] [--policy FILE]
 * host-restore sqlite --db NS/PVC/PATH [--copy latest|NAME] --to FILE [--yes] [--policy FILE]
 * host-restore list --pvc NS/PVC | --db NS/PVC/PATH [--policy FILE]
 * Prints the command to run as root on the Proxmox host: these layers have no Job to apply.
 * (A verb of its own, not `restore host ...`: "host" is a valid service id.)
 */
/** Takes `name VALUE` out of args, VALUE whatever follows (a file may be named "--x"). */
function anyValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i === -1) return undefined;
  if (i + 1 >= args.length) throw new UsageError(`${name} needs a value`);
  return args.splice(i, 2)[1];
}

export const hostRestore: Command = (argv, { out }) => {
  const args = [...argv];
  const kind = args.shift();
  if (kind !== 'files' && kind !== 'sqlite' && kind !== 'list') {
    throw new UsageError(`host-restore takes files, sqlite or list first, received ${kind === undefined ? 'nothing' : JSON.stringify(kind)}`);
  }
  const policyFile = option(args, '--policy');
  const week = option(args, '--week');
  const pvc = option(args, '--pvc');
  const path = anyValue(args, '--path');
  const db = anyValue(args, '--db');
  const copy = option(args, '--copy');
  const to = anyValue(args, '--to');
  const yes = args.includes('--yes');
  if (yes) args.splice(args.indexOf('--yes'), 1);
  noMoreArguments(args);
  const unused = (names: [string, unknown][]) => {
    const given = names.filter(([, v]) => v !== undefined && v !== false).map(([n]) => n);
    if (given.length > 0) throw new UsageError(`host-restore ${kind} does not take ${given.join(', ')}`);
  };
  const required = (name: string, value: string | undefined): string => {
    if (value === undefined) throw new UsageError(`host-restore ${kind} needs ${name}`);
    return value;
  };
  let request: HostRestoreRequest;
  if (kind === 'files') {
    unused([['--db', db], ['--copy', copy]]);
    request = { kind, week: week ?? 'latest', pvc: required('--pvc', pvc), ...(path !== undefined ? { path } : {}), to: required('--to', to), overwrite: yes };
  } else if (kind === 'sqlite') {
    unused([['--week', week], ['--pvc', pvc], ['--path', path]]);
    request = { kind, db: required('--db', db), copy: copy ?? 'latest', to: required('--to', to), overwrite: yes };
  } else {
    unused([['--week', week], ['--path', path], ['--copy', copy], ['--to', to], ['--yes', yes]]);
    request = { kind, ...(pvc !== undefined ? { pvc } : {}), ...(db !== undefined ? { db } : {}) };
  }
  const plan = withPolicySource(loadPolicy(policyFile), planPolicy);
  if (!plan.host) throw new UsageError('the policy has no host section: there is no Proxmox host to restore on');
  const problem = hostRestoreProblem(plan.host, request);
  if (problem) throw new UsageError(problem);
  out(renderHostRestore(plan.host, request).trimEnd());
  return 0;
};
