import { defineBackupPolicy } from '../policy/define';

/**
 * The homelab of shared/spec/homelab-backup-architecture.md, settled where that document
 * contradicts itself (see design.md): one place for every in-cluster backup's schedule,
 * retention and target. Add a service here and its CronJobs, volume, scripts and alerts follow.
 */
export const homelabPolicy = defineBackupPolicy({
  timeZone: 'Europe/London',
  nfs: { server: '192.168.1.127', pathTemplate: '/srv/nfs/{service}-backup' },
  pushgateway: { url: 'http://prometheus-pushgateway.monitoring.svc.cluster.local:9091' },
  services: {
    postgresql: {
      engine: 'postgres',
      namespace: 'dbaas',
      connection: {
        host: 'postgresql.dbaas.svc.cluster.local',
        user: 'postgres',
        passwordSecret: { name: 'postgresql-backup', key: 'password' },
      },
      full: { schedule: 'daily at 00:00' },
      perDatabase: { schedule: 'daily at 00:15' },
      retention: { keepWithin: '14d', keepLast: 7 },
    },
    mysql: {
      engine: 'mysql',
      namespace: 'dbaas',
      connection: {
        host: 'mysql.dbaas.svc.cluster.local',
        user: 'root',
        passwordSecret: { name: 'mysql-backup', key: 'password' },
      },
      full: { schedule: 'daily at 00:30' },
      perDatabase: { schedule: 'daily at 00:45' },
      retention: { keepWithin: '14d', keepLast: 7 },
    },
    etcd: {
      engine: 'etcd',
      namespace: 'kube-system',
      schedule: 'weekly on sunday at 01:00',
      // kubeadm's etcd listens on the control-plane node's loopback with client certificates.
      endpoints: ['https://127.0.0.1:2379'],
      tlsSecret: { name: 'etcd-backup-client' },
      placement: {
        hostNetwork: true,
        nodeSelector: { 'node-role.kubernetes.io/control-plane': '' },
        tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }],
      },
      retention: { keepWithin: '30d', keepLast: 4 },
    },
    vault: {
      engine: 'vault',
      namespace: 'vault',
      schedule: 'weekly on sunday at 02:00',
      address: 'http://vault-active.vault.svc.cluster.local:8200',
      tokenSecret: { name: 'vault-backup-token', key: 'token' },
      retention: { keepWithin: '30d', keepLast: 4 },
    },
    redis: {
      engine: 'redis',
      namespace: 'redis',
      schedule: 'weekly on sunday at 03:00',
      connection: {
        host: 'redis-master.redis.svc.cluster.local',
        passwordSecret: { name: 'redis-backup', key: 'password' },
      },
      retention: { keepWithin: '30d', keepLast: 4 },
    },
    vaultwarden: {
      engine: 'sqlite',
      namespace: 'vaultwarden',
      schedule: 'every 6h',
      data: {
        claimName: 'vaultwarden-data',
        database: 'db.sqlite3',
        extraPaths: ['rsa_key.pem'],
        // Created on first use (sends, attachments) or only by older releases (rsa_key.pub.pem)
        // or after the admin page saved settings (config.json).
        optionalExtraPaths: ['rsa_key.pub.pem', 'attachments', 'sends', 'config.json'],
      },
      integrityCheck: { schedule: 'hourly' },
      // Vaultwarden's image writes its data as root; reading a WAL database needs write access
      // to its -shm file, so this job runs as the data's owner.
      runAsUser: 0,
      retention: { keepWithin: '30d', keepLast: 8 },
    },
  },
});
