import { Duration } from './duration';
import { Retention } from './retention';
import { Schedule } from './schedule';
import {
  policySchema,
  serviceIdSchema,
  serviceSchema,
  type BackupPolicyDeclaration,
  type Engine,
  type SecretKeyRef,
  type ServiceDeclaration,
} from './schema';
import { PolicyValidationError, formatIssues } from './errors';
import {
  DEFAULT_IMAGE,
  DEFAULT_MIN_SIZE_RATIO,
  DEFAULT_RUN_AS_USER,
  DEFAULT_TIMEOUT_SECONDS,
  ENGINE_DEFAULTS,
  POD_PATHS,
  SCRIPT_LIBRARY,
  SQLITE_INTEGRITY_SCRIPT,
} from './engines';
import { backupVolumeName, cronJobName, nameProblem, scriptConfigMapName } from './names';

export type JobKind = 'full' | 'per-database' | 'snapshot' | 'integrity';

export interface EnvVar {
  name: string;
  value?: string;
  secret?: SecretKeyRef;
}

export type PodVolume =
  | { name: string; claimName: string; readOnly?: boolean }
  | { name: string; configMap: string; defaultMode: string }
  | { name: string; emptyDir: { sizeLimit: string } }
  | { name: string; secret: string; defaultMode: string };

export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly: boolean;
}

/** One CronJob, everything decided: renderers only translate this into provider objects. */
export interface PlannedJob {
  service: string;
  engine: Engine;
  kind: JobKind;
  name: string;
  namespace: string;
  schedule: Schedule;
  timeZone: string;
  /** Undefined for jobs that keep no copies (the integrity check). */
  retention?: Retention;
  /** Derived, never typed: one missed run plus half the longest gap, the grace capped at a day. */
  staleAfter: Duration;
  timeout: Duration;
  startingDeadlineSeconds: number;
  failedJobsHistoryLimit: number;
  image: string;
  command: string[];
  env: EnvVar[];
  volumes: PodVolume[];
  mounts: VolumeMount[];
  resources: { requests: { cpu: string; memory: string }; limits: { cpu?: string; memory: string } };
  runAsUser: number;
  placement: ServiceDeclaration['placement'];
}

export interface PlannedVolume {
  pvName: string;
  pvcName: string;
  namespace: string;
  server: string;
  path: string;
  capacity: string;
  mountOptions: string[];
}

export interface PlannedService {
  id: string;
  engine: Engine;
  namespace: string;
  volume: PlannedVolume;
  scripts: { configMapName: string; files: string[] };
  jobs: PlannedJob[];
  declaration: ServiceDeclaration;
}

export interface BackupPlan {
  timeZone: string;
  pushgatewayUrl: string;
  services: PlannedService[];
}

/** Settings from the policy that shape every service's plan. */
export type PolicySettings = Omit<BackupPolicyDeclaration, 'services'>;

const DAY_SECONDS = 86400;

/** An hour, or half the gap for jobs that run more often, so a hung run never skips the next. */
function defaultTimeout(schedule: Schedule): Duration {
  return Duration.seconds(DEFAULT_TIMEOUT_SECONDS).min(schedule.shortestGap.times(0.5));
}

export function staleAfter(schedule: Schedule): Duration {
  const grace = schedule.longestGap.times(0.5).min(Duration.days(1));
  return schedule.longestGap.plus(grace);
}

/** Parses a whole declaration: every issue at once, each with its dotted path. */
export function parsePolicy(input: unknown): BackupPolicyDeclaration {
  const result = policySchema.safeParse(input, { reportInput: true });
  if (!result.success) throw new PolicyValidationError(formatIssues(result.error));
  const issues = crossServiceIssues(result.data);
  if (issues.length > 0) throw new PolicyValidationError(issues);
  return result.data;
}

