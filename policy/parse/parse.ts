import { PolicyValidationError, formatIssues } from '../values/errors';
import { nameProblem, cronJobName, scriptConfigMapName, backupVolumeName } from '../values/names';
import { normalizeAbsolutePath, overlaps, type AbsolutePath } from '../values/path';
import { engineOf, serviceSchema, type ParsedService } from '../engines/registry';
import { policySchema, serviceIdSchema, type ParsedPolicy, type PolicySettings } from './policy-schema';

/**
 * The one boundary where a declaration becomes values: every issue at once, each with its dotted
 * path. Nothing after this reads the declaration's text again.
 */
export function parsePolicy(input: unknown): ParsedPolicy {
  const result = policySchema.safeParse(input, { reportInput: true });
  if (!result.success) throw new PolicyValidationError(formatIssues(result.error));
  const issues = crossServiceIssues(result.data);
  if (issues.length > 0) throw new PolicyValidationError(issues);
  return result.data;
}

/** Parses one service for `addService`, reporting paths as `services.<id>.…`. */
export function parseService(id: string, input: unknown): ParsedService {
  const idResult = serviceIdSchema.safeParse(id, { reportInput: true });
  const result = serviceSchema.safeParse(input, { reportInput: true });
  const issues = [
    ...(idResult.success ? [] : formatIssues(idResult.error, ['services', id])),
    ...(result.success ? [] : formatIssues(result.error, ['services', id])),
  ];
  if (issues.length > 0 || !result.success) throw new PolicyValidationError(issues);
  return result.data;
}

/** The service's backup directory on the NFS server, normalized like every other path. */
export function nfsPathOf(settings: Pick<PolicySettings, 'nfs'>, id: string, service: ParsedService): AbsolutePath {
  if (service.nfsPath) return service.nfsPath;
  const path = normalizeAbsolutePath(settings.nfs.pathTemplate.replace('{service}', id));
  // The template was checked at the parse with a placeholder id; a service id is a DNS label.
  if (typeof path !== 'string') throw new Error(`nfs.pathTemplate gives an unusable path for ${id}: ${path.problem}`);
  return path;
}

/** Problems that only show across fields of one service: names, paths, deadlines. */
export function serviceIssues(settings: PolicySettings, id: string, service: ParsedService): string[] {
  const at = `services.${id}`;
  const issues: string[] = [];
  for (const job of engineOf(service).jobs(service)) {
    const problem = nameProblem('CronJob', cronJobName(id, job.kind));
    if (problem) issues.push(`${at}: ${problem}; received service id "${id}", allowed: a shorter id`);
    const gap = job.schedule.shortestGap;
    const timeout = service.timeout;
    if (timeout && timeout.totalSeconds >= gap.totalSeconds) {
      issues.push(`${at}.timeout: the job deadline is not shorter than the gap between runs of its ${job.kind} job, so runs would be skipped; received ${timeout.toString()}, allowed: less than ${gap.toString()}`);
    }
  }
  for (const [kind, name] of [['ConfigMap', scriptConfigMapName(id)], ['PersistentVolume', backupVolumeName(id)]] as const) {
    const problem = nameProblem(kind, name);
    if (problem) issues.push(`${at}: ${problem}`);
  }
  if (nfsPathOf(settings, id, service) === '/') issues.push(`${at}.nfsPath: the backup directory cannot be the export root, received "/", allowed: a directory of its own`);
  return issues;
}

/**
 * One backup directory per service, compared as normalized paths and by containment: retention
 * in one directory would delete the other's copies, and a directory inside another is walked by
 * the outer one's retention too.
 */
export function directoryOwnerIssue(id: string, path: AbsolutePath, owners: Iterable<[AbsolutePath, string]>): string | undefined {
  for (const [other, owner] of owners) {
    if (overlaps(path, other)) {
      return `services.${id}.nfsPath: backup directory ${path === other ? 'already used' : 'overlaps the one used'} by service "${owner}", received "${path}" and "${other}", allowed: a directory no other service writes and that contains no other service's (retention would delete the other's copies)`;
    }
  }
  return undefined;
}

function crossServiceIssues(policy: ParsedPolicy): string[] {
  const issues: string[] = [];
  const owners: [AbsolutePath, string][] = [];
  for (const id of Object.keys(policy.services).sort()) {
    const service = policy.services[id];
    issues.push(...serviceIssues(policy, id, service));
    const path = nfsPathOf(policy, id, service);
    const clash = directoryOwnerIssue(id, path, owners);
    if (clash) issues.push(clash);
    else owners.push([path, id]);
  }
  return issues;
}
