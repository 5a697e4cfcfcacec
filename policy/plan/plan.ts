import { Duration } from '../values/duration';
import type { Retention } from '../values/retention';
import type { Schedule } from '../values/schedule';
import { backupVolumeName, cronJobName, drillCronJobName, scriptConfigMapName } from '../values/names';
import type { AbsolutePath } from '../values/path';
import {
  DEFAULT_IMAGE,
  DEFAULT_MIN_SIZE_RATIO,
  DEFAULT_RUN_AS_USER,
  DEFAULT_TIMEOUT,
  DRILL_IMAGE,
  DRILL_LIBRARY,
  POD_PATHS,
  SCRIPT_LIBRARY,
  type ClaimRef,
  type EnvVar,
  type JobKind,
  type ParsedServiceBase,
  type PodVolume,
  type Resources,
  type RestorePod,
  type RestoreRetarget,
  type VolumeMount,
} from '../engines/engine';
import { engineOf, type Engine, type ParsedService } from '../engines/registry';
import { nfsPathOf, parsePolicy } from '../parse/parse';
import type { AlertSettings, ParsedPolicy, PolicySettings } from '../parse/policy-schema';
import { planAlerts, type AlertGroup } from './alerts';
import { planHost, type HostPlan } from './host-plan';
import { protectionsOf, type Protection } from './protection';
import { staleAfter } from './stale';
import { decimal } from './decimal';

export { staleAfter };

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
  /** Pushes backup_integrity_ok (the live database's check). */
  checksIntegrity: boolean;
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
  resources: Resources;
  runAsUser: number;
  placement: ParsedServiceBase['placement'];
}

/** A check the drill runs on the restored data (the policy's drill.queries). */
export interface DrillQuery {
  database?: string;
  sql: string;
  min?: number;
  max?: number;
  equals?: number;
}

/**
 * A restore drill CronJob: restores the newest copy of one backup kind into a throwaway server in
 * its own pod and checks it. Same pod shape as a backup job (renderCronJob renders both), but it
 * never connects to the production server: no engine environment, no Secrets, the backup volume
 * read-only.
 */
export interface PlannedDrill extends Omit<PlannedJob, 'kind' | 'retention' | 'checksIntegrity'> {
  /** The backup job kind whose copies this drill restores. */
  drills: JobKind;
  /** The `kind` label of its metrics and alerts. */
  kind: `drill-${JobKind}`;
  queries: DrillQuery[];
}

export interface PlannedVolume {
  pvName: string;
  pvcName: string;
  namespace: string;
  server: string;
  path: AbsolutePath;
  capacity: string;
  mountOptions: string[];
}

export interface PlannedService {
  id: string;
  engine: Engine;
  /** The engine's name in documents ("PostgreSQL"). */
  engineTitle: string;
  namespace: string;
  /** Prefix of the service's alert names. */
  displayName: string;
  /** How documents name the service: the declared display name, else its id. */
  title: string;
  critical: boolean;
  /** Fraction of the previous copy below which a new copy fails the run (0 disables). */
  minSizeRatio: number;
  /** Why the jobs run as root, when the policy declares that exception. */
  rootReason?: string;
  /** Declared RPO, when the policy states one. */
  rpo?: Duration;
  rto: { duration: Duration; declared: boolean };
  retention: Retention;
  volume: PlannedVolume;
  scripts: { configMapName: string; files: string[] };
  jobs: PlannedJob[];
  /** What the jobs read from: services with the same target share a server. */
  target: string;
  /** PVCs whose data the service's own jobs copy. */
  dataClaims: ClaimRef[];
  /** Markdown lines of the restore procedure. */
  restoreSteps: string[];
  /** The restore Jobs this service offers: one per backup job kind its engine's restore script takes. */
  restore?: { script: string; modes: JobKind[]; pod: RestorePod; retarget?: RestoreRetarget; ownSteps: boolean };
  /** The restore drills: one per kind of copy the engine drills, when the policy drills this service. */
  drills: PlannedDrill[];
  /** Every layer that protects the service, derived from the whole policy. */
  protection: Protection[];
}

