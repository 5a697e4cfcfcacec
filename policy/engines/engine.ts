import type { z } from 'zod';
import { Duration } from '../values/duration';
import type { Schedule } from '../values/schedule';
import type { JOB_NAME_SUFFIXES } from '../values/names';
import type { AbsolutePath } from '../values/path';
import type { Retention } from '../values/retention';

/**
 * What an engine is, in one place. Each engine module (postgres.ts, mysql.ts, ...) owns its
 * service schema, its jobs and their scripts, its environment (the CONTRACT.md row is tested
 * against it), its volumes, the server it reads from (lint's "same server"), its restore steps
 * and its typical restore time. Everything else iterates the registry (registry.ts) and never
 * switches on the engine name.
 */

export type JobKind = keyof typeof JOB_NAME_SUFFIXES;

export interface SecretKeyRef {
  name: string;
  key: string;
}

export interface EnvVar {
  name: string;
  value?: string;
  secret?: SecretKeyRef;
}

export type PodVolume =
  | { name: string; claimName: string; readOnly?: boolean }
  | { name: string; configMap: string; defaultMode: string }
  | { name: string; emptyDir: { sizeLimit: string } }
  | { name: string; secret: string; defaultMode: string }
  /** A directory on the node (etcd's data directory, restored on the control-plane node itself). */
  | { name: string; hostPath: { path: string; type: 'Directory' | 'DirectoryOrCreate' } };

export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly: boolean;
}

export interface Resources {
  requests: { cpu: string; memory: string };
  limits: { cpu?: string; memory: string };
}

/** One job an engine runs for a service. */
export interface EngineJob {
  kind: JobKind;
  schedule: Schedule;
  /** The script in host-scripts/, run as `bash <script> <args>`. */
  script: string;
  args: string[];
  /** False for jobs that keep no copies (an integrity check): no retention, no size rule. */
  keepsCopies: boolean;
  /** Pushes backup_integrity_ok, which gets its own critical alert. */
  checksIntegrity: boolean;
}

/** The service fields every engine has, after parsing (values, not strings). */
export interface ParsedServiceBase {
  engine: string;
  namespace: string;
  retention: Retention;
  displayName?: string;
  critical?: boolean;
  rpo?: Duration;
  rto?: Duration;
  nfsPath?: AbsolutePath;
  image?: string;
  resources?: Resources;
  timeout?: Duration;
  minSizeRatio?: number;
  runAsUser?: number;
  runAsRoot?: { reason: string };
  scratchSize?: string;
  placement?: {
    nodeSelector?: Record<string, string>;
    tolerations?: { key?: string; operator?: 'Exists' | 'Equal'; value?: string; effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }[];
    hostNetwork?: boolean;
  };
}

/** Where a restore reads from and what it restores, for the runbook and the restore steps. */
export interface RestoreContext {
  serviceId: string;
  namespace: string;
  /** The backup directory on the NFS server. */
  nfsPath: string;
}

/** A PVC whose data this service's own jobs copy at the application level. */
export interface ClaimRef {
  namespace: string;
  claim: string;
}

/**
 * What a restore Job needs beyond the backup job's pod: the volume it writes into (Redis's data
 * claim, etcd's data directory on the node) and the user it writes as, so that the restored files
 * belong to the server that reads them.
 */
export interface RestorePod {
  volumes: PodVolume[];
  mounts: VolumeMount[];
  /** The restore's user when it is not the backup's (the server's own UID); 0 needs `runAsRoot`-like care. */
  runAsUser?: number;
  /**
   * The pod's fsGroup when it is not its user's: the group the server reads its files with. The
   * restore keeps the backup's user (the only one that can read the 0600 copies) and writes files
   * that group can read, into a volume the kubelet makes group-writable for it.
   */
  fsGroup?: number;
  env?: EnvVar[];
}

/**
 * What `backup-policy restore --target` may point a restore at instead of the policy's own server:
 * a server address (its environment variables replaced), a URL, or the volume the restore writes
 * into (a PVC's name, a directory on the node). Data, not code: the renderer applies it.
 */
export type RestoreRetarget =
  | { form: 'host:port'; hostVariable: string; portVariable: string }
  | { form: 'url'; variable: string }
  | { form: 'claim'; volume: string }
  | { form: 'path'; volume: string };

