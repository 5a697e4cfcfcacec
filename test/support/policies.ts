import type { BackupPolicyInput } from '../../policy/parse/policy-schema';

/** A small valid policy with one service of every engine; tests mutate copies of it. */
export function samplePolicy(): BackupPolicyInput {
  return {
    timeZone: 'Europe/London',
    nfs: { server: '192.168.1.127' },
    pushgateway: { url: 'http://pushgateway.monitoring.svc:9091' },
    services: {
      pg: {
        engine: 'postgres',
        namespace: 'dbaas',
        connection: { host: 'pg.dbaas.svc', passwordSecret: { name: 'pg-backup', key: 'password' } },
        full: { schedule: 'daily at 00:00' },
        perDatabase: { schedule: 'daily at 00:15' },
        retention: { keepWithin: '14d', keepLast: 7 },
      },
      maria: {
        engine: 'mysql',
        namespace: 'dbaas',
        connection: { host: 'maria.dbaas.svc', passwordSecret: { name: 'maria-backup', key: 'password' } },
        full: { schedule: 'daily at 00:30' },
        retention: { keepWithin: '14d', keepLast: 7 },
      },
      etcd: {
        engine: 'etcd',
        namespace: 'kube-system',
        schedule: 'weekly on sunday at 01:00',
        endpoints: ['https://127.0.0.1:2379'],
        tlsSecret: { name: 'etcd-client' },
        retention: { keepWithin: '30d', keepLast: 4 },
      },
      vault: {
        engine: 'vault',
        namespace: 'vault',
        schedule: 'weekly on sunday at 02:00',
        address: 'http://vault.vault.svc:8200',
        tokenSecret: { name: 'vault-backup', key: 'token' },
        retention: { keepWithin: '30d', keepLast: 4 },
      },
      cache: {
        engine: 'redis',
        namespace: 'redis',
        schedule: 'weekly on sunday at 03:00',
        connection: { host: 'redis.redis.svc' },
        retention: { keepWithin: '30d', keepLast: 4 },
      },
      vw: {
        engine: 'sqlite',
        namespace: 'vaultwarden',
        schedule: 'every 6h',
        data: { claimName: 'vw-data', database: 'db.sqlite3', extraPaths: ['rsa_key.pem'], optionalExtraPaths: ['sends'] },
        integrityCheck: { schedule: 'hourly' },
        retention: { keepWithin: '30d', keepLast: 8 },
      },
    },
  };
}

/** Deep copy, mutated by `edit`: keeps each test's policy independent. */
export function policyWith(edit: (policy: any) => void): BackupPolicyInput {
  const policy = structuredClone(samplePolicy());
  edit(policy);
  return policy;
}
