import { z } from 'zod';
import { Duration, DURATION_SYNTAX } from './duration';
import { Schedule, SCHEDULE_SYNTAX } from './schedule';
import { DNS_LABEL_PATTERN, JOB_NAME_SUFFIXES, CRONJOB_NAME_MAX } from './names';

/**
 * The single source of the policy's shape. TypeScript types are inferred from these schemas
 * (see the bottom of the file), YAML/JSON policies are validated by them, and the editor JSON
 * Schema is exported from them. Messages follow "what is wrong, received X, allowed Y"; the
 * dotted path is added by formatIssues.
 */

function show(value: unknown): string {
  const text = typeof value === 'string' ? `"${value}"` : JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function custom<T>(ctx: z.RefinementCtx<T>, input: unknown, message: string) {
  ctx.addIssue({ code: 'custom', input, message });
}

export const durationSchema = z
  .string({ error: (iss) => `expected a duration, received ${show(iss.input)}, allowed: ${DURATION_SYNTAX}` })
  .meta({ description: DURATION_SYNTAX, examples: ['14d', '36h', '30m'] })
  .refine((text) => Duration.tryParse(text) !== undefined, {
    error: (iss) => `not a duration, received ${show(iss.input)}, allowed: ${DURATION_SYNTAX}`,
  });

export const scheduleSchema = z
  .string({ error: (iss) => `expected a schedule, received ${show(iss.input)}, allowed: ${SCHEDULE_SYNTAX}` })
  .meta({ description: SCHEDULE_SYNTAX, examples: ['daily at 00:15', 'weekly on sunday at 01:00', 'every 6h', '0 3 * * *'] })
  .superRefine((text, ctx) => {
    const parsed = Schedule.tryParse(text);
    if (typeof parsed === 'string') custom(ctx, text, `${parsed}, received ${show(text)}, allowed: ${SCHEDULE_SYNTAX}`);
  });

const dnsLabel = (what: string, max = 63) =>
  z
    .string({ error: (iss) => `expected ${what} (a DNS-1123 label), received ${show(iss.input)}` })
    .superRefine((text, ctx) => {
      if (!DNS_LABEL_PATTERN.test(text)) {
        custom(ctx, text, `${what} is not a DNS-1123 label, received ${show(text)}, allowed: lowercase letters, digits and "-", starting and ending with a letter or digit`);
      } else if (text.length > max) {
        custom(ctx, text, `${what} is too long, received ${text.length} characters, allowed: at most ${max}`);
      }
    });

/** Characters a path may hold: no spaces, quotes, globs or anything else a shell would interpret. */
const SAFE_PATH = /^[A-Za-z0-9._@+\/-]+$/;
const SAFE_PATH_ALLOWED = 'letters, digits and . _ @ + - /, no ".." segment (no spaces, quotes, $, `, ;, |, &, *, ?, or other shell metacharacters)';

const pathSchema = (kind: 'absolute' | 'relative') =>
  z
    .string({ error: (iss) => `expected a ${kind} path, received ${show(iss.input)}` })
    .superRefine((text, ctx) => {
      if (!SAFE_PATH.test(text) || text.split('/').includes('..')) {
        custom(ctx, text, `path has characters a shell would interpret, received ${show(text)}, allowed: ${SAFE_PATH_ALLOWED}`);
      } else if (kind === 'absolute' && !text.startsWith('/')) {
        custom(ctx, text, `path must be absolute, received ${show(text)}, allowed: a path starting with "/"`);
      } else if (kind === 'relative' && text.startsWith('/')) {
        custom(ctx, text, `path must be relative to the data volume, received ${show(text)}, allowed: a path without a leading "/"`);
      }
    });

const HOST = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const hostSchema = z
  .string({ error: (iss) => `expected a host name or IPv4 address, received ${show(iss.input)}` })
  .refine((text) => HOST.test(text), {
    error: (iss) => `not a host name or IPv4 address, received ${show(iss.input)}, allowed: lowercase DNS names such as "postgresql.dbaas.svc.cluster.local" or "192.168.1.127"`,
  });

const urlSchema = z
  .string({ error: (iss) => `expected an http(s) URL, received ${show(iss.input)}` })
  .superRefine((text, ctx) => {
    let url: URL | undefined;
    try {
      url = new URL(text);
    } catch {
      url = undefined;
    }
    if (!url || !['http:', 'https:'].includes(url.protocol) || !HOST.test(url.hostname) || url.username || url.password || url.search || !SAFE_PATH.test(url.pathname)) {
      custom(ctx, text, `not a plain http(s) URL, received ${show(text)}, allowed: http(s)://host[:port][/path] without credentials or query`);
    }
  });

const portSchema = z
  .number({ error: (iss) => `expected a port number, received ${show(iss.input)}` })
  .int({ error: (iss) => `a port is a whole number, received ${show(iss.input)}` })
  .min(1, { error: (iss) => `port out of range, received ${show(iss.input)}, allowed: 1-65535` })
  .max(65535, { error: (iss) => `port out of range, received ${show(iss.input)}, allowed: 1-65535` });

const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
/** A reference to a key of a Kubernetes Secret in the service's namespace: never the secret itself. */
export const secretKeyRefSchema = z
  .strictObject({
    name: dnsLabel('Secret name', 253),
    key: z.string().regex(SECRET_KEY, { error: (iss) => `not a Secret key, received ${show(iss.input)}, allowed: letters, digits, "-", "_", "."` }),
  }, { error: (iss) => iss.input === undefined ? 'missing credentials reference, received nothing, allowed: { name: <Secret name>, key: <key in that Secret> }' : `expected a Secret reference, received ${show(iss.input)}, allowed: { name: <Secret name>, key: <key in that Secret> }` })
  .meta({ description: 'A key of a Kubernetes Secret in the service namespace. The value never enters the policy or the synthesized output.' });

const QUANTITY = /^\d+(\.\d+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/;
const quantitySchema = z.string().regex(QUANTITY, { error: (iss) => `not a Kubernetes quantity, received ${show(iss.input)}, allowed: e.g. "250m", "1", "512Mi", "2Gi"` });

const resourcesSchema = z.strictObject({
  requests: z.strictObject({ cpu: quantitySchema, memory: quantitySchema }),
  limits: z.strictObject({ cpu: quantitySchema.optional(), memory: quantitySchema }),
}).meta({ description: 'Container requests and limits. @default per engine (see policy/engines.ts)' });

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
  });

