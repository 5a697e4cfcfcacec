import type { z } from 'zod';
import { PolicyValidationError, closestName, dottedPath, formatIssues, issuePaths } from '../values/errors';
import { nameProblem, cronJobName, drillCronJobName, scriptConfigMapName, backupVolumeName } from '../values/names';
import { normalizeAbsolutePath, overlaps, type AbsolutePath } from '../values/path';
import { ENGINE_MODULES, engineOf, serviceSchema, type ParsedService } from '../engines/registry';
import { policySchema, serviceIdSchema, type ParsedPolicy, type PolicySettings } from './policy-schema';

/**
 * The one boundary where a declaration becomes values: every issue at once, each with its dotted
 * path. Nothing after this reads the declaration's text again.
 */
export function parsePolicy(input: unknown): ParsedPolicy {
  const reserved = reservedKeyIssues(input, []);
  if (reserved.length > 0) throw new PolicyValidationError(reserved.map((r) => r.issue), reserved.map((r) => r.path));
  const result = policySchema.safeParse(input, { reportInput: true });
  if (!result.success) throw new PolicyValidationError(formatIssues(result.error, [], suggestField(policySchema, input)), issuePaths(result.error));
  const issues = crossServiceIssues(result.data);
  if (issues.length > 0) throw new PolicyValidationError(issues.map((i) => i.issue), issues.map((i) => i.path));
  return result.data;
}

/**
 * Keys JavaScript treats specially. A YAML `__proto__:` service replaced the object's prototype
 * and vanished from the policy without a word; `constructor` reads as a function on any plain
 * object, which lookups by id then mistake for a service.
 */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function reservedKeyIssues(value: unknown, path: PropertyKey[]): { issue: string; path: PropertyKey[] }[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => reservedKeyIssues(item, [...path, i]));
  if (!value || typeof value !== 'object') return [];
  const issues: { issue: string; path: PropertyKey[] }[] = [];
  // Some realm's Object.prototype (a test runner or vm has its own) or none: plain data.
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== null && Object.getPrototypeOf(prototype) !== null) {
    issues.push({ issue: `${dottedPath(path)}: not a plain object (a "__proto__" key or a class instance), received an object with its own prototype, allowed: plain data`, path });
  }
  for (const key of Object.keys(value)) {
    const at = [...path, key];
    if (RESERVED_KEYS.has(key)) issues.push({ issue: `${dottedPath(at)}: reserved key, received "${key}", allowed: any other name (JavaScript gives "${key}" a meaning of its own)`, path: at });
    else issues.push(...reservedKeyIssues((value as Record<string, unknown>)[key], at));
  }
  return issues;
}

/**
 * The field names the schema allows where an unknown one was found, to propose the closest.
 * Walks zod's definitions along the issue path; a discriminated union picks the branch the
 * input's discriminator names (so a postgres service gets postgres' fields).
 */
function suggestField(schema: z.ZodType, input: unknown) {
  return (path: readonly PropertyKey[], unknownKey: string): string | undefined => {
    const keys = knownKeysAt(schema, path, input);
    return keys ? closestName(unknownKey, keys) : undefined;
  };
}

type ZodDef = { type: string; shape?: Record<string, z.ZodType>; innerType?: z.ZodType; in?: z.ZodType; valueType?: z.ZodType; element?: z.ZodType; options?: z.ZodType[]; discriminator?: string };

function defOf(schema: z.ZodType): ZodDef {
  return (schema as unknown as { _zod: { def: ZodDef } })._zod.def;
}

