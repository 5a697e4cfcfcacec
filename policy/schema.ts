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
    .string({ error: (iss) => `expected ${kind === 'absolute' ? 'an' : 'a'} ${kind} path, received ${show(iss.input)}` })
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
/** Alert names are CamelCase words; the spec's names (PostgreSQLBackupStale) keep existing routes working. */
const displayNameSchema = z.string().regex(/^[A-Z][A-Za-z0-9]*$/, {
  error: (iss) => `not usable in an alert name, received ${show(iss.input)}, allowed: a CamelCase word such as "PostgreSQL" or "Vaultwarden"`,
});

const serviceCommon = {
  displayName: displayNameSchema.optional().meta({ description: 'Prefix of the service\'s alert names ("PostgreSQL" -> PostgreSQLBackupStale). @default the id in CamelCase' }),
  critical: z.boolean().optional().meta({ description: 'Alerts about this service page (severity critical) instead of warning, and lint requires an offsite copy. @default false' }),
  rpo: durationSchema.optional().meta({ description: 'The most data this service may lose. Lint fails when a schedule\'s longest gap exceeds it. @default none declared' }),
  rto: durationSchema.optional().meta({ description: 'How long a restore may take; shown in the generated RPO/RTO table. @default the engine\'s typical restore time' }),
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

// --- The Proxmox host (layers 1-3 of the spec): LVM thin snapshots, file backup, offsite sync ---

const ianaTimeZone = z.string().superRefine((tz, ctx) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
  } catch {
    custom(ctx, tz, `unknown time zone, received ${show(tz)}, allowed: an IANA zone such as "Europe/London" or "UTC"`);
  }
});

/** LVM's own rule for VG and LV names; anything else is refused by lvcreate anyway. */
const LVM_NAME = /^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$/;
const lvmName = (what: string) =>
  z
    .string({ error: (iss) => `expected ${what}, received ${show(iss.input)}` })
    .refine((text) => LVM_NAME.test(text) && text !== '.' && text !== '..', {
      error: (iss) => `${what} is not an LVM name, received ${show(iss.input)}, allowed: letters, digits and + _ . -, not starting with "-", at most 127 characters`,
    });

/** A shell glob over LV names: LVM name characters plus * and ?, so it can be matched unquoted-safe. */
const lvPatternSchema = z
  .string({ error: (iss) => `expected an LV name pattern, received ${show(iss.input)}` })
  .refine((text) => /^[A-Za-z0-9+_.*?-]{1,127}$/.test(text) && /[*?]/.test(text) && !text.startsWith('-'), {
    error: (iss) => `not an LV name pattern, received ${show(iss.input)}, allowed: LVM name characters with at least one * or ? (e.g. "vm-*-pvc-*")`,
  });

const sshUserSchema = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, {
  error: (iss) => `not a login name, received ${show(iss.input)}, allowed: lowercase letters, digits, "_" and "-", starting with a letter or "_"`,
});

const percentSchema = z
  .number({ error: (iss) => `expected a percentage, received ${show(iss.input)}` })
  .min(0, { error: (iss) => `percentage out of range, received ${show(iss.input)}, allowed: 0-100` })
  .max(100, { error: (iss) => `percentage out of range, received ${show(iss.input)}, allowed: 0-100` });

const hostJob = {
  schedule: scheduleSchema,
  timeout: durationSchema.optional().meta({ description: 'TimeoutStartSec of the oneshot service; must be shorter than the gap between runs.' }),
};

export const hostSnapshotsSchema = z.strictObject({
  volumeGroup: lvmName('volume group name').meta({ description: 'VG of the thin pool holding the PVC LVs ("pve").' }),
  thinPool: lvmName('thin pool name').meta({ description: 'The thin pool LV ("data").' }),
  lvPattern: lvPatternSchema.default('vm-*-pvc-*').meta({ description: 'Proxmox CSI names PVC LVs vm-<vmid>-pvc-<uuid>. @default "vm-*-pvc-*"' }),
  excludeNamespaces: z.array(dnsLabel('namespace')).default([]).meta({ description: 'PVCs in these namespaces get no snapshot and no file backup (high-churn databases with their own dumps).' }),
  ...hostJob,
  retention: durationSchema.meta({ description: 'Snapshots older than this are pruned, never the newest per LV, never after a failed snapshot run.' }),
  minFreePercent: percentSchema.default(15).meta({ description: 'No snapshot is taken while the thin pool has less free space than this: a full thin pool stops every VM on it. @default 15' }),
});