export const retentionSchema = z
  .strictObject({
    keepWithin: durationSchema.meta({ description: 'Copies younger than this are always kept.' }),
    keepLast: z
      .number({ error: (iss) => `expected a count, received ${show(iss.input)}` })
      .int({ error: (iss) => `keepLast is a whole number, received ${show(iss.input)}` })
      .min(1, { error: (iss) => `keepLast must keep at least the newest copy, received ${show(iss.input)}, allowed: 1 or more` })
      .meta({ description: 'The newest N verified copies are kept whatever their age, so a run of bad or missing backups never rotates out the last good ones.' }),
  })
  .meta({ description: 'A copy is deleted only when older than keepWithin and not among the keepLast newest.' });

const jobScheduleSchema = z.strictObject({ schedule: scheduleSchema });

const placementSchema = z.strictObject({
  nodeSelector: z.record(z.string(), z.string()).optional(),
  tolerations: z
    .array(z.strictObject({
      key: z.string().optional(),
      operator: z.enum(['Exists', 'Equal']).optional(),
      value: z.string().optional(),
      effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
    }))
    .optional(),
  hostNetwork: z.boolean().optional().meta({ description: 'Run in the node network namespace (etcd on a control-plane node listens on 127.0.0.1).' }),
});

/** Fields every service has, whatever its engine. */
const serviceCommon = {
  namespace: dnsLabel('namespace'),
  retention: retentionSchema,
  nfsPath: pathSchema('absolute').optional().meta({ description: 'Export path of this service\'s backup directory. @default the policy\'s nfs.pathTemplate with {service} replaced' }),
  image: imageSchema.optional().meta({ description: '@default policy.images[engine]' }),
  resources: resourcesSchema.optional(),
  timeout: durationSchema.optional().meta({ description: 'Job deadline (activeDeadlineSeconds). Must be shorter than the gap between runs. @default "1h"' }),
  minSizeRatio: z.number().min(0).max(1).optional().meta({ description: 'A new copy smaller than this fraction of the previous one fails the run (empty or schema-only dumps). 0 disables. @default 0.5' }),
  runAsUser: z.number().int().min(0).optional().meta({ description: 'UID of the job. 0 (root) only when the data requires it. @default 10001' }),
  scratchSize: quantitySchema.optional().meta({ description: 'Size limit of the /tmp emptyDir. @default "2Gi"' }),
  placement: placementSchema.optional(),
};

