/**
 * The restore drill CronJobs, written out whole: the backup volume read-only, scratch space for
 * the throwaway server, the drill image, the backup jobs' user, the declared queries as JSON, and
 * nothing of the production connection (no engine variables, no Secret).
 */
import { planPolicy, type PlannedService } from '../../policy/plan/plan';
import { renderCronJob } from '../../policy/render/kubernetes';
import { pgService, policyOf, redisService } from './small-policies';

function serviceOf(id: string, service: Record<string, unknown>, extra: Record<string, unknown> = {}): PlannedService {
  return planPolicy(policyOf({ [id]: service } as never, extra)).services[0];
}

const WEEKLY = { drills: { schedule: 'weekly on sunday at 04:00' } };

function drillLabels(service: string, kind: string) {
  return {
    'app.kubernetes.io/name': 'backup-policy',
    'app.kubernetes.io/component': 'restore-drill',
    'app.kubernetes.io/managed-by': 'backup-policy',
    'backup-policy/service': service,
    'backup-policy/kind': kind,
  };
}

const CONTAINER_SECURITY = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } };

describe('drill CronJob', () => {
  test('postgres full-copy drill, written out whole: read-only copies, scratch, drill image, queries as JSON, no connection', () => {
    const service = serviceOf('pg', { ...pgService, drill: { queries: [{ database: 'app', sql: 'select count(*) from users', min: 1 }, { sql: 'select 1', equals: 1 }] } }, WEEKLY);
    expect(service.drills.map((d) => d.name)).toEqual(['pg-full-drill']);
    expect(service.scripts.files).toEqual(['backup-lib.sh', 'postgres-backup.sh', 'postgres-restore.sh', 'drill-lib.sh', 'postgres-drill.sh']);
    const labels = drillLabels('pg', 'drill-full');
    expect(renderCronJob(service.drills[0])).toEqual({
      metadata: { name: 'pg-full-drill', namespace: 'db', labels },
      spec: {
        schedule: '0 4 * * 0',
        timezone: 'Europe/London',
        concurrencyPolicy: 'Forbid',
        startingDeadlineSeconds: 3600,
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 3,
        jobTemplate: {
          metadata: { labels },
          spec: {
            backoffLimit: 1,
            // The default: 2 h, well under half a week.
            activeDeadlineSeconds: 7200,
            template: {
              metadata: { labels },
              spec: {
                restartPolicy: 'Never',
                automountServiceAccountToken: false,
                enableServiceLinks: false,
                hostNetwork: false,
                // The backup jobs' user: the only one that can read the copies.
                securityContext: { runAsNonRoot: true, runAsUser: '10001', runAsGroup: '10001', fsGroup: '10001', seccompProfile: { type: 'RuntimeDefault' } },
                container: [
                  {
                    name: 'drill',
                    image: 'ghcr.io/backup-policy/backup-drill:0.3.0',
                    imagePullPolicy: 'IfNotPresent',
                    command: ['/bin/bash', '/opt/backup-policy/postgres-drill.sh', 'full'],
                    env: [
                      { name: 'BACKUP_SERVICE', value: 'pg' },
                      { name: 'BACKUP_ENGINE', value: 'postgres' },
                      { name: 'BACKUP_KIND', value: 'drill-full' },
                      { name: 'BACKUP_RUNNER', value: 'cronjob' },
                      { name: 'BACKUP_DIR', value: '/backup' },
                      { name: 'PUSHGATEWAY_URL', value: 'http://pushgateway.monitoring.svc:9091' },
                      { name: 'TMPDIR', value: '/tmp' },
                      { name: 'DRILL_DIR', value: '/drill' },
                      { name: 'DRILL_QUERIES', value: '[{"database":"app","sql":"select count(*) from users","min":1},{"sql":"select 1","equals":1}]' },
                    ],
                    volumeMount: [
                      { name: 'backup', mountPath: '/backup', readOnly: true },
                      { name: 'scripts', mountPath: '/opt/backup-policy', readOnly: true },
                      { name: 'tmp', mountPath: '/tmp', readOnly: false },
                      { name: 'drill', mountPath: '/drill', readOnly: false },
                    ],
                    resources: { requests: { cpu: '500m', memory: '512Mi' }, limits: { cpu: '2', memory: '2Gi' } },
                    securityContext: CONTAINER_SECURITY,
                  },
                ],
                volume: [
                  { name: 'backup', persistentVolumeClaim: { claimName: 'pg-backup', readOnly: true } },
                  { name: 'scripts', configMap: { name: 'pg-backup-scripts', defaultMode: '0555' } },
                  { name: 'tmp', emptyDir: { sizeLimit: '1Gi' } },
                  { name: 'drill', emptyDir: { sizeLimit: '10Gi' } },
                ],
              },
            },
          },
        },
      },
    });
  });

  test('redis with AUTH: no REDISCLI_AUTH, no Secret volume; its own schedule, image, resources, scratch and deadline', () => {
    const service = serviceOf(
      'cache',
      {
        ...redisService,
        connection: { host: 'redis.cache.svc', passwordSecret: { name: 'redis-auth', key: 'password' } },
        drill: { schedule: 'daily at 04:30', scratchSize: '6Gi', timeout: '90m', resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '1Gi' } } },
      },
      { drills: { schedule: 'weekly on sunday at 04:00', image: 'registry.lan/backup-drill@sha256:' + 'a'.repeat(64) } },
    );
    const rendered = renderCronJob(service.drills[0]);
    const pod = rendered.spec.jobTemplate.spec.template.spec;
    expect({
      name: rendered.metadata.name,
      schedule: rendered.spec.schedule,
      deadline: rendered.spec.jobTemplate.spec.activeDeadlineSeconds,
      startingDeadline: rendered.spec.startingDeadlineSeconds,
      failedKept: rendered.spec.failedJobsHistoryLimit,
      image: pod.container[0].image,
      command: pod.container[0].command,
      env: pod.container[0].env,
      resources: pod.container[0].resources,
      volume: pod.volume,
    }).toEqual({
      name: 'cache-drill',
      schedule: '30 4 * * *',
      deadline: 5400,
      startingDeadline: 3600,
      failedKept: 3,
      image: `registry.lan/backup-drill@sha256:${'a'.repeat(64)}`,
      command: ['/bin/bash', '/opt/backup-policy/redis-drill.sh', 'snapshot'],
      env: [
        { name: 'BACKUP_SERVICE', value: 'cache' },
        { name: 'BACKUP_ENGINE', value: 'redis' },
        { name: 'BACKUP_KIND', value: 'drill-snapshot' },
        { name: 'BACKUP_RUNNER', value: 'cronjob' },
        { name: 'BACKUP_DIR', value: '/backup' },
        { name: 'PUSHGATEWAY_URL', value: 'http://pushgateway.monitoring.svc:9091' },
        { name: 'TMPDIR', value: '/tmp' },
        { name: 'DRILL_DIR', value: '/drill' },
        { name: 'DRILL_QUERIES', value: '[]' },
      ],
      resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '1Gi' } },
      volume: [
        { name: 'backup', persistentVolumeClaim: { claimName: 'cache-backup', readOnly: true } },
        { name: 'scripts', configMap: { name: 'cache-backup-scripts', defaultMode: '0555' } },
        { name: 'tmp', emptyDir: { sizeLimit: '1Gi' } },
        { name: 'drill', emptyDir: { sizeLimit: '6Gi' } },
      ],
    });
    // The backup job does carry the password: the drill is the one without it.
    expect(JSON.stringify(renderCronJob(service.jobs[0]))).toContain('redis-auth');
    expect(JSON.stringify(rendered)).not.toContain('redis-auth');
  });

  test('a root service drills as root, as its backups run (only that user reads the copies)', () => {
    const service = serviceOf('pg', { ...pgService, runAsRoot: { reason: 'the test declares root on purpose' } }, WEEKLY);
    expect(renderCronJob(service.drills[0]).spec.jobTemplate.spec.template.spec.securityContext).toEqual(
      renderCronJob(service.jobs[0]).spec.jobTemplate.spec.template.spec.securityContext,
    );
    expect(service.drills[0].runAsUser).toBe(0);
  });

  test('one drill per kept kind: full and per-database for PostgreSQL; none when the service opts out', () => {
    const both = serviceOf('pg', { ...pgService, perDatabase: { schedule: 'daily at 00:15' } }, WEEKLY);
    expect(both.drills.map((d) => [d.name, d.kind, d.command[2]])).toEqual([
      ['pg-full-drill', 'drill-full', 'full'],
      ['pg-per-db-drill', 'drill-per-database', 'per-database'],
    ]);
    const out = serviceOf('pg', { ...pgService, drill: { enabled: false } }, WEEKLY);
    expect(out.drills).toEqual([]);
    expect(out.scripts.files).not.toContain('postgres-drill.sh');
  });
});
