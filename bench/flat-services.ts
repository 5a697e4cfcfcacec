import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ETCD_ENDPOINTS,
  ETCD_PLACEMENT,
  SETTINGS,
  SQLITE_DATA,
  SQLITE_INTEGRITY_CRON,
  casesFor,
  perDatabaseMinute,
  type BenchTarget,
  type ServiceCase,
} from './generate-policy';

/**
 * The workload as someone without our layers would write it: a table with every derived value
 * spelled out (cron strings, deadlines, history limits, retention in seconds). synth-bare and
 * synth-floor build their resources from this table; run.ts proves that both produce exactly the
 * Terraform JSON our path produces, so the comparison is like for like. Nothing here imports the
 * policy core: no zod, no Schedule/Duration, no planner.
 */

export interface FlatEnv {
  name: string;
  value?: string;
  secret?: { name: string; key: string };
}

/** Volumes beyond the backup/scripts/tmp trio every job has. */
export type FlatVolume = { name: string; claimName: string } | { name: string; secretName: string; defaultMode: string };

export interface FlatJob {
  kind: string;
  name: string;
  cron: string;
  startingDeadlineSeconds: number;
  failedJobsHistoryLimit: number;
  activeDeadlineSeconds: number;
  command: string[];
  env: FlatEnv[];
}

export interface FlatService {
  id: string;
  namespace: string;
  nfsPath: string;
  scripts: string[];
  scratchSize: string;
  resources: { requests: { cpu: string; memory: string }; limits: { cpu: string; memory: string } };
  runAsUser: number;
  hostNetwork: boolean;
  nodeSelector?: Record<string, string>;
  tolerations?: { key: string; operator: string; effect: string }[];
  extraVolumes: FlatVolume[];
  extraMounts: { name: string; mountPath: string; readOnly: boolean }[];
  jobs: FlatJob[];
}

export const IMAGE = 'ghcr.io/backup-policy/backup-tools:0.3.0';
export const CAPACITY = '100Gi';
export const MOUNT_OPTIONS = ['hard', 'nfsvers=4.1'];
const SCRIPTS_DIR = '/opt/backup-policy';

const SMALL = { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } };
const DUMP = { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '2', memory: '1Gi' } };

/** Deadlines and history limits per cadence, worked out by hand once (daily and weekly agree). */
const DAILY = { startingDeadlineSeconds: 3600, failedJobsHistoryLimit: 3, activeDeadlineSeconds: 3600 };
const WEEKLY = DAILY;
const EVERY_6H = { startingDeadlineSeconds: 3600, failedJobsHistoryLimit: 5, activeDeadlineSeconds: 3600 };
const HOURLY = { startingDeadlineSeconds: 1800, failedJobsHistoryLimit: 25, activeDeadlineSeconds: 1800 };

const DAY = 86400;

function commonEnv(c: ServiceCase, kind: string, keepWithinDays: number, keepLast: number): FlatEnv[] {
  return [
    { name: 'BACKUP_SERVICE', value: c.id },
    { name: 'BACKUP_ENGINE', value: c.engine },
    { name: 'BACKUP_KIND', value: kind },
    { name: 'BACKUP_RUNNER', value: 'cronjob' },
    { name: 'BACKUP_DIR', value: '/backup' },
    { name: 'BACKUP_KEEP_WITHIN_SECONDS', value: String(keepWithinDays * DAY) },
    { name: 'BACKUP_KEEP_LAST', value: String(keepLast) },
    { name: 'BACKUP_MIN_SIZE_RATIO', value: '0.5' },
    { name: 'PUSHGATEWAY_URL', value: SETTINGS.pushgatewayUrl },
    { name: 'TMPDIR', value: '/tmp' },
  ];
}

function job(kind: string, name: string, cron: string, timing: typeof DAILY, script: string, args: string[], env: FlatEnv[]): FlatJob {
  return { kind, name, cron, ...timing, command: ['/bin/bash', `${SCRIPTS_DIR}/${script}`, ...args], env };
}