function requireSomeJob(value: { full?: unknown; perDatabase?: unknown }, ctx: z.RefinementCtx<unknown>) {
  if (value.full === undefined && value.perDatabase === undefined) {
    custom(ctx, value, 'no backup job declared, received neither "full" nor "perDatabase", allowed: either or both, each { schedule }');
  }
}

const databaseNameSchema = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_-]*$/, {
  error: (iss) => `not a database name this tool will pass to a shell, received ${show(iss.input)}, allowed: letters, digits, "_" and "-"`,
});

export const postgresServiceSchema = z
  .strictObject({
    engine: z.literal('postgres'),
    ...serviceCommon,
    connection: z.strictObject({
      host: hostSchema,
      port: portSchema.default(5432),
      user: z.string().regex(/^[A-Za-z0-9_]+$/).default('postgres'),
      passwordSecret: secretKeyRefSchema,
    }),
    databases: z.array(databaseNameSchema).min(1).optional().meta({ description: 'Per-database dumps cover exactly these. @default every database that allows connections, except templates' }),
    full: jobScheduleSchema.optional().meta({ description: 'pg_dumpall of the whole cluster, roles included.' }),
    perDatabase: jobScheduleSchema.optional().meta({ description: 'pg_dump -Fc of each database, for single-database restores.' }),
  })
  .superRefine(requireSomeJob);

export const mysqlServiceSchema = z
  .strictObject({
    engine: z.literal('mysql'),
    ...serviceCommon,
    connection: z.strictObject({
      host: hostSchema,
      port: portSchema.default(3306),
      user: z.string().regex(/^[A-Za-z0-9_]+$/).default('root'),
      passwordSecret: secretKeyRefSchema,
    }),
    databases: z.array(databaseNameSchema).min(1).optional(),
    full: jobScheduleSchema.optional().meta({ description: 'mysqldump --all-databases, consistent (--single-transaction) with routines, triggers and events.' }),
    perDatabase: jobScheduleSchema.optional(),
  })
  .superRefine(requireSomeJob);

export const etcdServiceSchema = z
  .strictObject({
    engine: z.literal('etcd'),
    ...serviceCommon,
    schedule: scheduleSchema,
    endpoints: z.array(urlSchema).min(1),
    tlsSecret: z
      .strictObject({ name: dnsLabel('Secret name', 253) })
      .optional()
      .meta({ description: 'A Secret with ca.crt, tls.crt and tls.key for an etcd client certificate. Required for https endpoints.' }),
  })
  .superRefine((value, ctx) => {
    if (value.endpoints.some((e) => e.startsWith('https:')) && !value.tlsSecret) {
      ctx.addIssue({ code: 'custom', path: ['tlsSecret'], input: undefined, message: 'missing credentials reference for https endpoints, received nothing, allowed: { name: <Secret with ca.crt, tls.crt, tls.key> }' });
    }
  });

export const vaultServiceSchema = z.strictObject({
  engine: z.literal('vault'),
  ...serviceCommon,
  schedule: scheduleSchema,
  address: urlSchema,
  tokenSecret: secretKeyRefSchema,
});

