/**
 * Tiny policy inputs for the renderer tests: one or two services, fixed paths and names, so each
 * expected object can be written out in full and a renderer bug reads as a small diff.
 */
import type { BackupPolicyInput } from '../../policy/parse/policy-schema';
import type { HostInput } from '../../policy/schema/host';

/** A policy holding exactly `services`, in Europe/London, with the default NFS and alert settings. */
export function policyOf(services: BackupPolicyInput['services'], extra: Partial<BackupPolicyInput> = {}): BackupPolicyInput {
  return {
    timeZone: 'Europe/London',
    nfs: { server: '10.0.0.5' },
    pushgateway: { url: 'http://pushgateway.monitoring.svc:9091' },
    services,
    ...extra,
  };
}

/** A PostgreSQL service with only the full dump, daily at 00:00. */
export const pgService = {
  engine: 'postgres',
  namespace: 'db',
  connection: { host: 'pg.db.svc', passwordSecret: { name: 'pg-auth', key: 'password' } },
  full: { schedule: 'daily at 00:00' },
  retention: { keepWithin: '14d', keepLast: 7 },
} as const;

/** A Redis service, weekly on Sunday at 03:00. */
export const redisService = {
  engine: 'redis',
  namespace: 'cache',
  schedule: 'weekly on sunday at 03:00',
  connection: { host: 'redis.cache.svc' },
  retention: { keepWithin: '30d', keepLast: 4 },
} as const;

/** A host section with short, fixed paths; `over` replaces top-level fields. */
export function smallHost(over: Partial<HostInput> = {}): HostInput {
  return {
    name: 'pve',
    address: '192.168.1.10',
    pushgateway: { url: 'http://192.168.1.20:30091' },
    snapshots: {
      volumeGroup: 'pve',
      thinPool: 'data',
      excludeNamespaces: ['db'],
      schedule: 'daily at 03:00',
      retention: '7d',
    },
    fileBackup: {
      mountPoint: '/mnt/backup',
      schedule: 'daily at 05:00',
    },
    offsite: {
      nas: { host: 'nas.lan', identityFile: '/root/.ssh/nas' },
      schedule: 'daily at 06:00',
      backupDiskTarget: '/volume1/pve-backup',
      sources: [{ path: '/srv/nfs', target: '/volume1/nfs' }],
      changeLog: '/var/log/nfs-changes.log',
    },
    ...over,
  };
}