/** The whole plan of a policy, computed once: what every construct, document and check reads. */
export interface BackupPlan {
  timeZone: string;
  pushgatewayUrl: string;
  nfsServer: string;
  alertSettings: AlertSettings;
  services: PlannedService[];
  /** The Proxmox host's jobs, or undefined for a policy without a host section. */
  host?: HostPlan;
  /** Every alert group: one per service, then the host's. */
  alerts: AlertGroup[];
  /** PVCs deliberately left without a backup, each with its reason (coverage.exclude). */
  coverageExclusions: CoverageExclusion[];
}

export interface CoverageExclusion {
  namespace: string;
  /** Undefined: every PVC of the namespace. */
  claim?: string;
  reason: string;
}

const DAY_SECONDS = 86400;

/** A drill restores a whole copy into a fresh server: longer than a dump, never longer than its gap. */
const DEFAULT_DRILL_TIMEOUT = Duration.hours(2);

/** Late enough to survive a controller restart or a busy node, never below 300 s, at most half a gap. */
function startingDeadline(schedule: Schedule): number {
  return Math.max(300, Math.min(3600, Math.floor(schedule.shortestGap.totalSeconds / 2)));
}

/** Failed Jobs must outlive the alerts that point at them: at least a day of runs, at least 3. */
function failedJobsKept(schedule: Schedule): number {
  return Math.max(3, Math.ceil(DAY_SECONDS / schedule.shortestGap.totalSeconds) + 1);
}

/** An hour, or half the gap for jobs that run more often, so a hung run never skips the next. */
function defaultTimeout(schedule: Schedule): Duration {
  return DEFAULT_TIMEOUT.min(schedule.shortestGap.times(0.5));
}

