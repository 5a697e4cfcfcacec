/**
 * renderCronJob, renderPersistentVolume, renderPersistentVolumeClaim and renderScriptConfigMap on
 * one-service plans: every engine's CronJob is written out whole, so a changed field, env var,
 * volume or security setting shows up as a small diff here rather than in the stack snapshot.
 */
import { planPolicy, type PlannedService } from '../../policy/plan/plan';
import { renderCronJob, renderPersistentVolume, renderPersistentVolumeClaim, renderScriptConfigMap } from '../../policy/render/kubernetes';
import { pgService, policyOf } from './small-policies';

function serviceOf(id: string, service: Record<string, unknown>, extra: Record<string, unknown> = {}): PlannedService {
  const plan = planPolicy(policyOf({ [id]: service } as never, extra));
  return plan.services[0];
}

function jobLabels(service: string, kind: string) {
  return {
    'app.kubernetes.io/name': 'backup-policy',
    'app.kubernetes.io/component': 'backup-job',
    'app.kubernetes.io/managed-by': 'backup-policy',
    'backup-policy/service': service,
    'backup-policy/kind': kind,
  };
}

/** The variables every job gets (host-scripts/CONTRACT.md), before the engine's own. */
function contractEnv(service: string, engine: string, kind: string, keepWithinSeconds: number, keepLast: number, minSizeRatio = '0.5') {
  return [
    { name: 'BACKUP_SERVICE', value: service },
    { name: 'BACKUP_ENGINE', value: engine },
    { name: 'BACKUP_KIND', value: kind },
    { name: 'BACKUP_RUNNER', value: 'cronjob' },
    { name: 'BACKUP_DIR', value: '/backup' },
    { name: 'BACKUP_KEEP_WITHIN_SECONDS', value: String(keepWithinSeconds) },
    { name: 'BACKUP_KEEP_LAST', value: String(keepLast) },
    { name: 'BACKUP_MIN_SIZE_RATIO', value: minSizeRatio },
    { name: 'PUSHGATEWAY_URL', value: 'http://pushgateway.monitoring.svc:9091' },
    { name: 'TMPDIR', value: '/tmp' },
  ];
}

function sharedVolumes(service: string, scratch: string) {
  return [
    { name: 'backup', persistentVolumeClaim: { claimName: `${service}-backup`, readOnly: false } },
    { name: 'scripts', configMap: { name: `${service}-backup-scripts`, defaultMode: '0555' } },
    { name: 'tmp', emptyDir: { sizeLimit: scratch } },
  ];
}

const SHARED_MOUNTS = [
  { name: 'backup', mountPath: '/backup', readOnly: false },
  { name: 'scripts', mountPath: '/opt/backup-policy', readOnly: true },
  { name: 'tmp', mountPath: '/tmp', readOnly: false },
];

const SMALL = { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } };
const DUMP = { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '2', memory: '1Gi' } };
const IMAGE = 'ghcr.io/backup-policy/backup-tools:0.3.0';

interface Expected {
  name: string;
  namespace: string;
  service: string;
  kind: string;
  schedule: string;
  startingDeadlineSeconds: number;
  failedJobsHistoryLimit: number;
  activeDeadlineSeconds: number;
  command: string[];
  env: object[];
  volumes: object[];
  mounts: object[];
  resources: object;
  image?: string;
  podExtras?: object;
  user?: number;
}