function flatService(c: ServiceCase): FlatService {
  const common = {
    id: c.id,
    namespace: c.namespace,
    nfsPath: SETTINGS.pathTemplate.replace('{service}', c.id),
    scratchSize: '1Gi',
    resources: SMALL,
    runAsUser: 10001,
    hostNetwork: false,
    extraVolumes: [] as FlatVolume[],
    extraMounts: [] as FlatService['extraMounts'],
  };
  switch (c.engine) {
    case 'postgres':
    case 'mysql': {
      const pg = c.engine === 'postgres';
      const script = pg ? 'postgres-backup.sh' : 'mysql-backup.sh';
      const engineEnv: FlatEnv[] = pg
        ? [
            { name: 'PGHOST', value: c.host },
            { name: 'PGPORT', value: '5432' },
            { name: 'PGUSER', value: 'postgres' },
            { name: 'PGPASSWORD', secret: { name: c.secretName, key: 'password' } },
          ]
        : [
            { name: 'MYSQL_HOST', value: c.host },
            { name: 'MYSQL_PORT', value: '3306' },
            { name: 'MYSQL_USER', value: 'root' },
            { name: 'MYSQL_PASSWORD', secret: { name: c.secretName, key: 'password' } },
          ];
      return {
        ...common,
        scripts: ['backup-lib.sh', script, pg ? 'postgres-restore.sh' : 'mysql-restore.sh'],
        resources: DUMP,
        jobs: [
          job('full', `${c.id}-full-backup`, `${c.minute} 0 * * *`, DAILY, script, ['full'], [...commonEnv(c, 'full', 14, 7), ...engineEnv]),
          job('per-database', `${c.id}-per-db-backup`, `${perDatabaseMinute(c.minute)} 0 * * *`, DAILY, script, ['per-database'], [
            ...commonEnv(c, 'per-database', 14, 7),
            ...engineEnv,
          ]),
        ],
      };
    }
    case 'etcd': {
      const tls = '/etc/backup-policy/etcd-tls';
      return {
        ...common,
        scripts: ['backup-lib.sh', 'etcd-backup.sh'],
        scratchSize: '8Gi',
        hostNetwork: ETCD_PLACEMENT.hostNetwork,
        nodeSelector: ETCD_PLACEMENT.nodeSelector,
        tolerations: ETCD_PLACEMENT.tolerations,
        extraVolumes: [{ name: 'etcd-tls', secretName: c.secretName, defaultMode: '0440' }],
        extraMounts: [{ name: 'etcd-tls', mountPath: tls, readOnly: true }],
        jobs: [
          job('snapshot', `${c.id}-backup`, `${c.minute} 2 * * 0`, WEEKLY, 'etcd-backup.sh', [], [
            ...commonEnv(c, 'snapshot', 30, 4),
            { name: 'ETCDCTL_API', value: '3' },
            { name: 'ETCDCTL_ENDPOINTS', value: ETCD_ENDPOINTS.join(',') },
            { name: 'ETCDCTL_CACERT', value: `${tls}/ca.crt` },
            { name: 'ETCDCTL_CERT', value: `${tls}/tls.crt` },
            { name: 'ETCDCTL_KEY', value: `${tls}/tls.key` },
          ]),
        ],
      };
    }
    case 'vault':
      return {
        ...common,
        scripts: ['backup-lib.sh', 'vault-backup.sh'],
        jobs: [
          job('snapshot', `${c.id}-backup`, `${c.minute} 2 * * 0`, WEEKLY, 'vault-backup.sh', [], [
            ...commonEnv(c, 'snapshot', 30, 4),
            { name: 'VAULT_ADDR', value: `http://${c.host}:8200` },
            { name: 'VAULT_TOKEN', secret: { name: c.secretName, key: 'token' } },
          ]),
        ],
      };
    case 'redis':
      return {
        ...common,
        scripts: ['backup-lib.sh', 'redis-backup.sh'],
        jobs: [
          job('snapshot', `${c.id}-backup`, `${c.minute} 3 * * 0`, WEEKLY, 'redis-backup.sh', [], [
            ...commonEnv(c, 'snapshot', 30, 4),
            { name: 'REDIS_HOST', value: c.host },
            { name: 'REDIS_PORT', value: '6379' },
            { name: 'REDISCLI_AUTH', secret: { name: c.secretName, key: 'password' } },
          ]),
        ],
      };
    case 'sqlite': {
      const sqliteEnv: FlatEnv[] = [
        { name: 'SQLITE_DATA_DIR', value: '/data' },
        { name: 'SQLITE_DB', value: SQLITE_DATA.database },
        { name: 'SQLITE_EXTRA_PATHS', value: SQLITE_DATA.extraPaths.join(' ') },
        { name: 'SQLITE_OPTIONAL_EXTRA_PATHS', value: SQLITE_DATA.optionalExtraPaths.join(' ') },
      ];
      return {
        ...common,
        scripts: ['backup-lib.sh', 'sqlite-lib.sh', 'sqlite-backup.sh', 'sqlite-integrity-check.sh'],
        scratchSize: '2Gi',
        runAsUser: 0,
        extraVolumes: [{ name: 'data', claimName: c.claimName }],
        extraMounts: [{ name: 'data', mountPath: '/data', readOnly: false }],
        jobs: [
          job('snapshot', `${c.id}-backup`, '0 */6 * * *', EVERY_6H, 'sqlite-backup.sh', [], [...commonEnv(c, 'snapshot', 30, 8), ...sqliteEnv]),
          job('integrity', `${c.id}-integrity-check`, SQLITE_INTEGRITY_CRON, HOURLY, 'sqlite-integrity-check.sh', [], [
            ...commonEnv(c, 'integrity', 30, 8),
            ...sqliteEnv,
          ]),
        ],
      };
    }
  }
}

export function flatServices(target: BenchTarget): FlatService[] {
  return casesFor(target).map(flatService);
}

/**
 * Every script once, escaped for Terraform's template syntax (`${` and `%{` doubled) so the pod
 * receives the exact bytes; a hand-written program reads each file once, not once per service.
 */
export function loadScripts(names: Iterable<string>): Map<string, string> {
  const dir = join(__dirname, '..', '..', 'host-scripts');
  const scripts = new Map<string, string>();
  for (const name of names) {
    if (!scripts.has(name)) {
      // Function replacements: in a replacement string "$$" means "$", which would undo the escape.
      scripts.set(name, readFileSync(join(dir, name), 'utf8').replace(/\$\{/g, () => '$${').replace(/%\{/g, () => '%%{'));
    }
  }
  return scripts;
}

export function labels(service: string, component: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'backup-policy',
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/managed-by': 'backup-policy',
    'backup-policy/service': service,
  };
}
