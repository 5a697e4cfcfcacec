import { defineBackupPolicy } from '../policy/parse/define';

/**
 * The homelab of shared/spec/homelab-backup-architecture.md, settled where that document
 * contradicts itself (see design.md): one place for every in-cluster backup's schedule,
 * retention and target. Add a service here and its CronJobs, volume, scripts and alerts follow.
 */
export const homelabPolicy = defineBackupPolicy({
  timeZone: 'Europe/London',
  nfs: { server: '192.168.1.127', pathTemplate: '/srv/nfs/{service}-backup' },
  pushgateway: { url: 'http://prometheus-pushgateway.monitoring.svc.cluster.local:9091' },
  // This homelab publishes its generated runbooks from its own infrastructure repository.
  alerts: { runbookBaseUrl: 'https://github.com/viktorbarzin/infra/blob/main/docs/runbooks' },
  services: {
    postgresql: {
      engine: 'postgres',
      displayName: 'PostgreSQL',
      namespace: 'dbaas',
      connection: {
        host: 'postgresql.dbaas.svc.cluster.local',
        user: 'postgres',
        passwordSecret: { name: 'postgresql-backup', key: 'password' },
      },
      full: { schedule: 'daily at 00:00' },
      perDatabase: { schedule: 'daily at 00:15' },
      retention: { keepWithin: '14d', keepLast: 7 },
      // The PVCs each dump covers, as the Helm charts name them: `lint --pvcs` counts them covered.
      dataClaims: ['data-postgresql-0'],
    },
    mysql: {
      engine: 'mysql',
      displayName: 'MySQL',
      namespace: 'dbaas',
      connection: {
        host: 'mysql.dbaas.svc.cluster.local',
        user: 'root',
        passwordSecret: { name: 'mysql-backup', key: 'password' },
      },
      full: { schedule: 'daily at 00:30' },
      perDatabase: { schedule: 'daily at 00:45' },
      retention: { keepWithin: '14d', keepLast: 7 },
      dataClaims: ['data-mysql-0'],
    },
    etcd: {
      engine: 'etcd',
      namespace: 'kube-system',
      // Not 01:00: Europe/London's clocks change at 01:00 local on a Sunday, so a 01:00 Sunday run
      // fell into the spring-forward gap (systemd and the CronJob controller both skip it: a 14-day
      // hole once a year) and into the autumn repeat. 02:30 is clear of both, keeps half an hour
      // from the other Sunday jobs (vault 02:00, redis 03:00) and ends before the 03:00 snapshots.
      schedule: 'weekly on sunday at 02:30',
      // kubeadm's etcd listens on the control-plane node's loopback with client certificates.
      endpoints: ['https://127.0.0.1:2379'],
      tlsSecret: { name: 'etcd-backup-client' },
      placement: {
        hostNetwork: true,
        nodeSelector: { 'node-role.kubernetes.io/control-plane': '' },
        tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }],
      },
      retention: { keepWithin: '30d', keepLast: 4 },
      // The member `backup-policy restore etcd` brings back, on the one control-plane node. The spec
      // does not record the node's name and address: these must equal --name and
      // --initial-advertise-peer-urls in /etc/kubernetes/manifests/etcd.yaml on that node, or the
      // restored member would come back as another one.
      member: { name: 'k8s-master', peerUrl: 'https://192.168.1.130:2380', dataDir: '/var/lib/etcd' },
      // No dataClaims: kubeadm's etcd is a static pod keeping /var/lib/etcd on the node's own disk,
      // so no snapshot or file-backup layer reaches it; its snapshot job is its only copy.
    },
    vault: {
      engine: 'vault',
      namespace: 'vault',
      schedule: 'weekly on sunday at 02:00',
      address: 'http://vault-active.vault.svc.cluster.local:8200',
      tokenSecret: { name: 'vault-backup-token', key: 'token' },
      retention: { keepWithin: '30d', keepLast: 4 },
      dataClaims: ['data-vault-0'],
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
      // Bitnami's chart: the StatefulSet redis-master, its PVC, uid/fsGroup 1001 and appendonly yes.
      // Declaring the data volume gives the restore Job (and covers the claim, as dataClaims did).
      data: { claimName: 'redis-data-redis-master-0', workload: 'statefulset/redis-master', fsGroup: 1001, appendonly: true },
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
        workload: 'deployment/vaultwarden',
      },
      // Hourly at :30, so it never reads the database while the 6-hourly backup (at :00) does.
      integrityCheck: { schedule: '30 * * * *' },
      // An explicit exception, reported by lint: see the reason.
      runAsRoot: { reason: "Vaultwarden's image writes its data as root, and reading a WAL database needs write access to its -shm file" },
      retention: { keepWithin: '30d', keepLast: 8 },
    },
  },
  // Every service's newest copies restored into a throwaway server once a week. Sunday 04:00
  // (Europe/London), because it is the first quiet hour after the week's copies: the weekly vault
  // (02:00), etcd (02:30) and redis (03:00) jobs have all passed their 1 h deadline, so the drill
  // proves copies made hours earlier; the nightly dumps ran 00:00-00:45; it is an hour after the host
  // snapshots (03:00) and an hour before the file backup (05:00); Vaultwarden's jobs are 30 min away
  // (03:30 and 04:30 integrity checks, 06:00 backup); no clock change is near (01:00-02:00 Sundays).
  // lint checks each drill against its own service's jobs and the DST gaps.
  drills: { schedule: 'weekly on sunday at 04:00' },
  // The spec's protection matrix: Prometheus is "excluded" (regenerable, too large for the offsite
  // bandwidth), and its namespace is kept out of the snapshots for its churn.
  coverage: {
    exclude: [{ namespace: 'monitoring', reason: 'Prometheus metrics: regenerable, too large to be worth snapshots or offsite bandwidth' }],
  },
  // Layers 1-3 of the spec: the Proxmox host's snapshots, file backup and offsite sync, rendered
  // to scripts and systemd units and deployed over SSH by the null provider.
  host: {
    name: 'pve',
    address: '192.168.1.127',
    // The host is outside the cluster: it reaches the Pushgateway through its NodePort.
    pushgateway: { url: 'http://192.168.1.127:30091' },
    snapshots: {
      volumeGroup: 'pve',
      thinPool: 'data',
      lvPattern: 'vm-*-pvc-*',
      // High-churn databases (50%+ CoW divergence an hour) with their own dumps: snapshotting
      // them cost ~36% write amplification.
      excludeNamespaces: ['dbaas', 'monitoring'],
      schedule: 'daily at 03:00',
      retention: '7d',
      minFreePercent: 15,
    },
    fileBackup: {
      mountPoint: '/mnt/backup',
      schedule: 'daily at 05:00',
      weeklyGenerations: 4,
      pfsense: { host: 'pfsense.viktorbarzin.me', identityFile: '/root/.ssh/pfsense_backup' },
      pveConfig: { paths: ['/etc/pve', '/usr/local/bin', '/etc/systemd/system'] },
    },
    offsite: {
      nas: { host: '192.168.1.13', user: 'root', identityFile: '/root/.ssh/synology_backup' },
      schedule: 'daily at 06:00',
      backupDiskTarget: '/Backup/Viki/pve-backup',
      sources: [
        { path: '/srv/nfs', target: '/Backup/Viki/nfs' },
        { path: '/srv/nfs-ssd', target: '/Backup/Viki/nfs-ssd' },
      ],
      changeLog: '/mnt/backup/.nfs-changes.log',
      fullSync: 'first-sunday',
    },
  },
});
