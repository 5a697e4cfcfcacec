import type { BackupPolicyInput } from '../policy/parse/policy-schema';
import type { ServiceInput } from '../policy/engines/registry';

/**
 * The engines the benchmark's workload and its hand-written bare twin (flat-services.ts) cover:
 * their own list, so a new engine module changes neither until someone adds it here on purpose.
 */
export type Engine = 'postgres' | 'mysql' | 'etcd' | 'vault' | 'redis' | 'sqlite';

/**
 * The benchmark's workloads. Generated policies cycle through the six engines in the shapes of
 * stacks/homelab-policy.ts, so every feature the homelab uses is exercised at scale: both
 * postgres/mysql jobs, etcd with TLS and control-plane placement, redis with AUTH, sqlite as root
 * with an integrity check. Ids, namespaces, hosts, Secrets and minutes vary per service, so no two
 * services render alike and the schedule cache sees a realistic mix.
 */

/** `homelab` is the bundled policy; a number is a generated policy with that many services. */
export type BenchTarget = 'homelab' | number;

export function parseTarget(text: string | undefined): BenchTarget {
  if (text === 'homelab') return text;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected "homelab" or a service count, received ${JSON.stringify(text)}`);
  return n;
}

export function stackIdFor(target: BenchTarget): string {
  return target === 'homelab' ? 'homelab' : `bench-${target}`;
}

/** Policy-wide settings, the homelab's, shared by every workload. */
export const SETTINGS = {
  timeZone: 'Europe/London',
  nfsServer: '192.168.1.127',
  pathTemplate: '/srv/nfs/{service}-backup',
  pushgatewayUrl: 'http://prometheus-pushgateway.monitoring.svc.cluster.local:9091',
} as const;

/** What differs between two services of the same engine; the rest is the engine's shape. */
export interface ServiceCase {
  id: string;
  engine: Engine;
  namespace: string;
  /** Database, vault or redis host; unused by etcd and sqlite. */
  host: string;
  /** The credentials Secret (etcd: the client-certificate Secret); unused by sqlite. */
  secretName: string;
  /** Minute of the hour at which the service's dated schedules start (postgres/mysql per-database: +15). */
  minute: number;
  /** sqlite: the application's data claim. */
  claimName: string;
}

/** The homelab's six services as cases; bench/flat-services.ts turns them into its bare twin. */
export function homelabCases(): ServiceCase[] {
  const base = { host: '', secretName: '', minute: 0, claimName: '' };
  return [
    { ...base, id: 'etcd', engine: 'etcd', namespace: 'kube-system', secretName: 'etcd-backup-client', minute: 30 },
    { ...base, id: 'mysql', engine: 'mysql', namespace: 'dbaas', host: 'mysql.dbaas.svc.cluster.local', secretName: 'mysql-backup', minute: 30 },
    { ...base, id: 'postgresql', engine: 'postgres', namespace: 'dbaas', host: 'postgresql.dbaas.svc.cluster.local', secretName: 'postgresql-backup' },
    { ...base, id: 'redis', engine: 'redis', namespace: 'redis', host: 'redis-master.redis.svc.cluster.local', secretName: 'redis-backup' },
    { ...base, id: 'vault', engine: 'vault', namespace: 'vault', host: 'vault-active.vault.svc.cluster.local', secretName: 'vault-backup-token' },
    { ...base, id: 'vaultwarden', engine: 'sqlite', namespace: 'vaultwarden', claimName: 'vaultwarden-data' },
  ];
}

const ENGINE_CYCLE: readonly { engine: Engine; prefix: string }[] = [
  { engine: 'postgres', prefix: 'pg' },
  { engine: 'mysql', prefix: 'my' },
  { engine: 'etcd', prefix: 'etcd' },
  { engine: 'vault', prefix: 'vault' },
  { engine: 'redis', prefix: 'redis' },
  { engine: 'sqlite', prefix: 'lite' },
];

/** N deterministic cases; ids such as `pg-0001` stay far below the 36-character id limit. */
export function generatedCases(n: number): ServiceCase[] {
  return Array.from({ length: n }, (_, i) => {
    const { engine, prefix } = ENGINE_CYCLE[i % ENGINE_CYCLE.length];
    const id = `${prefix}-${String(i + 1).padStart(4, '0')}`;
    const namespace = `team-${i % 10}`;
    return {
      id,
      engine,
      namespace,
      host: `${id}.${namespace}.svc.cluster.local`,
      secretName: `${id}-backup`,
      minute: i % 60,
      claimName: `${id}-data`,
    };
  });
}

export function casesFor(target: BenchTarget): ServiceCase[] {
  return target === 'homelab' ? homelabCases() : generatedCases(target);
}

export function twoDigits(n: number): string {
  return String(n).padStart(2, '0');
}

/** Minute of the per-database job: a quarter hour after the full dump, as in the homelab. */
export function perDatabaseMinute(minute: number): number {
  return (minute + 15) % 60;
}

/** The etcd placement of the homelab: kubeadm's etcd listens on the control-plane node's loopback. */
export const ETCD_PLACEMENT = {
  hostNetwork: true,
  nodeSelector: { 'node-role.kubernetes.io/control-plane': '' },
  tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists' as const, effect: 'NoSchedule' as const }],
};
export const ETCD_ENDPOINTS = ['https://127.0.0.1:2379'];
export const SQLITE_INTEGRITY_CRON = '30 * * * *';
export const SQLITE_DATA = {
  database: 'db.sqlite3',
  extraPaths: ['rsa_key.pem'],
  optionalExtraPaths: ['rsa_key.pub.pem', 'attachments', 'sends', 'config.json'],
};

function serviceInput(c: ServiceCase): ServiceInput {
  const mm = twoDigits(c.minute);
  switch (c.engine) {
    case 'postgres':
    case 'mysql':
      return {
        engine: c.engine,
        namespace: c.namespace,
        connection: {
          host: c.host,
          user: c.engine === 'postgres' ? 'postgres' : 'root',
          passwordSecret: { name: c.secretName, key: 'password' },
        },
        full: { schedule: `daily at 00:${mm}` },
        perDatabase: { schedule: `daily at 00:${twoDigits(perDatabaseMinute(c.minute))}` },
        retention: { keepWithin: '14d', keepLast: 7 },
      };
    case 'etcd':
      return {
        engine: 'etcd',
        namespace: c.namespace,
        schedule: `weekly on sunday at 02:${mm}`,
        endpoints: [...ETCD_ENDPOINTS],
        tlsSecret: { name: c.secretName },
        placement: structuredClone(ETCD_PLACEMENT),
        retention: { keepWithin: '30d', keepLast: 4 },
      };
    case 'vault':
      return {
        engine: 'vault',
        namespace: c.namespace,
        schedule: `weekly on sunday at 02:${mm}`,
        address: `http://${c.host}:8200`,
        tokenSecret: { name: c.secretName, key: 'token' },
        retention: { keepWithin: '30d', keepLast: 4 },
      };
    case 'redis':
      return {
        engine: 'redis',
        namespace: c.namespace,
        schedule: `weekly on sunday at 03:${mm}`,
        connection: { host: c.host, passwordSecret: { name: c.secretName, key: 'password' } },
        retention: { keepWithin: '30d', keepLast: 4 },
      };
    case 'sqlite':
      return {
        engine: 'sqlite',
        namespace: c.namespace,
        schedule: 'every 6h',
        data: { claimName: c.claimName, ...structuredClone(SQLITE_DATA) },
        // Hourly at :30, as in the homelab: never while the 6-hourly backup (at :00) reads the database.
        integrityCheck: { schedule: SQLITE_INTEGRITY_CRON },
        runAsRoot: { reason: 'the application writes its data as root (as Vaultwarden does)' },
        retention: { keepWithin: '30d', keepLast: 8 },
      };
  }
}

/** A valid policy with `n` services (see generatedCases); nfs paths are unique per id by the template. */
export function generatePolicy(n: number): BackupPolicyInput {
  return {
    timeZone: SETTINGS.timeZone,
    nfs: { server: SETTINGS.nfsServer, pathTemplate: SETTINGS.pathTemplate },
    pushgateway: { url: SETTINGS.pushgatewayUrl },
    services: Object.fromEntries(generatedCases(n).map((c) => [c.id, serviceInput(c)])),
  };
}
