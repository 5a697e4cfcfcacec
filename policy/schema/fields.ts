import { z } from 'zod';
import { Duration, DURATION_SYNTAX } from '../values/duration';
import { Retention } from '../values/retention';
import { Schedule, SCHEDULE_SYNTAX } from '../values/schedule';
import { DNS_LABEL_PATTERN } from '../values/names';
import { normalizeAbsolutePath, normalizeRelativePath, SAFE_PATH, type AbsolutePath, type RelativePath } from '../values/path';

/**
 * The field schemas every part of the policy is built from. Authors write strings; parsing turns
 * them into values (Duration, Schedule, Retention, normalized paths, canonical zone names) once, so
 * nothing after the parse reads a string back. The input side (what the editor JSON Schema
 * describes) stays the strings people write. Messages follow "what is wrong, received X, allowed
 * Y"; the dotted path is added by formatIssues.
 */

export function show(value: unknown): string {
  // JSON quoting: a received value with a newline or an escape code stays on its issue's line.
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export function custom<T>(ctx: z.RefinementCtx<T>, input: unknown, message: string) {
  ctx.addIssue({ code: 'custom', input, message });
}

/**
 * Patterns for the editor JSON Schema: the same syntax the CLI parses (Duration, Schedule), as
 * a necessary condition. Bounds such as 100 years or a cron field's range are left to the CLI.
 */
const DURATION_JSON_PATTERN = '^\\s*(?=\\d)(\\d+w)?(\\d+d)?(\\d+h)?(\\d+m)?(\\d+s)?\\s*$';
/** Case-insensitive without regex flags (JSON Schema has none): "Daily" -> "[dD][aA][iI][lL][yY]". */
const anyCase = (word: string) => word.replace(/[a-z]/g, (c) => `[${c}${c.toUpperCase()}]`);
const DAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'].map(anyCase).join('|');
const TIME = '([01]?\\d|2[0-3]):[0-5]\\d';
const CRON_FIELD = '[0-9A-Za-z*,/-]+';
const SCHEDULE_JSON_PATTERN = `^\\s*(${[
  `@?(${['hourly', 'daily', 'weekly', 'monthly'].map(anyCase).join('|')})`,
  `@${anyCase('midnight')}`,
  `${anyCase('daily')}\\s+(${anyCase('at')}\\s+)?${TIME}`,
  `${anyCase('weekly')}\\s+(${anyCase('on')}\\s+)?(${DAYS})(\\s+(${anyCase('at')}\\s+)?${TIME})?`,
  `${anyCase('every')}\\s+\\d+\\s?(${['hours', 'hour', 'h', 'minutes', 'minute', 'min', 'm'].map(anyCase).join('|')})`,
  `${CRON_FIELD}(\\s+${CRON_FIELD}){4}`,
].join('|')})\\s*$`;

export const durationSchema = z
  .string({ error: (iss) => `expected a duration, received ${show(iss.input)}, allowed: ${DURATION_SYNTAX}` })
  .meta({ description: DURATION_SYNTAX, examples: ['14d', '36h', '30m'], pattern: DURATION_JSON_PATTERN })
  .transform((text, ctx) => {
    const parsed = Duration.tryParse(text);
    if (parsed) return parsed;
    custom(ctx, text, `not a duration, received ${show(text)}, allowed: ${DURATION_SYNTAX}`);
    return z.NEVER;
  });

export const scheduleSchema = z
  .string({ error: (iss) => `expected a schedule, received ${show(iss.input)}, allowed: ${SCHEDULE_SYNTAX}` })
  .meta({ description: SCHEDULE_SYNTAX, examples: ['daily at 00:15', 'weekly on sunday at 02:30', 'every 6h', '0 3 * * *'], pattern: SCHEDULE_JSON_PATTERN })
  .transform((text, ctx) => {
    const parsed = Schedule.tryParse(text);
    if (typeof parsed !== 'string') return parsed;
    custom(ctx, text, `${parsed}, received ${show(text)}, allowed: ${SCHEDULE_SYNTAX}`);
    return z.NEVER;
  });

export const dnsLabel = (what: string, max = 63) =>
  z
    .string({ error: (iss) => `expected ${what} (a DNS-1123 label), received ${show(iss.input)}` })
    .superRefine((text, ctx) => {
      if (!DNS_LABEL_PATTERN.test(text)) {
        custom(ctx, text, `${what} is not a DNS-1123 label, received ${show(text)}, allowed: lowercase letters, digits and "-", starting and ending with a letter or digit`);
      } else if (text.length > max) {
        custom(ctx, text, `${what} is too long, received ${text.length} characters, allowed: at most ${max}`);
      }
    })
    // The editor checks the same rule as the CLI (superRefine alone leaves no trace in the JSON Schema).
    .meta({ pattern: DNS_LABEL_PATTERN.source, maxLength: max });

/** An absolute path, normalized at the parse (`//` and `/./` collapsed, no trailing slash, no `..`). */
export const absolutePathSchema = z
  .string({ error: (iss) => `expected an absolute path, received ${show(iss.input)}` })
  .transform((text, ctx): AbsolutePath => {
    const path = normalizeAbsolutePath(text);
    if (typeof path === 'string') return path;
    custom(ctx, text, `${path.problem.replace(', allowed', `, received ${show(text)}, allowed`)}`);
    return z.NEVER;
  });

/** A path inside a volume, normalized at the parse. */
export const relativePathSchema = z
  .string({ error: (iss) => `expected a relative path, received ${show(iss.input)}` })
  .transform((text, ctx): RelativePath => {
    const path = normalizeRelativePath(text);
    if (typeof path === 'string') return path;
    custom(ctx, text, `${path.problem.replace(', allowed', `, received ${show(text)}, allowed`)}`);
    return z.NEVER;
  });

const HOST = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const hostSchema = z
  .string({ error: (iss) => `expected a host name or IPv4 address, received ${show(iss.input)}` })
  .refine((text) => HOST.test(text), {
    error: (iss) => `not a host name or IPv4 address, received ${show(iss.input)}, allowed: lowercase DNS names such as "postgresql.dbaas.svc.cluster.local" or "192.168.1.127"`,
  });

export const urlSchema = z
  .string({ error: (iss) => `expected an http(s) URL, received ${show(iss.input)}` })
  .superRefine((text, ctx) => {
    let url: URL | undefined;
    try {
      url = new URL(text);
    } catch {
      url = undefined;
    }
    // The fragment is checked too: it reaches the rendered env and Terraform like the rest.
    if (!url || !['http:', 'https:'].includes(url.protocol) || !HOST.test(url.hostname) || url.username || url.password || url.search || url.hash || text.includes('#') || !SAFE_PATH.test(url.pathname)) {
      custom(ctx, text, `not a plain http(s) URL, received ${show(text)}, allowed: http(s)://host[:port][/path] without credentials, query or fragment`);
    }
  });

export const portSchema = z
  .number({ error: (iss) => `expected a port number, received ${show(iss.input)}` })
  .int({ error: (iss) => `a port is a whole number, received ${show(iss.input)}` })
  .min(1, { error: (iss) => `port out of range, received ${show(iss.input)}, allowed: 1-65535` })
  .max(65535, { error: (iss) => `port out of range, received ${show(iss.input)}, allowed: 1-65535` });

/** IANA zone, canonicalized: systemd refuses "europe/london", which Intl accepts. */
export const timeZoneSchema = z.string({ error: (iss) => `expected an IANA time zone, received ${show(iss.input)}` }).transform((tz, ctx) => {
  try {
    return new Intl.DateTimeFormat('en', { timeZone: tz }).resolvedOptions().timeZone;
  } catch {
    custom(ctx, tz, `unknown time zone, received ${show(tz)}, allowed: an IANA zone such as "Europe/London" or "UTC"`);
    return z.NEVER;
  }
});

const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
/** A reference to a key of a Kubernetes Secret in the service's namespace: never the secret itself. */
export const secretKeyRefSchema = z
  .strictObject({
    name: dnsLabel('Secret name', 253),
    key: z.string().regex(SECRET_KEY, { error: (iss) => `not a Secret key, received ${show(iss.input)}, allowed: letters, digits, "-", "_", "."` }),
  }, { error: (iss) => iss.input === undefined ? 'missing credentials reference, received nothing, allowed: { name: <Secret name>, key: <key in that Secret> }' : `expected a Secret reference, received ${show(iss.input)}, allowed: { name: <Secret name>, key: <key in that Secret> }` })
  .meta({ description: 'A key of a Kubernetes Secret in the service namespace. The value never enters the policy or the synthesized output.' });

const QUANTITY = /^\d+(\.\d+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/;
export const quantitySchema = z.string().regex(QUANTITY, { error: (iss) => `not a Kubernetes quantity, received ${show(iss.input)}, allowed: e.g. "250m", "1", "512Mi", "2Gi"` });

export const resourcesSchema = z.strictObject({
  requests: z.strictObject({ cpu: quantitySchema, memory: quantitySchema }),
  limits: z.strictObject({ cpu: quantitySchema.optional(), memory: quantitySchema }),
}).meta({ description: 'Container requests and limits. @default per engine (see policy/engines/)' });

/** Tags must pin a version: "latest" or a missing tag makes the job change under you. */
const IMAGE = /^[a-z0-9]+([._\/:-][a-z0-9]+)*(:[A-Za-z0-9][A-Za-z0-9._-]{0,127}|@sha256:[a-f0-9]{64})$/;
export const imageSchema = z
  .string({ error: (iss) => `expected a container image, received ${show(iss.input)}` })
  .superRefine((text, ctx) => {
    const tag = text.includes('@') ? undefined : text.slice(text.lastIndexOf(':') + 1);
    if (!IMAGE.test(text) || !/[:@]/.test(text.slice(text.lastIndexOf('/') + 1))) {
      custom(ctx, text, `image is not pinned, received ${show(text)}, allowed: repository:tag or repository@sha256:digest`);
    } else if (tag === 'latest') {
      custom(ctx, text, `image tag "latest" is not pinned, received ${show(text)}, allowed: a version tag or a digest`);
    }
  })
  .meta({ pattern: `^(?!.*:latest$)${IMAGE.source.slice(1)}` });

export const countSchema = (what: string, min: number, why: string) =>
  z
    .number({ error: (iss) => `expected a count, received ${show(iss.input)}` })
    .int({ error: (iss) => `${what} is a whole number, received ${show(iss.input)}` })
    .min(min, { error: (iss) => `${what} ${why}, received ${show(iss.input)}, allowed: ${min} or more` })
    // Rendered into bash arithmetic and env vars: keep it far from any overflow.
    .max(100000, { error: (iss) => `${what} is too large, received ${show(iss.input)}, allowed: at most 100000` });

export const retentionSchema = z
  .strictObject({
    keepWithin: durationSchema.meta({ description: 'Copies younger than this are always kept.' }),
    keepLast: countSchema('keepLast', 1, 'must keep at least the newest copy').meta({
      description: 'The newest N verified copies are kept whatever their age, so a run of bad or missing backups never rotates out the last good ones.',
    }),
  })
  .transform(({ keepWithin, keepLast }) => Retention.of(keepWithin, keepLast))
  .meta({ description: 'A copy is deleted only when older than keepWithin and not among the keepLast newest.' });

/**
 * A fraction rendered into bash as a plain decimal: at most 4 decimal places, so it never
 * renders as "1e-7" (which made every job die at start).
 */
export const ratioSchema = z
  .number({ error: (iss) => `expected a fraction, received ${show(iss.input)}` })
  .min(0, { error: (iss) => `fraction out of range, received ${show(iss.input)}, allowed: 0 to 1` })
  .max(1, { error: (iss) => `fraction out of range, received ${show(iss.input)}, allowed: 0 to 1` })
  .refine((n) => Number.isInteger(Math.round(n * 10000)) && Math.abs(n * 10000 - Math.round(n * 10000)) < 1e-6, {
    error: (iss) => `too many decimal places, received ${show(iss.input)}, allowed: at most 4 (e.g. 0.5, 0.05, 0.0001)`,
  });

export const jobScheduleSchema = z.strictObject({ schedule: scheduleSchema });

/** Label keys and values as Kubernetes accepts them (qualified names; values of at most 63). */
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
export const labelKeySchema = z.string().regex(LABEL_KEY, { error: (iss) => `not a Kubernetes label key, received ${show(iss.input)}, allowed: [prefix/]name of letters, digits, "-", "_", "."` });
export const labelValueSchema = z.string().regex(LABEL_VALUE, { error: (iss) => `not a Kubernetes label value, received ${show(iss.input)}, allowed: at most 63 letters, digits, "-", "_", ".", starting and ending alphanumeric` });

export const placementSchema = z.strictObject({
  nodeSelector: z.record(labelKeySchema, labelValueSchema).optional(),
  tolerations: z
    .array(z.strictObject({
      key: labelKeySchema.optional(),
      operator: z.enum(['Exists', 'Equal']).optional(),
      value: labelValueSchema.optional(),
      effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
    }))
    .optional(),
  hostNetwork: z.boolean().optional().meta({ description: 'Run in the node network namespace (etcd on a control-plane node listens on 127.0.0.1).' }),
});

/** Alert names are CamelCase words; the spec's names (PostgreSQLBackupStale) keep existing routes working. */
export const displayNameSchema = z.string().regex(/^[A-Z][A-Za-z0-9]*$/, {
  error: (iss) => `not usable in an alert name, received ${show(iss.input)}, allowed: a CamelCase word such as "PostgreSQL" or "Vaultwarden"`,
});

/** Fields every service has, whatever its engine. */
/** What a drill query may expect: a count or another whole number, within what bash arithmetic takes. */
const DRILL_EXPECTATION = (what: string) =>
  z
    .number({ error: (iss) => `expected a number, received ${show(iss.input)}, allowed: ${what}, a whole number 0-2147483647` })
    .int({ error: (iss) => `not a whole number, received ${show(iss.input)}, allowed: ${what}, a whole number 0-2147483647` })
    .min(0, { error: (iss) => `below 0, received ${show(iss.input)}, allowed: ${what}, a whole number 0-2147483647` })
    .max(2147483647, { error: (iss) => `too large, received ${show(iss.input)}, allowed: ${what}, a whole number 0-2147483647` });

/**
 * A check a restore drill runs on the restored copy: one SQL query returning one number, compared
 * with `equals`, or bounded by `min`/`max`. Passed to the drill as JSON (never through a shell).
 */
export const drillQuerySchema = z
  .strictObject({
    database: z
      .string()
      .regex(/^[^\u0000-\u001f\u007f]{1,255}$/, { error: (iss) => `not a database name, received ${show(iss.input)}, allowed: 1-255 printable characters` })
      .optional()
      .meta({ description: 'The database the query runs in (SQLite: ignored). @default the only database of a per-database copy, else the engine\'s maintenance database' }),
    sql: z
      .string()
      .regex(/^[^\u0000]{1,10000}$/, { error: (iss) => `not a query, received ${show(iss.input)}, allowed: 1-10000 characters of SQL returning one number` })
      .meta({ description: 'SQL returning one row with one number, e.g. "select count(*) from users".' }),
    min: DRILL_EXPECTATION('the smallest acceptable result').optional(),
    max: DRILL_EXPECTATION('the largest acceptable result').optional(),
    equals: DRILL_EXPECTATION('the exact expected result').optional(),
  })
  .superRefine((q, ctx) => {
    if (q.min === undefined && q.max === undefined && q.equals === undefined) {
      ctx.addIssue({ code: 'custom', path: ['min'], input: q, message: 'a query without an expectation checks nothing, received none of min, max, equals, allowed: at least one of them' });
    }
    if (q.min !== undefined && q.max !== undefined && q.min > q.max) {
      ctx.addIssue({ code: 'custom', path: ['max'], input: q.max, message: `the range is empty, received min ${q.min} and max ${q.max}, allowed: min <= max` });
    }
  });

/** Per service: overrides the policy's drills, or opts out of them (`enabled: false`). */
export const serviceDrillSchema = z
  .strictObject({
      enabled: z.boolean().default(true).meta({ description: 'false: this service is not drilled (lint flags a critical service). @default true' }),
      schedule: scheduleSchema.optional().meta({ description: '@default the policy\'s drills.schedule' }),
      queries: z.array(drillQuerySchema).max(50).default([]).meta({ description: 'Checks on the restored data beyond the manifest\'s counts (SQL engines only).' }),
      scratchSize: quantitySchema.optional().meta({ description: 'Size limit of the emptyDir the throwaway server lives in. @default the engine\'s, e.g. "10Gi" for PostgreSQL' }),
      resources: resourcesSchema.optional(),
      timeout: durationSchema.optional().meta({ description: 'The drill Job\'s deadline. @default "2h", at most half the gap between drills' }),
  })
  .meta({ description: 'Restore drill: restore the newest copy into a throwaway server inside a pod and check it. @default the policy\'s drills, when set' });

export const serviceCommon = {
  displayName: displayNameSchema.optional().meta({ description: 'Prefix of the service\'s alert names ("PostgreSQL" -> PostgreSQLBackupStale). @default the id in CamelCase' }),
  critical: z.boolean().optional().meta({ description: 'Alerts about this service page (severity critical) instead of warning, and lint requires an offsite copy. @default false' }),
  rpo: durationSchema.optional().meta({ description: 'The most data this service may lose. Lint fails when a schedule\'s longest gap exceeds it. @default none declared' }),
  rto: durationSchema.optional().meta({ description: 'How long a restore may take; shown in the generated RPO/RTO table. @default the engine\'s typical restore time' }),
  namespace: dnsLabel('namespace'),
  retention: retentionSchema,
  nfsPath: absolutePathSchema.optional().meta({ description: 'Export path of this service\'s backup directory. @default the policy\'s nfs.pathTemplate with {service} replaced' }),
  image: imageSchema.optional().meta({ description: '@default policy.images[engine]' }),
  resources: resourcesSchema.optional(),
  timeout: durationSchema.optional().meta({ description: 'Job deadline (activeDeadlineSeconds). Must be shorter than the gap between runs. @default "1h"' }),
  minSizeRatio: ratioSchema.optional().meta({ description: 'A new copy smaller than this fraction of the previous one fails the run (empty or schema-only dumps). 0 disables. @default 0.5' }),
  runAsUser: z
    .number({ error: (iss) => `expected a UID, received ${show(iss.input)}` })
    .int({ error: (iss) => `a UID is a whole number, received ${show(iss.input)}` })
    .min(1, { error: (iss) => `root is not a plain setting, received ${show(iss.input)}, allowed: a UID from 1, or runAsRoot: { reason: "..." } when the data requires root (lint reports it)` })
    .max(2147483647, { error: (iss) => `UID out of range, received ${show(iss.input)}, allowed: at most 2147483647` })
    .optional()
    .meta({ description: 'UID (and GID, fsGroup) of the job. @default 10001, the image\'s unprivileged user' }),
  runAsRoot: z
    .strictObject({
      reason: z.string().min(10, { error: (iss) => `say why root is needed, received ${show(iss.input)}, allowed: a sentence of 10 to 300 characters` }).max(300).regex(/^[^\u0000-\u001f\u007f]+$/, { error: 'no control characters, allowed: one line of text' }),
    })
    .optional()
    .meta({ description: 'Runs the job as root, an explicit exception with its reason (e.g. the application writes its data as root). lint reports every such service. @default absent: non-root' }),
  scratchSize: quantitySchema.optional().meta({ description: 'Size limit of the /tmp emptyDir. @default "2Gi"' }),
  placement: placementSchema.optional(),
  drill: serviceDrillSchema.optional(),
  dataClaims: z
    .array(dnsLabel('PersistentVolumeClaim name', 253))
    .default([])
    .meta({ description: 'PVCs in the service\'s namespace holding the data its dumps cover (e.g. "data-postgresql-0"): coverage counts them as covered by the dump, and only a service with claims gets snapshot and file-backup layers. @default none (e.g. kubeadm\'s etcd, a static pod without a PVC)' }),
};

const WORKLOAD = /^(deployment|statefulset)\/[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** The Deployment or StatefulSet that runs a server, as `kubectl scale` names it ("statefulset/redis-master"). */
export const workloadSchema = z
  .string({ error: (iss) => `expected deployment/NAME or statefulset/NAME, received ${show(iss.input)}` })
  .max(264)
  .regex(WORKLOAD, { error: (iss) => `not a workload, received ${show(iss.input)}, allowed: deployment/NAME or statefulset/NAME (NAME a DNS-1123 label), as kubectl scale takes it` });

/** Names the engine passes to its tools itself (never through a shell word split). */
export const databaseNameSchema = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_-]*$/, {
  error: (iss) => `not a database name this tool will pass to a shell, received ${show(iss.input)}, allowed: letters, digits, "_" and "-"`,
});

/** At least one of the jobs a dump engine offers. */
export function requireSomeJob(value: { full?: unknown; perDatabase?: unknown }, ctx: z.RefinementCtx<unknown>) {
  if (value.full === undefined && value.perDatabase === undefined) {
    custom(ctx, value, 'no backup job declared, received neither "full" nor "perDatabase", allowed: either or both, each { schedule }');
  }
}