function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[], input: unknown): string[] | undefined {
  const def = defOf(schema);
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
      return knownKeysAt(def.innerType!, path, input);
    case 'pipe':
      return knownKeysAt(def.in!, path, input);
    case 'union': {
      const discriminator = def.discriminator;
      const wanted = discriminator && input && typeof input === 'object' ? (input as Record<string, unknown>)[discriminator] : undefined;
      const option = def.options!.find((o) => {
        const shape = objectShape(o);
        const tag = shape && discriminator ? defOf(shape[discriminator]) as { values?: unknown[] } : undefined;
        return tag?.values?.includes(wanted);
      });
      return option ? knownKeysAt(option, path, input) : undefined;
    }
    case 'object': {
      if (path.length === 0) return Object.keys(def.shape!);
      const child = def.shape![String(path[0])];
      return child ? knownKeysAt(child, path.slice(1), childOf(input, path[0])) : undefined;
    }
    case 'record':
      return path.length === 0 ? undefined : knownKeysAt(def.valueType!, path.slice(1), childOf(input, path[0]));
    case 'array':
      return path.length === 0 ? undefined : knownKeysAt(def.element!, path.slice(1), childOf(input, path[0]));
    default:
      return undefined;
  }
}

function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  const def = defOf(schema);
  if (def.type === 'object') return def.shape;
  if (def.innerType) return objectShape(def.innerType);
  if (def.type === 'pipe') return objectShape(def.in!);
  return undefined;
}

function childOf(value: unknown, key: PropertyKey): unknown {
  return value && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[key] : undefined;
}

/** Parses one service for `addService`, reporting paths as `services.<id>.…`. */
export function parseService(id: string, input: unknown): ParsedService {
  const idResult = serviceIdSchema.safeParse(id, { reportInput: true });
  const result = serviceSchema.safeParse(input, { reportInput: true });
  const issues = [
    ...(idResult.success ? [] : formatIssues(idResult.error, ['services', id])),
    ...(result.success ? [] : formatIssues(result.error, ['services', id], suggestField(serviceSchema, input))),
    ...reservedKeyIssues(input, ['services', id]).map((r) => r.issue),
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
  const drill = service.drill;
  const module = engineOf(service);
  if (drill !== undefined && drill.enabled) {
    if (!drill.schedule && !settings.drills) issues.push(`${at}.drill: a drill needs a schedule, received none here and no policy-wide drills.schedule, allowed: drill.schedule or drills.schedule`);
    const drillSchedule = drill.schedule ?? settings.drills?.schedule;
    if (drill.timeout && drillSchedule && drill.timeout.totalSeconds >= drillSchedule.shortestGap.totalSeconds) {
      issues.push(`${at}.drill: the drill deadline is not shorter than the gap between drills, so drills would be skipped; received ${drill.timeout.toString()}, allowed: less than ${drillSchedule.shortestGap.toString()}`);
    }
    if (drill.queries.length > 0 && !module.drill?.queries) issues.push(`${at}.drill: queries are SQL checks, received ${drill.queries.length} for a ${service.engine} service, allowed: queries only for ${ENGINE_MODULES.filter((m) => m.drill?.queries).map((m) => m.engine).join(', ')}`);
  }
  if ((drill ? drill.enabled : settings.drills !== undefined) && module.drill) {
    for (const kind of module.drill.kinds) {
      const problem = nameProblem('CronJob', drillCronJobName(id, kind));
      if (problem) issues.push(`${at}: ${problem}; received service id "${id}", allowed: a shorter id`);
    }
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

function crossServiceIssues(policy: ParsedPolicy): { issue: string; path: PropertyKey[] }[] {
  const issues: { issue: string; path: PropertyKey[] }[] = [];
  const owners: [AbsolutePath, string][] = [];
  for (const id of Object.keys(policy.services).sort()) {
    const service = policy.services[id];
    // The messages name their field (".timeout", ".nfsPath"); pointing at the service is close enough.
    for (const issue of serviceIssues(policy, id, service)) issues.push({ issue, path: ['services', id, ...fieldOf(issue, id)] });
    const path = nfsPathOf(policy, id, service);
    const clash = directoryOwnerIssue(id, path, owners);
    if (clash) issues.push({ issue: clash, path: ['services', id, 'nfsPath'] });
    else owners.push([path, id]);
  }
  return issues;
}

function fieldOf(issue: string, id: string): string[] {
  const field = new RegExp(`^services\\.${id}\\.([A-Za-z]+):`).exec(issue);
  return field ? [field[1]] : [];
}