export const hostFileBackupSchema = z.strictObject({
  mountPoint: pathSchema('absolute').meta({ description: 'The backup disk, mounted by the host (the unit requires the mount).' }),
  diskFullPercent: percentSchema.default(85).meta({ description: 'BackupDiskFull fires above this usage of the backup disk. @default 85' }),
  ...hostJob,
  weeklyGenerations: z
    .number({ error: (iss) => `expected a count, received ${show(iss.input)}` })
    .int({ error: (iss) => `weeklyGenerations is a whole number, received ${show(iss.input)}` })
    .min(1, { error: (iss) => `weeklyGenerations must keep at least the current week, received ${show(iss.input)}, allowed: 1 or more` })
    .default(4)
    .meta({ description: 'ISO-week folders kept under pvc-data/ and pfsense/ (hard-linked with --link-dest). @default 4' }),
  sqlite: z
    .strictObject({
      retention: retentionSchema.default({ keepWithin: '28d', keepLast: 4 }),
      minSizeRatio: z.number().min(0).max(1).default(0.5),
    })
    .prefault({})
    .meta({ description: 'Copies of every SQLite database found in the snapshots, under sqlite-backup/.' }),
  pfsense: z
    .strictObject({
      host: hostSchema,
      port: portSchema.default(22),
      user: sshUserSchema.default('root'),
      identityFile: pathSchema('absolute').meta({ description: 'Private key on the Proxmox host (a path, never the key).' }),
      knownHostsFile: pathSchema('absolute').default('/root/.ssh/known_hosts').meta({ description: 'Host keys are checked strictly; this file must hold the firewall\'s key.' }),
      configPath: pathSchema('absolute').default('/cf/conf/config.xml'),
      archivePaths: z.array(pathSchema('absolute')).min(1).default(['/cf', '/var/db', '/boot/loader.conf']).meta({ description: 'Archived once per ISO week (the first successful run of the week).' }),
    })
    .optional()
    .meta({ description: 'config.xml every run and a full archive weekly, both over SSH.' }),
  pveConfig: z
    .strictObject({ paths: z.array(pathSchema('absolute')).min(1).default(['/etc/pve', '/usr/local/bin', '/etc/systemd/system']) })
    .prefault({})
    .meta({ description: 'Copied to pve-config/ every run (one copy, replaced only when complete).' }),
});

export const hostOffsiteSchema = z.strictObject({
  nas: z.strictObject({
    host: hostSchema,
    user: sshUserSchema.default('root'),
    port: portSchema.default(22),
    identityFile: pathSchema('absolute').meta({ description: 'Private key on the Proxmox host (a path, never the key).' }),
    knownHostsFile: pathSchema('absolute').default('/root/.ssh/known_hosts'),
  }),
  ...hostJob,
  backupDiskTarget: pathSchema('absolute').meta({ description: 'Step 1: where the backup disk is mirrored on the NAS (hard links preserved).' }),
  sources: z
    .array(z.strictObject({ path: pathSchema('absolute'), target: pathSchema('absolute') }))
    .min(1, { error: 'no NFS tree declared, received an empty list, allowed: at least one { path, target }' })
    .meta({ description: 'Step 2: NFS trees synced from the change log, each to its own NAS folder.' }),
  changeLog: pathSchema('absolute').meta({ description: 'Written by nfs-change-tracker, rotated under a lock by the sync.' }),
  fullSync: z
    .enum(['first-sunday', 'never'])
    .default('first-sunday')
    .meta({ description: 'When the --delete pass runs besides an overflowed or missing change log. @default "first-sunday"' }),
});