export interface EngineModule<S extends ParsedServiceBase = ParsedServiceBase> {
  readonly engine: string;
  /** The engine's name in documents ("PostgreSQL"). */
  readonly title: string;
  /** The service schema: a strict object whose `engine` field is the literal `engine`. */
  readonly schema: z.ZodType<S, unknown>;
  /** A small valid service, used by the tests that every engine must pass. */
  readonly example: Record<string, unknown>;
  readonly defaults: { resources: Resources; scratchSize: string };
  /** Used for the RPO/RTO table where a service declares no `rto`. */
  readonly typicalRestoreTime: Duration;
  /** The row of host-scripts/CONTRACT.md's per-engine table (a test holds the file to it). */
  readonly contract: { variables: string; secretBacked: string };
  /** The scripts the service's ConfigMap ships, libraries first (backup-lib.sh is always added). */
  scripts(service: S): string[];
  jobs(service: S): EngineJob[];
  env(service: S): EnvVar[];
  volumes(service: S): { volumes: PodVolume[]; mounts: VolumeMount[] };
  /** What the jobs read from: two services with the same target hit the same server. */
  target(service: S): string;
  /** PVCs this service's jobs copy themselves (covered by an app-level dump). */
  dataClaims(service: S): ClaimRef[];
  /** Markdown lines of the restore procedure, with the service's real names and paths. */
  restoreSteps(service: S, context: RestoreContext): string[];
  /**
   * The restore script, run as a Job from the same image with the same Secrets and the backup
   * volume read-only (host-scripts/CONTRACT.md, "Restore contract"), for the job kinds it restores.
   * Engines without one keep the runbook's manual steps.
   */
  /**
   * The restore drill: a script of the backup-drill image that restores the newest copy of each
   * of these kinds into a throwaway server inside the pod and checks it (host-scripts/CONTRACT.md,
   * "Restore drills"). `queries`: whether the policy may declare SQL checks for this engine.
   */
  readonly drill?: { script: string; kinds: JobKind[]; queries: boolean; scratchSize: string; resources: Resources };
  readonly restore?: {
    script: string;
    modes: JobKind[];
    pod?(service: S): RestorePod;
    retarget?: RestoreRetarget;
    /** False when this service lacks what the restore needs (Redis without its data volume declared). @default always offered */
    offered?(service: S): boolean;
    /**
     * The engine's restoreSteps are the whole procedure around the Job (stop the server, the
     * `backup-policy restore` Job, start it): the runbook shows them instead of the generic Job commands.
     */
    ownSteps?: boolean;
  };
}

/** Declares an engine module with its service type inferred from the schema. */
export function defineEngine<T extends z.ZodType<ParsedServiceBase, unknown>>(module: EngineModule<z.output<T>> & { schema: T }): EngineModule<z.output<T>> & { schema: T } {
  return module;
}

/**
 * The default job image: built from images/backup-tools/ by the image workflow. Images are pinned;
 * every tool the scripts call is baked in (no package installs at run time).
 */
export const DEFAULT_IMAGE = 'ghcr.io/backup-policy/backup-tools:0.3.0';

/**
 * The restore drills' image: backup-tools plus the servers a drill starts inside its pod
 * (images/backup-drill), published with it by the same tag.
 */
export const DRILL_IMAGE = 'ghcr.io/backup-policy/backup-drill:0.3.0';

/** Sourced by every job script; always shipped first. */
export const SCRIPT_LIBRARY = 'backup-lib.sh';
/** Sourced by every restore drill script after backup-lib.sh; shipped with the drill scripts. */
export const DRILL_LIBRARY = 'drill-lib.sh';

export const SMALL_RESOURCES: Resources = { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } };
export const DUMP_RESOURCES: Resources = { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '2', memory: '1Gi' } };
/** A drill runs a database server and a restore in one pod. */
export const DRILL_RESOURCES: Resources = { requests: { cpu: '500m', memory: '512Mi' }, limits: { cpu: '2', memory: '2Gi' } };
/** A drill of a copy that needs no server (a snapshot file checked on its own). */
export const SMALL_DRILL_RESOURCES: Resources = { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } };

export const DEFAULT_TIMEOUT = Duration.hours(1);
export const DEFAULT_MIN_SIZE_RATIO = 0.5;
/** An unprivileged UID that owns nothing on the node. */
export const DEFAULT_RUN_AS_USER = 10001;

/** Where things appear inside the pod; the test harness bind-mounts the same paths. */
export const POD_PATHS = {
  scripts: '/opt/backup-policy',
  backup: '/backup',
  tmp: '/tmp',
  data: '/data',
  etcdTls: '/etc/backup-policy/etcd-tls',
  /** A drill's throwaway server lives here (an emptyDir). */
  drill: '/drill',
} as const;

/** A job of the common shape: one script, the kind as its argument when the script has several. */
export function job(kind: JobKind, schedule: Schedule, script: string, args: string[] = []): EngineJob {
  return { kind, schedule, script, args, keepsCopies: kind !== 'integrity', checksIntegrity: kind === 'integrity' };
}

export function noVolumes(): { volumes: PodVolume[]; mounts: VolumeMount[] } {
  return { volumes: [], mounts: [] };
}