function camel(id: string): string {
  return id
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

function uniqueClaims(claims: ClaimRef[]): ClaimRef[] {
  return claims.filter((c, i) => claims.findIndex((o) => o.namespace === c.namespace && o.claim === c.claim) === i);
}

type ServicePlanWithoutProtection = Omit<PlannedService, 'protection'>;

function planServiceJobs(settings: PolicySettings, id: string, service: ParsedService): ServicePlanWithoutProtection {
  const engine = engineOf(service);
  const volumeName = backupVolumeName(id);
  const configMapName = scriptConfigMapName(id);
  const volume: PlannedVolume = {
    pvName: volumeName,
    pvcName: volumeName,
    namespace: service.namespace,
    server: settings.nfs.server,
    path: nfsPathOf(settings, id, service),
    capacity: settings.nfs.capacity,
    mountOptions: settings.nfs.mountOptions,
  };
  const retention = service.retention;
  const minSizeRatio = service.minSizeRatio ?? DEFAULT_MIN_SIZE_RATIO;
  const own = engine.volumes(service);
  // A restore mode exists only for a job kind this service backs up.
  const kinds = engine.jobs(service).map((j) => j.kind);
  const restoreModes = engine.restore?.modes.filter((m) => kinds.includes(m)) ?? [];
  const restore =
    engine.restore && restoreModes.length > 0 && (engine.restore.offered?.(service) ?? true)
      ? {
          script: engine.restore.script,
          modes: restoreModes,
          pod: engine.restore.pod?.(service) ?? { volumes: [], mounts: [] },
          ...(engine.restore.retarget ? { retarget: engine.restore.retarget } : {}),
          ownSteps: engine.restore.ownSteps ?? false,
        }
      : undefined;
  const jobs = engine.jobs(service).map((engineJob): PlannedJob => {
    const { schedule, kind } = engineJob;
    return {
      service: id,
      engine: service.engine,
      kind,
      name: cronJobName(id, kind),
      namespace: service.namespace,
      schedule,
      timeZone: settings.timeZone,
      retention: engineJob.keepsCopies ? retention : undefined,
      checksIntegrity: engineJob.checksIntegrity,
      staleAfter: staleAfter(schedule),
      timeout: service.timeout ?? defaultTimeout(schedule),
      startingDeadlineSeconds: startingDeadline(schedule),
      failedJobsHistoryLimit: failedJobsKept(schedule),
      image: service.image ?? settings.images[service.engine] ?? DEFAULT_IMAGE,
      command: ['/bin/bash', `${POD_PATHS.scripts}/${engineJob.script}`, ...engineJob.args],
      env: [
        { name: 'BACKUP_SERVICE', value: id },
        { name: 'BACKUP_ENGINE', value: service.engine },
        { name: 'BACKUP_KIND', value: kind },
        { name: 'BACKUP_RUNNER', value: 'cronjob' },
        { name: 'BACKUP_DIR', value: POD_PATHS.backup },
        { name: 'BACKUP_KEEP_WITHIN_SECONDS', value: String(retention.keepWithin.totalSeconds) },
        { name: 'BACKUP_KEEP_LAST', value: String(retention.keepLast) },
        { name: 'BACKUP_MIN_SIZE_RATIO', value: decimal(minSizeRatio) },
        { name: 'PUSHGATEWAY_URL', value: settings.pushgateway.url },
        { name: 'TMPDIR', value: POD_PATHS.tmp },
        ...engine.env(service),
      ],
      // A job that keeps no copies (the integrity check) does not mount the backup volume: with a
      // hard NFS mount and the server down its pod could not even start, and the check must report.
      volumes: [
        ...(engineJob.keepsCopies ? [{ name: 'backup', claimName: volume.pvcName }] : []),
        { name: 'scripts', configMap: configMapName, defaultMode: '0555' },
        { name: 'tmp', emptyDir: { sizeLimit: service.scratchSize ?? engine.defaults.scratchSize } },
        ...own.volumes,
      ],
      mounts: [
        ...(engineJob.keepsCopies ? [{ name: 'backup', mountPath: POD_PATHS.backup, readOnly: false }] : []),
        { name: 'scripts', mountPath: POD_PATHS.scripts, readOnly: true },
        { name: 'tmp', mountPath: POD_PATHS.tmp, readOnly: false },
        ...own.mounts,
      ],
      resources: service.resources ?? engine.defaults.resources,
      runAsUser: service.runAsRoot ? 0 : (service.runAsUser ?? DEFAULT_RUN_AS_USER),
      placement: service.placement,
    };
  });
  const drills = planDrills(settings, id, service, jobs, configMapName, volume.pvcName);
  return {
    id,
    engine: service.engine,
    engineTitle: engine.title,
    namespace: service.namespace,
    displayName: service.displayName ?? camel(id),
    title: service.displayName ?? id,
    critical: service.critical ?? false,
    minSizeRatio,
    rootReason: service.runAsRoot?.reason,
    rpo: service.rpo,
    rto: service.rto ? { duration: service.rto, declared: true } : { duration: engine.typicalRestoreTime, declared: false },
    retention,
    volume,
    scripts: {
      configMapName,
      files: [SCRIPT_LIBRARY, ...engine.scripts(service), ...(restore ? [restore.script] : []), ...(drills.length > 0 && engine.drill ? [DRILL_LIBRARY, engine.drill.script] : [])],
    },
    jobs,
    target: engine.target(service),
    // The engine's own mounts (SQLite's data claim) and the claims the policy names as the dump's.
    dataClaims: uniqueClaims([...engine.dataClaims(service), ...service.dataClaims.map((claim) => ({ namespace: service.namespace, claim }))]),
    restoreSteps: engine.restoreSteps(service, { serviceId: id, namespace: service.namespace, nfsPath: volume.path }),
    restore,
    drills,
  };
}

/**
 * The service's drills: the policy-wide drills unless the service opts out (`drill.enabled: false`), its own
 * settings over them; one CronJob per kind of copy the engine drills and the service keeps. The pod
 * gets the backup volume read-only and scratch space, never the engine's connection or Secrets; it
 * runs as the backup jobs do, since only their user can read the copies (written under umask 077).
 */
function planDrills(settings: PolicySettings, id: string, service: ParsedService, jobs: PlannedJob[], configMapName: string, claimName: string): PlannedDrill[] {
  const engine = engineOf(service);
  const own = service.drill;
  if (!engine.drill || own?.enabled === false || (own === undefined && !settings.drills)) return [];
  const schedule = own?.schedule ?? settings.drills?.schedule;
  if (!schedule) return [];
  const queries: DrillQuery[] = (own?.queries ?? []).map((q) => ({
    ...(q.database !== undefined ? { database: q.database } : {}),
    sql: q.sql,
    ...(q.min !== undefined ? { min: q.min } : {}),
    ...(q.max !== undefined ? { max: q.max } : {}),
    ...(q.equals !== undefined ? { equals: q.equals } : {}),
  }));
  const drill = engine.drill;
  return drill.kinds.flatMap((kind): PlannedDrill[] => {
    const backup = jobs.find((j) => j.kind === kind && j.retention);
    if (!backup) return [];
    return [
      {
        service: id,
        engine: service.engine,
        drills: kind,
        kind: `drill-${kind}`,
        name: drillCronJobName(id, kind),
        namespace: service.namespace,
        schedule,
        timeZone: settings.timeZone,
        staleAfter: staleAfter(schedule),
        timeout: own?.timeout ?? DEFAULT_DRILL_TIMEOUT.min(schedule.shortestGap.times(0.5)),
        startingDeadlineSeconds: startingDeadline(schedule),
        failedJobsHistoryLimit: failedJobsKept(schedule),
        image: settings.drills?.image ?? DRILL_IMAGE,
        command: ['/bin/bash', `${POD_PATHS.scripts}/${drill.script}`, kind],
        env: [
          { name: 'BACKUP_SERVICE', value: id },
          { name: 'BACKUP_ENGINE', value: service.engine },
          { name: 'BACKUP_KIND', value: `drill-${kind}` },
          { name: 'BACKUP_RUNNER', value: 'cronjob' },
          { name: 'BACKUP_DIR', value: POD_PATHS.backup },
          { name: 'PUSHGATEWAY_URL', value: settings.pushgateway.url },
          { name: 'TMPDIR', value: POD_PATHS.tmp },
          { name: 'DRILL_DIR', value: POD_PATHS.drill },
          { name: 'DRILL_QUERIES', value: JSON.stringify(queries) },
        ],
        volumes: [
          { name: 'backup', claimName, readOnly: true },
          { name: 'scripts', configMap: configMapName, defaultMode: '0555' },
          { name: 'tmp', emptyDir: { sizeLimit: '1Gi' } },
          { name: 'drill', emptyDir: { sizeLimit: own?.scratchSize ?? drill.scratchSize } },
        ],
        mounts: [
          { name: 'backup', mountPath: POD_PATHS.backup, readOnly: true },
          { name: 'scripts', mountPath: POD_PATHS.scripts, readOnly: true },
          { name: 'tmp', mountPath: POD_PATHS.tmp, readOnly: false },
          { name: 'drill', mountPath: POD_PATHS.drill, readOnly: false },
        ],
        resources: own?.resources ?? drill.resources,
        runAsUser: backup.runAsUser,
        placement: undefined,
        queries,
      },
    ];
  });
}

/** The plan of a parsed policy: pure, deterministic, services sorted by id (declaration order never matters). */
export function planParsedPolicy(policy: ParsedPolicy): BackupPlan {
  const host = planHost(policy);
  const services = Object.keys(policy.services)
    .sort()
    .map((id) => {
      const planned = planServiceJobs(policy, id, policy.services[id]);
      return { ...planned, protection: protectionsOf(planned, host) };
    });
  const partial = {
    timeZone: policy.timeZone,
    pushgatewayUrl: policy.pushgateway.url,
    nfsServer: policy.nfs.server,
    alertSettings: policy.alerts,
    services,
    host,
    coverageExclusions: policy.coverage.exclude,
  };
  return { ...partial, alerts: planAlerts(partial) };
}

/**
 * The one entry point: parses the declaration once (every issue at once, with paths) and
 * returns the whole plan. Constructs, docs, lint, review, the CLI and the benchmarks take this.
 */
export function planPolicy(input: unknown): BackupPlan {
  return planParsedPolicy(parsePolicy(input));
}