/** Parses one service for `addService`, reporting paths as `services.<id>.…`. */
export function parseService(id: string, input: unknown): ServiceDeclaration {
  const idResult = serviceIdSchema.safeParse(id, { reportInput: true });
  const result = serviceSchema.safeParse(input, { reportInput: true });
  const issues = [
    ...(idResult.success ? [] : formatIssues(idResult.error, ['services', id])),
    ...(result.success ? [] : formatIssues(result.error, ['services', id])),
  ];
  if (issues.length > 0 || !result.success) throw new PolicyValidationError(issues);
  return result.data;
}

function nfsPath(settings: PolicySettings, id: string, service: ServiceDeclaration): string {
  return service.nfsPath ?? settings.nfs.pathTemplate.replace('{service}', id);
}

function jobSchedules(service: ServiceDeclaration): { kind: JobKind; schedule: string }[] {
  switch (service.engine) {
    case 'postgres':
    case 'mysql':
      return [
        ...(service.full ? [{ kind: 'full' as const, schedule: service.full.schedule }] : []),
        ...(service.perDatabase ? [{ kind: 'per-database' as const, schedule: service.perDatabase.schedule }] : []),
      ];
    case 'sqlite':
      return [
        { kind: 'snapshot', schedule: service.schedule },
        ...(service.integrityCheck ? [{ kind: 'integrity' as const, schedule: service.integrityCheck.schedule }] : []),
      ];
    default:
      return [{ kind: 'snapshot', schedule: service.schedule }];
  }
}

/** Problems that only show across fields or services: names, paths, deadlines. */
export function serviceIssues(settings: PolicySettings, id: string, service: ServiceDeclaration): string[] {
  const at = `services.${id}`;
  const issues: string[] = [];
  for (const { kind, schedule } of jobSchedules(service)) {
    const problem = nameProblem('CronJob', cronJobName(id, kind));
    if (problem) issues.push(`${at}: ${problem}; received service id "${id}", allowed: a shorter id`);
    const gap = Schedule.parse(schedule).shortestGap;
    if (service.timeout && Duration.parse(service.timeout).totalSeconds >= gap.totalSeconds) {
      const timeout = Duration.parse(service.timeout);
      issues.push(`${at}.timeout: the job deadline is not shorter than the gap between runs of its ${kind} job, so runs would be skipped; received ${timeout.toString()}, allowed: less than ${gap.toString()}`);
    }
  }
  for (const [kind, name] of [['ConfigMap', scriptConfigMapName(id)], ['PersistentVolume', backupVolumeName(id)]] as const) {
    const problem = nameProblem(kind, name);
    if (problem) issues.push(`${at}: ${problem}`);
  }
  if (nfsPath(settings, id, service) === '/') issues.push(`${at}.nfsPath: the backup directory cannot be the export root, received "/", allowed: a directory of its own`);
  return issues;
}

function crossServiceIssues(policy: BackupPolicyDeclaration): string[] {
  const issues: string[] = [];
  const pathOwners = new Map<string, string>();
  for (const id of Object.keys(policy.services).sort()) {
    const service = policy.services[id];
    issues.push(...serviceIssues(policy, id, service));
    const path = nfsPath(policy, id, service);
    const owner = pathOwners.get(path);
    if (owner) {
      issues.push(`services.${id}.nfsPath: backup directory already used by service "${owner}", received "${path}", allowed: a directory no other service writes (retention would delete the other's copies)`);
    } else {
      pathOwners.set(path, id);
    }
  }
  return issues;
}

function secretEnv(name: string, secret: SecretKeyRef): EnvVar {
  return { name, secret };
}