export const redisServiceSchema = z.strictObject({
  engine: z.literal('redis'),
  ...serviceCommon,
  schedule: scheduleSchema,
  connection: z.strictObject({
    host: hostSchema,
    port: portSchema.default(6379),
    passwordSecret: secretKeyRefSchema.optional().meta({ description: 'Omit only for a Redis without AUTH.' }),
  }),
});

export const sqliteServiceSchema = z.strictObject({
  engine: z.literal('sqlite'),
  ...serviceCommon,
  schedule: scheduleSchema,
  data: z.strictObject({
    claimName: dnsLabel('PersistentVolumeClaim name', 253).meta({ description: 'The application\'s data PVC, mounted into the job.' }),
    database: pathSchema('relative').meta({ description: 'The SQLite file, relative to the data volume.' }),
    extraPaths: z.array(pathSchema('relative')).default([]).meta({ description: 'Files and folders copied with each backup; a missing one fails the run.' }),
    optionalExtraPaths: z.array(pathSchema('relative')).default([]).meta({ description: 'Copied when present (e.g. a sends folder that appears on first use).' }),
  }),
  integrityCheck: jobScheduleSchema.optional().meta({ description: 'A separate job that checks the live database and pushes backup_integrity_ok.' }),
});

export const ENGINES = ['postgres', 'mysql', 'etcd', 'vault', 'redis', 'sqlite'] as const;

export const serviceSchema = z.discriminatedUnion('engine', [
  postgresServiceSchema,
  mysqlServiceSchema,
  etcdServiceSchema,
  vaultServiceSchema,
  redisServiceSchema,
  sqliteServiceSchema,
]);

/** Service ids become name prefixes; the longest derived CronJob name must still fit. */
export const SERVICE_ID_MAX = CRONJOB_NAME_MAX - Math.max(...Object.values(JOB_NAME_SUFFIXES).map((s) => s.length));
export const serviceIdSchema = dnsLabel('service id', SERVICE_ID_MAX);

export const policySchema = z.strictObject({
  timeZone: z
    .string()
    .superRefine((tz, ctx) => {
      try {
        new Intl.DateTimeFormat('en', { timeZone: tz });
      } catch {
        custom(ctx, tz, `unknown time zone, received ${show(tz)}, allowed: an IANA zone such as "Europe/London" or "UTC"`);
      }
    })
    .meta({ description: 'Rendered into every CronJob timeZone and systemd OnCalendar.' }),
  nfs: z.strictObject({
    server: hostSchema,
    pathTemplate: z
      .string()
      .superRefine((text, ctx) => {
        const withoutPlaceholder = text.replace('{service}', 'x');
        if (!text.includes('{service}') || !text.startsWith('/') || !SAFE_PATH.test(withoutPlaceholder) || text.split('/').includes('..')) {
          custom(ctx, text, `not a usable path template, received ${show(text)}, allowed: an absolute path containing {service} once, made of ${SAFE_PATH_ALLOWED}`);
        }
      })
      .default('/srv/nfs/{service}-backup')
      .meta({ description: 'Where each service\'s backup directory is exported. @default "/srv/nfs/{service}-backup"' }),
    mountOptions: z.array(z.string().regex(/^[a-z0-9_.=,-]+$/)).default(['hard', 'nfsvers=4.1']),
    capacity: quantitySchema.default('100Gi'),
  }),
  pushgateway: z.strictObject({ url: urlSchema }),
  images: z.partialRecord(z.enum(ENGINES), imageSchema).default({}).meta({ description: 'Per-engine image overrides. @default the pinned backup-tools image' }),
  services: z.record(serviceIdSchema, serviceSchema),
});

/** What a policy author writes (defaults optional). */
export type BackupPolicyInput = z.input<typeof policySchema>;
/** The parsed declaration, defaults filled in. */
export type BackupPolicyDeclaration = z.output<typeof policySchema>;
export type ServiceInput = z.input<typeof serviceSchema>;
export type ServiceDeclaration = z.output<typeof serviceSchema>;
export type Engine = (typeof ENGINES)[number];
export type SecretKeyRef = z.output<typeof secretKeyRefSchema>;