function under(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

export const hostSectionSchema = z
  .strictObject({
    name: dnsLabel('host name').meta({ description: 'Names the host in docs and metrics ("pve").' }),
    address: hostSchema.meta({ description: 'Where the host is reached over SSH for deployment (the connection itself comes from Terraform variables).' }),
    timeZone: ianaTimeZone.optional().meta({ description: 'Zone of the OnCalendar schedules. @default the policy timeZone' }),
    pushgateway: z.strictObject({ url: urlSchema }).meta({ description: 'The Pushgateway as the host reaches it (a NodePort, not the cluster DNS name).' }),
    kubeconfig: pathSchema('absolute').default('/root/.kube/config').meta({ description: 'kubectl config on the host: PVC LV -> namespace lookup and workload scaling on restore.' }),
    installDir: pathSchema('absolute').default('/usr/local/lib/backup-policy'),
    randomizedDelay: durationSchema.default('5m').meta({ description: 'RandomizedDelaySec of every timer. @default "5m"' }),
    snapshots: hostSnapshotsSchema,
    fileBackup: hostFileBackupSchema,
    offsite: hostOffsiteSchema,
  })
  .superRefine((host, ctx) => {
    const at = (...path: (string | number)[]) => ({ code: 'custom' as const, path });
    const delay = Duration.tryParse(host.randomizedDelay);
    for (const section of ['snapshots', 'fileBackup', 'offsite'] as const) {
      const schedule = Schedule.tryParse(host[section].schedule);
      if (typeof schedule === 'string') continue;
      try {
        schedule.toOnCalendar();
      } catch (error) {
        ctx.addIssue({ ...at(section, 'schedule'), input: host[section].schedule, message: `${(error as Error).message}, received ${show(host[section].schedule)}, allowed: a schedule restricting day of month or day of week, not both` });
      }
      const timeout = host[section].timeout ? Duration.tryParse(host[section].timeout) : undefined;
      if (timeout && timeout.totalSeconds >= schedule.shortestGap.totalSeconds) {
        ctx.addIssue({ ...at(section, 'timeout'), input: host[section].timeout, message: `the service timeout is not shorter than the gap between runs, so a hung run would skip the next; received ${timeout.toString()}, allowed: less than ${schedule.shortestGap.toString()}` });
      }
      if (delay && delay.totalSeconds * 2 > schedule.shortestGap.totalSeconds) {
        ctx.addIssue({ ...at('randomizedDelay'), input: host.randomizedDelay, message: `the randomized delay would move ${section} runs by more than half the gap between them; received ${delay.toString()}, allowed: at most ${schedule.shortestGap.times(0.5).toString()}` });
      }
    }
    const sources = host.offsite.sources;
    sources.forEach((source, i) => {
      sources.forEach((other, j) => {
        if (i < j && (under(source.path, other.path) || under(other.path, source.path))) {
          ctx.addIssue({ ...at('offsite', 'sources', j, 'path'), input: other.path, message: `NFS trees overlap, received ${show(other.path)} and ${show(source.path)}, allowed: trees that do not contain each other (a path would be synced twice)` });
        }
        if (i < j && (under(source.target, other.target) || under(other.target, source.target))) {
          ctx.addIssue({ ...at('offsite', 'sources', j, 'target'), input: other.target, message: `NAS targets overlap, received ${show(other.target)} and ${show(source.target)}, allowed: separate folders (one tree's --delete pass would remove the other's files)` });
        }
      });
      if (under(host.offsite.changeLog, source.path)) {
        ctx.addIssue({ ...at('offsite', 'changeLog'), input: host.offsite.changeLog, message: `the change log is inside a watched tree, received ${show(host.offsite.changeLog)} under ${show(source.path)}, allowed: a path outside every source (each write to it would log itself)` });
      }
      if (under(host.fileBackup.mountPoint, source.path) || under(source.path, host.fileBackup.mountPoint)) {
        ctx.addIssue({ ...at('offsite', 'sources', i, 'path'), input: source.path, message: `an NFS tree overlaps the backup disk, received ${show(source.path)} and mount point ${show(host.fileBackup.mountPoint)}, allowed: separate trees (step 1 already mirrors the backup disk)` });
      }
      if (under(source.target, host.offsite.backupDiskTarget) || under(host.offsite.backupDiskTarget, source.target)) {
        ctx.addIssue({ ...at('offsite', 'sources', i, 'target'), input: source.target, message: `NAS targets overlap, received ${show(source.target)} and backupDiskTarget ${show(host.offsite.backupDiskTarget)}, allowed: separate folders (one --delete pass would remove the other's files)` });
      }
    });
  })
  .meta({ description: 'The Proxmox host: LVM thin snapshots, daily file backup, offsite sync. Rendered to scripts and systemd units.' });

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
  alerts: z
    .strictObject({
      deploy: z.enum(['prometheus-rule', 'configmap'], {
        error: (iss) => `unknown deployment form, received ${show(iss.input)}, allowed: "prometheus-rule" (kube-prometheus-stack) or "configmap" (plain Prometheus)`,
      }).default('prometheus-rule'),
      namespace: dnsLabel('namespace').default('monitoring'),
      ruleLabels: z.record(z.string(), z.string()).default({ release: 'kube-prometheus-stack' }).meta({ description: 'Labels on the PrometheusRule/ConfigMap so the Prometheus instance selects it.' }),
      runbookBaseUrl: urlSchema.default('https://github.com/viktorbarzin/infra/blob/main/docs/runbooks').meta({ description: 'runbook_url of every alert is <base>/<service>.md.' }),
      channels: z.strictObject({ warning: z.string().min(1), critical: z.string().min(1) }).default({ warning: 'infra-alerts', critical: 'infra-critical' }).meta({ description: 'The `channel` label routing uses, per severity.' }),
    })
    // prefault: an omitted section is parsed as {} so each field's own default applies.
    .prefault({}),
  images: z.partialRecord(z.enum(ENGINES), imageSchema).default({}).meta({ description: 'Per-engine image overrides. @default the pinned backup-tools image' }),
  services: z.record(serviceIdSchema, serviceSchema),
  host: hostSectionSchema.optional().meta({ description: 'The Proxmox host layers (snapshots, file backup, offsite sync). @default none: the policy covers only the cluster' }),
});

/** What a policy author writes (defaults optional). */
export type BackupPolicyInput = z.input<typeof policySchema>;
/** The parsed declaration, defaults filled in. */
export type BackupPolicyDeclaration = z.output<typeof policySchema>;
export type ServiceInput = z.input<typeof serviceSchema>;
export type ServiceDeclaration = z.output<typeof serviceSchema>;
export type Engine = (typeof ENGINES)[number];
export type SecretKeyRef = z.output<typeof secretKeyRefSchema>;
export type HostInput = z.input<typeof hostSectionSchema>;
export type HostDeclaration = z.output<typeof hostSectionSchema>;