/** Engine-specific environment, per CONTRACT.md in host-scripts/. */
function engineEnv(service: ServiceDeclaration): EnvVar[] {
  switch (service.engine) {
    case 'postgres':
      return [
        { name: 'PGHOST', value: service.connection.host },
        { name: 'PGPORT', value: String(service.connection.port) },
        { name: 'PGUSER', value: service.connection.user },
        secretEnv('PGPASSWORD', service.connection.passwordSecret),
        ...(service.databases ? [{ name: 'BACKUP_DATABASES', value: service.databases.join(' ') }] : []),
      ];
    case 'mysql':
      return [
        { name: 'MYSQL_HOST', value: service.connection.host },
        { name: 'MYSQL_PORT', value: String(service.connection.port) },
        { name: 'MYSQL_USER', value: service.connection.user },
        secretEnv('MYSQL_PASSWORD', service.connection.passwordSecret),
        ...(service.databases ? [{ name: 'BACKUP_DATABASES', value: service.databases.join(' ') }] : []),
      ];
    case 'etcd':
      return [
        { name: 'ETCDCTL_API', value: '3' },
        { name: 'ETCDCTL_ENDPOINTS', value: service.endpoints.join(',') },
        ...(service.tlsSecret
          ? [
              { name: 'ETCDCTL_CACERT', value: `${POD_PATHS.etcdTls}/ca.crt` },
              { name: 'ETCDCTL_CERT', value: `${POD_PATHS.etcdTls}/tls.crt` },
              { name: 'ETCDCTL_KEY', value: `${POD_PATHS.etcdTls}/tls.key` },
            ]
          : []),
      ];
    case 'vault':
      return [{ name: 'VAULT_ADDR', value: service.address }, secretEnv('VAULT_TOKEN', service.tokenSecret)];
    case 'redis':
      return [
        { name: 'REDIS_HOST', value: service.connection.host },
        { name: 'REDIS_PORT', value: String(service.connection.port) },
        ...(service.connection.passwordSecret ? [secretEnv('REDISCLI_AUTH', service.connection.passwordSecret)] : []),
      ];
    case 'sqlite':
      return [
        { name: 'SQLITE_DATA_DIR', value: POD_PATHS.data },
        { name: 'SQLITE_DB', value: service.data.database },
        { name: 'SQLITE_EXTRA_PATHS', value: service.data.extraPaths.join(' ') },
        { name: 'SQLITE_OPTIONAL_EXTRA_PATHS', value: service.data.optionalExtraPaths.join(' ') },
      ];
  }
}

function engineVolumes(service: ServiceDeclaration): { volumes: PodVolume[]; mounts: VolumeMount[] } {
  if (service.engine === 'sqlite') {
    // Read-write on purpose: a reader of a WAL-mode database takes its locks through the -shm
    // file, so a read-only mount cannot see commits still in the WAL.
    return {
      volumes: [{ name: 'data', claimName: service.data.claimName }],
      mounts: [{ name: 'data', mountPath: POD_PATHS.data, readOnly: false }],
    };
  }
  if (service.engine === 'etcd' && service.tlsSecret) {
    return {
      // Group-readable: the files belong to root and reach the job through its fsGroup.
      volumes: [{ name: 'etcd-tls', secret: service.tlsSecret.name, defaultMode: '0440' }],
      mounts: [{ name: 'etcd-tls', mountPath: POD_PATHS.etcdTls, readOnly: true }],
    };
  }
  return { volumes: [], mounts: [] };
}

