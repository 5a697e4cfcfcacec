import type { Engine } from './schema';

/**
 * Per-engine facts that are not policy: which script runs, what it needs, and the defaults a
 * service may override. Images are pinned; every tool the scripts call is baked into the image
 * (no package installs at run time). The default image is built from images/backup-tools/.
 */
export const DEFAULT_IMAGE = 'ghcr.io/backup-policy/backup-tools:0.2.0';

export interface EngineDefaults {
  /** The job script in host-scripts/, run as `bash <script> <arg>`. */
  script: string;
  resources: { requests: { cpu: string; memory: string }; limits: { cpu?: string; memory: string } };
  /** Scratch space: etcd verifies by restoring the snapshot into it. */
  scratchSize: string;
}

const SMALL = { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } };
const DUMP = { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '2', memory: '1Gi' } };

export const ENGINE_DEFAULTS: Record<Engine, EngineDefaults> = {
  postgres: { script: 'postgres-backup.sh', resources: DUMP, scratchSize: '1Gi' },
  mysql: { script: 'mysql-backup.sh', resources: DUMP, scratchSize: '1Gi' },
  etcd: { script: 'etcd-backup.sh', resources: SMALL, scratchSize: '8Gi' },
  vault: { script: 'vault-backup.sh', resources: SMALL, scratchSize: '1Gi' },
  redis: { script: 'redis-backup.sh', resources: SMALL, scratchSize: '1Gi' },
  sqlite: { script: 'sqlite-backup.sh', resources: SMALL, scratchSize: '2Gi' },
};

/** The integrity check is its own script, shipped with the sqlite backup in one ConfigMap. */
export const SQLITE_INTEGRITY_SCRIPT = 'sqlite-integrity-check.sh';
/** Sourced by every job script; always shipped beside them. */
export const SCRIPT_LIBRARY = 'backup-lib.sh';

export const DEFAULT_TIMEOUT_SECONDS = 3600;
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
} as const;