/** A whole CronJob with the fixed parts written out: what varies per engine is passed in. */
function cronJob(e: Expected) {
  const labels = jobLabels(e.service, e.kind);
  const user = String(e.user ?? 10001);
  return {
    metadata: { name: e.name, namespace: e.namespace, labels },
    spec: {
      schedule: e.schedule,
      timezone: 'Europe/London',
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: e.startingDeadlineSeconds,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: e.failedJobsHistoryLimit,
      jobTemplate: {
        metadata: { labels },
        spec: {
          backoffLimit: 1,
          activeDeadlineSeconds: e.activeDeadlineSeconds,
          template: {
            metadata: { labels },
            spec: {
              restartPolicy: 'Never',
              automountServiceAccountToken: false,
              enableServiceLinks: false,
              hostNetwork: false,
              ...e.podExtras,
              securityContext: {
                runAsNonRoot: user !== '0',
                runAsUser: user,
                runAsGroup: user,
                fsGroup: user,
                seccompProfile: { type: 'RuntimeDefault' },
              },
              container: [
                {
                  name: 'backup',
                  image: e.image ?? IMAGE,
                  imagePullPolicy: 'IfNotPresent',
                  command: e.command,
                  env: e.env,
                  volumeMount: e.mounts,
                  resources: e.resources,
                  securityContext: {
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                    privileged: false,
                    capabilities: { drop: ['ALL'] },
                  },
                },
              ],
              volume: e.volumes,
            },
          },
        },
      },
    },
  };
}