export function planService(settings: PolicySettings, id: string, service: ServiceDeclaration): PlannedService {
  const defaults = ENGINE_DEFAULTS[service.engine];
  const volumeName = backupVolumeName(id);
  const configMapName = scriptConfigMapName(id);
  const volume: PlannedVolume = {
    pvName: volumeName,
    pvcName: volumeName,
    namespace: service.namespace,
    server: settings.nfs.server,
    path: nfsPath(settings, id, service),
    capacity: settings.nfs.capacity,
    mountOptions: settings.nfs.mountOptions,
  };
  const scripts = [SCRIPT_LIBRARY, ...(service.engine === 'sqlite' ? ['sqlite-lib.sh'] : []), defaults.script, ...(service.engine === 'sqlite' && service.integrityCheck ? [SQLITE_INTEGRITY_SCRIPT] : [])];
  const retention = Retention.of(Duration.parse(service.retention.keepWithin), service.retention.keepLast);
  const engine = engineVolumes(service);
  const jobs = jobSchedules(service).map(({ kind, schedule: text }): PlannedJob => {
    const schedule = Schedule.parse(text);
    const keepsCopies = kind !== 'integrity';
    const script = kind === 'integrity' ? SQLITE_INTEGRITY_SCRIPT : defaults.script;
    const args = kind === 'full' || kind === 'per-database' ? [kind] : [];
    return {
      service: id,
      engine: service.engine,
      kind,
      name: cronJobName(id, kind),
      namespace: service.namespace,
      schedule,
      timeZone: settings.timeZone,
      retention: keepsCopies ? retention : undefined,
      staleAfter: staleAfter(schedule),
      timeout: service.timeout ? Duration.parse(service.timeout) : defaultTimeout(schedule),
      // Late enough to survive a controller restart or a busy node, never below the 300 s floor,
      // and at most half a gap so a late start cannot collide with the next run.
      startingDeadlineSeconds: Math.max(300, Math.min(3600, Math.floor(schedule.shortestGap.totalSeconds / 2))),
      // Failed Jobs must outlive the alerts that point at them: at least a day of runs, at least 3.
      failedJobsHistoryLimit: Math.max(3, Math.ceil(DAY_SECONDS / schedule.shortestGap.totalSeconds) + 1),
      image: service.image ?? settings.images[service.engine] ?? DEFAULT_IMAGE,
      command: ['/bin/bash', `${POD_PATHS.scripts}/${script}`, ...args],
      env: [
        { name: 'BACKUP_SERVICE', value: id },
        { name: 'BACKUP_ENGINE', value: service.engine },
        { name: 'BACKUP_KIND', value: kind },
        { name: 'BACKUP_RUNNER', value: 'cronjob' },
        { name: 'BACKUP_DIR', value: POD_PATHS.backup },
        { name: 'BACKUP_KEEP_WITHIN_SECONDS', value: String(retention.keepWithin.totalSeconds) },
        { name: 'BACKUP_KEEP_LAST', value: String(retention.keepLast) },
        { name: 'BACKUP_MIN_SIZE_RATIO', value: String(service.minSizeRatio ?? DEFAULT_MIN_SIZE_RATIO) },
        { name: 'PUSHGATEWAY_URL', value: settings.pushgateway.url },
        { name: 'TMPDIR', value: POD_PATHS.tmp },
        ...engineEnv(service),
      ],
      volumes: [
        { name: 'backup', claimName: volume.pvcName },
        { name: 'scripts', configMap: configMapName, defaultMode: '0555' },
        { name: 'tmp', emptyDir: { sizeLimit: service.scratchSize ?? defaults.scratchSize } },
        ...engine.volumes,
      ],
      mounts: [
        { name: 'backup', mountPath: POD_PATHS.backup, readOnly: false },
        { name: 'scripts', mountPath: POD_PATHS.scripts, readOnly: true },
        { name: 'tmp', mountPath: POD_PATHS.tmp, readOnly: false },
        ...engine.mounts,
      ],
      resources: service.resources ?? defaults.resources,
      runAsUser: service.runAsUser ?? DEFAULT_RUN_AS_USER,
      placement: service.placement,
    };
  });
  return { id, engine: service.engine, namespace: service.namespace, volume, scripts: { configMapName, files: scripts }, jobs, declaration: service };
}

/** The whole plan: pure, deterministic, services sorted by id (declaration order never matters). */
export function planPolicy(policy: BackupPolicyDeclaration): BackupPlan {
  return {
    timeZone: policy.timeZone,
    pushgatewayUrl: policy.pushgateway.url,
    services: Object.keys(policy.services)
      .sort()
      .map((id) => planService(policy, id, policy.services[id])),
  };
}