describe('renderCronJob', () => {
  test('postgres full dump, written out whole: password from its Secret, daily deadlines', () => {
    const [job] = serviceOf('pg', pgService).jobs;
    const labels = {
      'app.kubernetes.io/name': 'backup-policy',
      'app.kubernetes.io/component': 'backup-job',
      'app.kubernetes.io/managed-by': 'backup-policy',
      'backup-policy/service': 'pg',
      'backup-policy/kind': 'full',
    };
    expect(renderCronJob(job)).toEqual({
      metadata: { name: 'pg-full-backup', namespace: 'db', labels },
      spec: {
        schedule: '0 0 * * *',
        timezone: 'Europe/London',
        concurrencyPolicy: 'Forbid',
        startingDeadlineSeconds: 3600,
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 3,
        jobTemplate: {
          metadata: { labels },
          spec: {
            backoffLimit: 1,
            activeDeadlineSeconds: 3600,
            template: {
              metadata: { labels },
              spec: {
                restartPolicy: 'Never',
                automountServiceAccountToken: false,
                enableServiceLinks: false,
                hostNetwork: false,
                securityContext: { runAsNonRoot: true, runAsUser: '10001', runAsGroup: '10001', fsGroup: '10001', seccompProfile: { type: 'RuntimeDefault' } },
                container: [
                  {
                    name: 'backup',
                    image: 'ghcr.io/backup-policy/backup-tools:0.3.0',
                    imagePullPolicy: 'IfNotPresent',
                    command: ['/bin/bash', '/opt/backup-policy/postgres-backup.sh', 'full'],
                    env: [
                      { name: 'BACKUP_SERVICE', value: 'pg' },
                      { name: 'BACKUP_ENGINE', value: 'postgres' },
                      { name: 'BACKUP_KIND', value: 'full' },
                      { name: 'BACKUP_RUNNER', value: 'cronjob' },
                      { name: 'BACKUP_DIR', value: '/backup' },
                      { name: 'BACKUP_KEEP_WITHIN_SECONDS', value: '1209600' },
                      { name: 'BACKUP_KEEP_LAST', value: '7' },
                      { name: 'BACKUP_MIN_SIZE_RATIO', value: '0.5' },
                      { name: 'PUSHGATEWAY_URL', value: 'http://pushgateway.monitoring.svc:9091' },
                      { name: 'TMPDIR', value: '/tmp' },
                      { name: 'PGHOST', value: 'pg.db.svc' },
                      { name: 'PGPORT', value: '5432' },
                      { name: 'PGUSER', value: 'postgres' },
                      { name: 'PGPASSWORD', valueFrom: { secretKeyRef: { name: 'pg-auth', key: 'password' } } },
                    ],
                    volumeMount: [
                      { name: 'backup', mountPath: '/backup', readOnly: false },
                      { name: 'scripts', mountPath: '/opt/backup-policy', readOnly: true },
                      { name: 'tmp', mountPath: '/tmp', readOnly: false },
                    ],
                    resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '2', memory: '1Gi' } },
                    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } },
                  },
                ],
                volume: [
                  { name: 'backup', persistentVolumeClaim: { claimName: 'pg-backup', readOnly: false } },
                  { name: 'scripts', configMap: { name: 'pg-backup-scripts', defaultMode: '0555' } },
                  { name: 'tmp', emptyDir: { sizeLimit: '1Gi' } },
                ],
              },
            },
          },
        },
      },
    });
  });

  test('postgres per-database dump with a chosen port, user and database list', () => {
    const service = serviceOf('pg', {
      engine: 'postgres',
      namespace: 'db',
      connection: { host: 'pg.db.svc', port: 5433, user: 'backup', passwordSecret: { name: 'pg-auth', key: 'pw' } },
      databases: ['app', 'auth'],
      perDatabase: { schedule: 'daily at 00:15' },
      retention: { keepWithin: '7d', keepLast: 3 },
    });
    expect(service.jobs.map(renderCronJob)).toEqual([
      cronJob({
        name: 'pg-per-db-backup',
        namespace: 'db',
        service: 'pg',
        kind: 'per-database',
        schedule: '15 0 * * *',
        startingDeadlineSeconds: 3600,
        failedJobsHistoryLimit: 3,
        activeDeadlineSeconds: 3600,
        command: ['/bin/bash', '/opt/backup-policy/postgres-backup.sh', 'per-database'],
        env: [
          ...contractEnv('pg', 'postgres', 'per-database', 604800, 3),
          { name: 'PGHOST', value: 'pg.db.svc' },
          { name: 'PGPORT', value: '5433' },
          { name: 'PGUSER', value: 'backup' },
          { name: 'PGPASSWORD', valueFrom: { secretKeyRef: { name: 'pg-auth', key: 'pw' } } },
          { name: 'BACKUP_DATABASES', value: 'app auth' },
        ],
        volumes: sharedVolumes('pg', '1Gi'),
        mounts: SHARED_MOUNTS,
        resources: DUMP,
      }),
    ]);
  });

  test('mysql full and per-database jobs: password from its Secret, never a literal', () => {
    const service = serviceOf('maria', {
      engine: 'mysql',
      namespace: 'db',
      connection: { host: 'maria.db.svc', passwordSecret: { name: 'maria-auth', key: 'root-password' } },
      databases: ['shop'],
      full: { schedule: 'daily at 00:30' },
      perDatabase: { schedule: 'daily at 01:00' },
      retention: { keepWithin: '14d', keepLast: 7 },
    });
    const mysqlEnv = [
      { name: 'MYSQL_HOST', value: 'maria.db.svc' },
      { name: 'MYSQL_PORT', value: '3306' },
      { name: 'MYSQL_USER', value: 'root' },
      { name: 'MYSQL_PASSWORD', valueFrom: { secretKeyRef: { name: 'maria-auth', key: 'root-password' } } },
      { name: 'BACKUP_DATABASES', value: 'shop' },
    ];
    const common = { namespace: 'db', service: 'maria', startingDeadlineSeconds: 3600, failedJobsHistoryLimit: 3, activeDeadlineSeconds: 3600, volumes: sharedVolumes('maria', '1Gi'), mounts: SHARED_MOUNTS, resources: DUMP };
    expect(service.jobs.map(renderCronJob)).toEqual([
      cronJob({
        ...common,
        name: 'maria-full-backup',
        kind: 'full',
        schedule: '30 0 * * *',
        command: ['/bin/bash', '/opt/backup-policy/mysql-backup.sh', 'full'],
        env: [...contractEnv('maria', 'mysql', 'full', 1209600, 7), ...mysqlEnv],
      }),
      cronJob({
        ...common,
        name: 'maria-per-db-backup',
        kind: 'per-database',
        schedule: '0 1 * * *',
        command: ['/bin/bash', '/opt/backup-policy/mysql-backup.sh', 'per-database'],
        env: [...contractEnv('maria', 'mysql', 'per-database', 1209600, 7), ...mysqlEnv],
      }),
    ]);
  });

  test('etcd snapshot: client certificate Secret mounted group-readable, its files in ETCDCTL_*', () => {
    const service = serviceOf('etcd', {
      engine: 'etcd',
      namespace: 'kube-system',
      schedule: 'weekly on sunday at 01:00',
      endpoints: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'],
      tlsSecret: { name: 'etcd-client' },
      retention: { keepWithin: '30d', keepLast: 4 },
    });
    expect(service.jobs.map(renderCronJob)).toEqual([
      cronJob({
        name: 'etcd-backup',
        namespace: 'kube-system',
        service: 'etcd',
        kind: 'snapshot',
        schedule: '0 1 * * 0',
        startingDeadlineSeconds: 3600,
        failedJobsHistoryLimit: 3,
        activeDeadlineSeconds: 3600,
        command: ['/bin/bash', '/opt/backup-policy/etcd-backup.sh'],
        env: [
          ...contractEnv('etcd', 'etcd', 'snapshot', 2592000, 4),
          { name: 'ETCDCTL_API', value: '3' },
          { name: 'ETCDCTL_ENDPOINTS', value: 'https://10.0.0.1:2379,https://10.0.0.2:2379' },
          { name: 'ETCDCTL_CACERT', value: '/etc/backup-policy/etcd-tls/ca.crt' },
          { name: 'ETCDCTL_CERT', value: '/etc/backup-policy/etcd-tls/tls.crt' },
          { name: 'ETCDCTL_KEY', value: '/etc/backup-policy/etcd-tls/tls.key' },
        ],
        volumes: [...sharedVolumes('etcd', '8Gi'), { name: 'etcd-tls', secret: { secretName: 'etcd-client', defaultMode: '0440' } }],
        mounts: [...SHARED_MOUNTS, { name: 'etcd-tls', mountPath: '/etc/backup-policy/etcd-tls', readOnly: true }],
        resources: SMALL,
      }),
    ]);
  });

  test('etcd over plain http: no TLS variables and no Secret volume', () => {
    const [job] = serviceOf('etcd', {
      engine: 'etcd',
      namespace: 'kube-system',
      schedule: 'daily at 01:00',
      endpoints: ['http://127.0.0.1:2379'],
      retention: { keepWithin: '30d', keepLast: 4 },
    }).jobs;
    expect(renderCronJob(job)).toEqual(
      cronJob({
        name: 'etcd-backup',
        namespace: 'kube-system',
        service: 'etcd',
        kind: 'snapshot',
        schedule: '0 1 * * *',
        startingDeadlineSeconds: 3600,
        failedJobsHistoryLimit: 3,
        activeDeadlineSeconds: 3600,
        command: ['/bin/bash', '/opt/backup-policy/etcd-backup.sh'],
        env: [...contractEnv('etcd', 'etcd', 'snapshot', 2592000, 4), { name: 'ETCDCTL_API', value: '3' }, { name: 'ETCDCTL_ENDPOINTS', value: 'http://127.0.0.1:2379' }],
        volumes: sharedVolumes('etcd', '8Gi'),
        mounts: SHARED_MOUNTS,
        resources: SMALL,
      }),
    );
  });

  test('vault snapshot: the token from its Secret', () => {
    const [job] = serviceOf('vault', {
      engine: 'vault',
      namespace: 'vault',
      schedule: 'weekly on sunday at 02:00',
      address: 'http://vault.vault.svc:8200',
      tokenSecret: { name: 'vault-backup', key: 'token' },
      retention: { keepWithin: '30d', keepLast: 4 },
    }).jobs;
    expect(renderCronJob(job)).toEqual(
      cronJob({
        name: 'vault-backup',
        namespace: 'vault',
        service: 'vault',
        kind: 'snapshot',
        schedule: '0 2 * * 0',
        startingDeadlineSeconds: 3600,
        failedJobsHistoryLimit: 3,
        activeDeadlineSeconds: 3600,
        command: ['/bin/bash', '/opt/backup-policy/vault-backup.sh'],
        env: [
          ...contractEnv('vault', 'vault', 'snapshot', 2592000, 4),
          { name: 'VAULT_ADDR', value: 'http://vault.vault.svc:8200' },
          { name: 'VAULT_TOKEN', valueFrom: { secretKeyRef: { name: 'vault-backup', key: 'token' } } },
        ],
        volumes: sharedVolumes('vault', '1Gi'),
        mounts: SHARED_MOUNTS,
        resources: SMALL,
      }),
    );
  });

  test('redis every 6h with AUTH: REDISCLI_AUTH from its Secret, deadlines from the 6 h gap', () => {
    const [job] = serviceOf('cache', {
      engine: 'redis',
      namespace: 'cache',
      schedule: 'every 6h',
      connection: { host: 'redis.cache.svc', port: 6380, passwordSecret: { name: 'redis-auth', key: 'password' } },
      retention: { keepWithin: '7d', keepLast: 4 },
    }).jobs;
    expect(renderCronJob(job)).toEqual(
      cronJob({
        name: 'cache-backup',
        namespace: 'cache',
        service: 'cache',
        kind: 'snapshot',
        schedule: '0 */6 * * *',
        startingDeadlineSeconds: 3600,
        // A day of 6-hourly runs is 4, plus one.
        failedJobsHistoryLimit: 5,
        activeDeadlineSeconds: 3600,
        command: ['/bin/bash', '/opt/backup-policy/redis-backup.sh'],
        env: [
          ...contractEnv('cache', 'redis', 'snapshot', 604800, 4),
          { name: 'REDIS_HOST', value: 'redis.cache.svc' },
          { name: 'REDIS_PORT', value: '6380' },
          { name: 'REDISCLI_AUTH', valueFrom: { secretKeyRef: { name: 'redis-auth', key: 'password' } } },
        ],
        volumes: sharedVolumes('cache', '1Gi'),
        mounts: SHARED_MOUNTS,
        resources: SMALL,
      }),
    );
  });

  test('redis without AUTH: no REDISCLI_AUTH at all (not an empty one)', () => {
    const [job] = serviceOf('cache', {
      engine: 'redis',
      namespace: 'cache',
      schedule: 'daily at 03:00',
      connection: { host: 'redis.cache.svc' },
      retention: { keepWithin: '7d', keepLast: 4 },
    }).jobs;
    expect(renderCronJob(job).spec.jobTemplate.spec.template.spec.container[0].env).toEqual([
      ...contractEnv('cache', 'redis', 'snapshot', 604800, 4),
      { name: 'REDIS_HOST', value: 'redis.cache.svc' },
      { name: 'REDIS_PORT', value: '6379' },
    ]);
  });

  test('sqlite backup and hourly integrity check: the data claim mounted read-write, hourly deadlines', () => {
    const service = serviceOf('vw', {
      engine: 'sqlite',
      namespace: 'vaultwarden',
      schedule: 'every 6h',
      data: { claimName: 'vw-data', database: 'db.sqlite3', extraPaths: ['rsa_key.pem', 'attachments'], optionalExtraPaths: ['sends'] },
      integrityCheck: { schedule: 'hourly' },
      retention: { keepWithin: '30d', keepLast: 8 },
    });
    const sqliteEnv = [
      { name: 'SQLITE_DATA_DIR', value: '/data' },
      { name: 'SQLITE_DB', value: 'db.sqlite3' },
      { name: 'SQLITE_EXTRA_PATHS', value: 'rsa_key.pem attachments' },
      { name: 'SQLITE_OPTIONAL_EXTRA_PATHS', value: 'sends' },
    ];
    const volumes = [...sharedVolumes('vw', '2Gi'), { name: 'data', persistentVolumeClaim: { claimName: 'vw-data', readOnly: false } }];
    const mounts = [...SHARED_MOUNTS, { name: 'data', mountPath: '/data', readOnly: false }];
    expect(service.jobs.map(renderCronJob)).toEqual([
      cronJob({
        name: 'vw-backup',
        namespace: 'vaultwarden',
        service: 'vw',
        kind: 'snapshot',
        schedule: '0 */6 * * *',
        startingDeadlineSeconds: 3600,
        failedJobsHistoryLimit: 5,
        activeDeadlineSeconds: 3600,
        command: ['/bin/bash', '/opt/backup-policy/sqlite-backup.sh'],
        env: [...contractEnv('vw', 'sqlite', 'snapshot', 2592000, 8), ...sqliteEnv],
        volumes,
        mounts,
        resources: SMALL,
      }),
      cronJob({
        name: 'vw-integrity-check',
        namespace: 'vaultwarden',
        service: 'vw',
        kind: 'integrity',
        schedule: '0 * * * *',
        // Half the hourly gap: a late start never collides with the next run.
        startingDeadlineSeconds: 1800,
        failedJobsHistoryLimit: 25,
        activeDeadlineSeconds: 1800,
        command: ['/bin/bash', '/opt/backup-policy/sqlite-integrity-check.sh'],
        env: [...contractEnv('vw', 'sqlite', 'integrity', 2592000, 8), ...sqliteEnv],
        // No backup volume: the check must report even when the NFS server is down.
        volumes: volumes.filter((v) => v.name !== 'backup'),
        mounts: mounts.filter((m) => m.name !== 'backup'),
        resources: SMALL,
      }),
    ]);
  });

  test('placement, root, image, resources, timeout, scratch and size ratio as declared', () => {
    const service = serviceOf(
      'pg',
      {
        ...pgService,
        runAsRoot: { reason: 'the test declares root on purpose' },
        image: 'registry.lan/tools:2',
        resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
        timeout: '20m',
        scratchSize: '5Gi',
        minSizeRatio: 0.25,
        placement: {
          nodeSelector: { 'kubernetes.io/hostname': 'node-1' },
          tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }],
          hostNetwork: true,
        },
      },
      { images: { postgres: 'registry.lan/pg-tools:1' } },
    );
    expect(renderCronJob(service.jobs[0])).toEqual(
      cronJob({
        name: 'pg-full-backup',
        namespace: 'db',
        service: 'pg',
        kind: 'full',
        schedule: '0 0 * * *',
        startingDeadlineSeconds: 3600,
        failedJobsHistoryLimit: 3,
        activeDeadlineSeconds: 1200,
        command: ['/bin/bash', '/opt/backup-policy/postgres-backup.sh', 'full'],
        env: [
          ...contractEnv('pg', 'postgres', 'full', 1209600, 7, '0.25'),
          { name: 'PGHOST', value: 'pg.db.svc' },
          { name: 'PGPORT', value: '5432' },
          { name: 'PGUSER', value: 'postgres' },
          { name: 'PGPASSWORD', valueFrom: { secretKeyRef: { name: 'pg-auth', key: 'password' } } },
        ],
        volumes: sharedVolumes('pg', '5Gi'),
        mounts: SHARED_MOUNTS,
        resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
        // The service's own image wins over the policy's per-engine image.
        image: 'registry.lan/tools:2',
        user: 0,
        podExtras: {
          hostNetwork: true,
          dnsPolicy: 'ClusterFirstWithHostNet',
          nodeSelector: { 'kubernetes.io/hostname': 'node-1' },
          toleration: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }],
        },
      }),
    );
  });

  test("the schedule runs in the policy's time zone", () => {
    const [job] = serviceOf('pg', pgService, { timeZone: 'America/New_York' }).jobs;
    expect([renderCronJob(job).spec.schedule, renderCronJob(job).spec.timezone]).toEqual(['0 0 * * *', 'America/New_York']);
  });

  test('the policy-wide image for an engine applies when the service names none', () => {
    const [job] = serviceOf('pg', pgService, { images: { postgres: 'registry.lan/pg-tools:1' } }).jobs;
    expect(renderCronJob(job).spec.jobTemplate.spec.template.spec.container[0].image).toBe('registry.lan/pg-tools:1');
  });
});

describe('volumes and scripts', () => {
  const service = serviceOf('pg', { ...pgService, nfsPath: '/exports/pg' }, { nfs: { server: '10.0.0.5', capacity: '20Gi', mountOptions: ['soft', 'nfsvers=4.2'] } });
  const volumeLabels = {
    'app.kubernetes.io/name': 'backup-policy',
    'app.kubernetes.io/component': 'backup-volume',
    'app.kubernetes.io/managed-by': 'backup-policy',
    'backup-policy/service': 'pg',
  };

  test('the PersistentVolume: NFS export, Retain, no storage class', () => {
    expect(renderPersistentVolume(service)).toEqual({
      metadata: { name: 'pg-backup', labels: volumeLabels },
      spec: [
        {
          capacity: { storage: '20Gi' },
          accessModes: ['ReadWriteMany'],
          persistentVolumeReclaimPolicy: 'Retain',
          storageClassName: '',
          mountOptions: ['soft', 'nfsvers=4.2'],
          persistentVolumeSource: { nfs: { server: '10.0.0.5', path: '/exports/pg', readOnly: false } },
        },
      ],
    });
  });

  test('the PersistentVolumeClaim bound to that volume by name', () => {
    expect(renderPersistentVolumeClaim(service)).toEqual({
      metadata: { name: 'pg-backup', namespace: 'db', labels: volumeLabels },
      spec: { accessModes: ['ReadWriteMany'], storageClassName: '', volumeName: 'pg-backup', resources: { requests: { storage: '20Gi' } } },
    });
  });

  test('the default export path and capacity come from the policy template', () => {
    expect(renderPersistentVolume(serviceOf('pg', pgService)).spec[0]).toEqual({
      capacity: { storage: '100Gi' },
      accessModes: ['ReadWriteMany'],
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: '',
      mountOptions: ['hard', 'nfsvers=4.1'],
      persistentVolumeSource: { nfs: { server: '10.0.0.5', path: '/srv/nfs/pg-backup', readOnly: false } },
    });
  });

  test('the script ConfigMap: the library first, each file as plain text (the constructs\' Terraform boundary escapes it once)', () => {
    const sqlite = serviceOf('vw', {
      engine: 'sqlite',
      namespace: 'vaultwarden',
      schedule: 'every 6h',
      data: { claimName: 'vw-data', database: 'db.sqlite3' },
      integrityCheck: { schedule: 'hourly' },
      retention: { keepWithin: '30d', keepLast: 8 },
    });
    const scripts: Record<string, string> = {
      'backup-lib.sh': 'echo "${BACKUP_DIR}"\n',
      'sqlite-lib.sh': 'printf "%{x}"\n',
      'sqlite-backup.sh': 'echo $$\n',
      'sqlite-integrity-check.sh': 'true\n',
    };
    expect(renderScriptConfigMap(sqlite, (name) => scripts[name])).toEqual({
      metadata: {
        name: 'vw-backup-scripts',
        namespace: 'vaultwarden',
        labels: {
          'app.kubernetes.io/name': 'backup-policy',
          'app.kubernetes.io/component': 'backup-scripts',
          'app.kubernetes.io/managed-by': 'backup-policy',
          'backup-policy/service': 'vw',
        },
      },
      data: {
        'backup-lib.sh': 'echo "${BACKUP_DIR}"\n',
        'sqlite-lib.sh': 'printf "%{x}"\n',
        'sqlite-backup.sh': 'echo $$\n',
        'sqlite-integrity-check.sh': 'true\n',
      },
    });
    expect(Object.keys(renderScriptConfigMap(sqlite, (name) => scripts[name]).data)).toEqual(['backup-lib.sh', 'sqlite-lib.sh', 'sqlite-backup.sh', 'sqlite-integrity-check.sh', 'sqlite-restore.sh']);
  });
});
