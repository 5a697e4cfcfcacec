import 'cdktf/lib/testing/adapters/jest';
import { Testing, TerraformStack } from 'cdktf';
import { CronJobV1 } from '@cdktf/provider-kubernetes/lib/cron-job-v1';
import { ConfigMapV1 } from '@cdktf/provider-kubernetes/lib/config-map-v1';
import { PersistentVolumeV1 } from '@cdktf/provider-kubernetes/lib/persistent-volume-v1';
import { PersistentVolumeClaimV1 } from '@cdktf/provider-kubernetes/lib/persistent-volume-claim-v1';
import { BackupPolicy } from '../../constructs/backup-policy';
import { PostgresBackup, SqliteBackup } from '../../constructs/engine-backups';
import { PolicyValidationError } from '../../policy/values/errors';
import { samplePolicy } from '../support/policies';
import { buildExample } from '../../examples/add-service';
import { NullProvider } from '@cdktf/provider-null/lib/provider';
import { homelabPolicy } from '../../stacks/homelab-policy';

Testing.setupJest();

const { objectContaining, arrayContaining } = expect;

function synthPolicy(edit?: (policy: BackupPolicy) => void): string {
  return Testing.synthScope((scope) => {
    const policy = new BackupPolicy(scope, 'policy', { policy: samplePolicy() });
    edit?.(policy);
  });
}

type Resources = Record<string, Record<string, any>>;
function resources(synth: string): Resources {
  return JSON.parse(synth).resource;
}
function cronJob(synth: string, name: string): any {
  const found = Object.values(resources(synth).kubernetes_cron_job_v1).find((r) => r.metadata.name === name);
  if (!found) throw new Error(`no CronJob named ${name}`);
  return found;
}
function container(job: any): any {
  return job.spec.job_template.spec.template.spec.container[0];
}
function envOf(job: any): Record<string, unknown> {
  return Object.fromEntries(container(job).env.map((e: any) => [e.name, e.value ?? e.value_from]));
}

const synth = synthPolicy();

describe('every engine gets its CronJobs with the backup contract', () => {
  test.each([
    ['pg-full-backup', 'dbaas', '0 0 * * *', ['/bin/bash', '/opt/backup-policy/postgres-backup.sh', 'full']],
    ['pg-per-db-backup', 'dbaas', '15 0 * * *', ['/bin/bash', '/opt/backup-policy/postgres-backup.sh', 'per-database']],
    ['maria-full-backup', 'dbaas', '30 0 * * *', ['/bin/bash', '/opt/backup-policy/mysql-backup.sh', 'full']],
    ['etcd-backup', 'kube-system', '0 1 * * 0', ['/bin/bash', '/opt/backup-policy/etcd-backup.sh']],
    ['vault-backup', 'vault', '0 2 * * 0', ['/bin/bash', '/opt/backup-policy/vault-backup.sh']],
    ['cache-backup', 'redis', '0 3 * * 0', ['/bin/bash', '/opt/backup-policy/redis-backup.sh']],
    ['vw-backup', 'vaultwarden', '0 */6 * * *', ['/bin/bash', '/opt/backup-policy/sqlite-backup.sh']],
    ['vw-integrity-check', 'vaultwarden', '0 * * * *', ['/bin/bash', '/opt/backup-policy/sqlite-integrity-check.sh']],
  ])('%s', (name, namespace, schedule, command) => {
    expect(synth).toHaveResourceWithProperties(CronJobV1, {
      metadata: objectContaining({ name, namespace }),
      spec: objectContaining({
        schedule,
        timezone: 'Europe/London',
        concurrency_policy: 'Forbid',
        starting_deadline_seconds: expect.any(Number),
        failed_jobs_history_limit: expect.any(Number),
      }),
    });
    const job = cronJob(synth, name);
    expect(job.spec.starting_deadline_seconds).toBeGreaterThanOrEqual(300);
    const pod = job.spec.job_template.spec.template.spec;
    expect(pod).toEqual(
      objectContaining({
        restart_policy: 'Never',
        automount_service_account_token: false,
        security_context: objectContaining({ seccomp_profile: { type: 'RuntimeDefault' } }),
      }),
    );
    const c = container(job);
    expect(c.command).toEqual(command);
    expect(c.image).toMatch(/:[0-9][A-Za-z0-9._-]*$/);
    expect(c.security_context).toEqual({
      allow_privilege_escalation: false,
      read_only_root_filesystem: true,
      privileged: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.resources.requests).toEqual(objectContaining({ cpu: expect.any(String), memory: expect.any(String) }));
    expect(c.resources.limits).toEqual(objectContaining({ memory: expect.any(String) }));
    // Jobs that keep copies mount the backup volume; the integrity check must report without it.
    const backupMount = name.endsWith('-integrity-check') ? [] : [{ name: 'backup', mount_path: '/backup', read_only: false }];
    expect(c.volume_mount).toEqual(
      arrayContaining([...backupMount, { name: 'scripts', mount_path: '/opt/backup-policy', read_only: true }, { name: 'tmp', mount_path: '/tmp', read_only: false }]),
    );
    if (backupMount.length === 0) expect(c.volume_mount.map((m: { name: string }) => m.name)).not.toContain('backup');
    // Failed Jobs must stay visible for at least a day of runs (the old system deleted them after 10 s).
    expect(job.spec.job_template.spec.ttl_seconds_after_finished).toBeUndefined();
  });

  test('failed jobs outlive a day even for hourly jobs', () => {
    expect(cronJob(synth, 'vw-integrity-check').spec.failed_jobs_history_limit).toBeGreaterThanOrEqual(25);
  });

  test('jobs run non-root unless the service says otherwise', () => {
    const pod = cronJob(synth, 'pg-full-backup').spec.job_template.spec.template.spec;
    expect(pod.security_context).toEqual(objectContaining({ run_as_non_root: true, run_as_user: '10001' }));
  });
});

describe('engine-specific wiring', () => {
  test('postgres reads its password from the Secret, never from a literal', () => {
    expect(envOf(cronJob(synth, 'pg-per-db-backup'))).toEqual(
      objectContaining({
        PGHOST: 'pg.dbaas.svc',
        PGPORT: '5432',
        PGUSER: 'postgres',
        PGPASSWORD: { secret_key_ref: { name: 'pg-backup', key: 'password' } },
        BACKUP_KIND: 'per-database',
        BACKUP_KEEP_LAST: '7',
        BACKUP_KEEP_WITHIN_SECONDS: String(14 * 86400),
      }),
    );
  });

  test('mysql password comes from the Secret', () => {
    expect(envOf(cronJob(synth, 'maria-full-backup'))).toEqual(objectContaining({ MYSQL_PASSWORD: { secret_key_ref: { name: 'maria-backup', key: 'password' } }, MYSQL_PORT: '3306' }));
  });

  test('etcd mounts its client certificate Secret read-only', () => {
    const job = cronJob(synth, 'etcd-backup');
    expect(job.spec.job_template.spec.template.spec.volume).toEqual(arrayContaining([{ name: 'etcd-tls', secret: { secret_name: 'etcd-client', default_mode: '0440' } }]));
    expect(envOf(job)).toEqual(objectContaining({ ETCDCTL_CACERT: '/etc/backup-policy/etcd-tls/ca.crt', ETCDCTL_ENDPOINTS: 'https://127.0.0.1:2379' }));
  });

  test('vault token comes from the Secret', () => {
    expect(envOf(cronJob(synth, 'vault-backup'))).toEqual(objectContaining({ VAULT_TOKEN: { secret_key_ref: { name: 'vault-backup', key: 'token' } } }));
  });

  test('redis without AUTH gets no password variable', () => {
    expect(envOf(cronJob(synth, 'cache-backup'))).not.toHaveProperty('REDISCLI_AUTH');
  });

  test('sqlite mounts the application data claim', () => {
    const job = cronJob(synth, 'vw-backup');
    expect(job.spec.job_template.spec.template.spec.volume).toEqual(arrayContaining([{ name: 'data', persistent_volume_claim: { claim_name: 'vw-data', read_only: false } }]));
    expect(envOf(job)).toEqual(objectContaining({ SQLITE_DB: 'db.sqlite3', SQLITE_EXTRA_PATHS: 'rsa_key.pem', SQLITE_OPTIONAL_EXTRA_PATHS: 'sends' }));
  });
});

describe('volumes and scripts', () => {
  test('one NFS volume per service: hard mount, Retain, bound to its claim', () => {
    expect(synth).toHaveResourceWithProperties(PersistentVolumeV1, {
      metadata: objectContaining({ name: 'pg-backup' }),
      spec: [
        objectContaining({
          persistent_volume_reclaim_policy: 'Retain',
          mount_options: ['hard', 'nfsvers=4.1'],
          persistent_volume_source: { nfs: { server: '192.168.1.127', path: '/srv/nfs/pg-backup', read_only: false } },
        }),
      ],
    });
    expect(synth).toHaveResourceWithProperties(PersistentVolumeClaimV1, {
      metadata: objectContaining({ name: 'pg-backup', namespace: 'dbaas' }),
      spec: objectContaining({ volume_name: 'pg-backup', storage_class_name: '' }),
    });
    const r = resources(synth);
    expect(Object.keys(r.kubernetes_persistent_volume_v1)).toHaveLength(6);
    expect(Object.keys(r.kubernetes_persistent_volume_claim_v1)).toHaveLength(6);
  });

  test('each service ships the library and only its own scripts', () => {
    const maps = Object.values(resources(synth).kubernetes_config_map_v1);
    const files = Object.fromEntries(maps.map((m: any) => [m.metadata.name, Object.keys(m.data).sort()]));
    expect(files).toEqual({
      'cache-backup-scripts': ['backup-lib.sh', 'redis-backup.sh'],
      // No member declared: no restore Job, so no restore script.
      'etcd-backup-scripts': ['backup-lib.sh', 'etcd-backup.sh'],
      'maria-backup-scripts': ['backup-lib.sh', 'mysql-backup.sh', 'mysql-restore.sh'],
      'pg-backup-scripts': ['backup-lib.sh', 'postgres-backup.sh', 'postgres-restore.sh'],
      'vault-backup-scripts': ['backup-lib.sh', 'vault-backup.sh', 'vault-lib.sh', 'vault-restore.sh'],
      'vw-backup-scripts': ['backup-lib.sh', 'sqlite-backup.sh', 'sqlite-integrity-check.sh', 'sqlite-lib.sh', 'sqlite-restore.sh'],
    });
    expect(synth).toHaveResourceWithProperties(ConfigMapV1, { metadata: objectContaining({ name: 'pg-backup-scripts', namespace: 'dbaas' }) });
  });
});

describe('adding and removing a service is one call', () => {
  const immich = {
    namespace: 'immich',
    connection: { host: 'immich-db.immich.svc', passwordSecret: { name: 'immich-db', key: 'password' } },
    perDatabase: { schedule: 'daily at 01:30' },
    retention: { keepWithin: '14d', keepLast: 7 },
  };

  test('addService creates the CronJob, volume, claim and scripts', () => {
    const before = resources(synth);
    const after = resources(synthPolicy((p) => p.addService('immich-db', { engine: 'postgres', ...immich })));
    const count = (r: Resources) => Object.fromEntries(Object.entries(r).map(([type, v]) => [type, Object.keys(v).length]));
    expect(count(after)).toEqual({
      kubernetes_config_map_v1: count(before).kubernetes_config_map_v1 + 1,
      kubernetes_cron_job_v1: count(before).kubernetes_cron_job_v1 + 1,
      kubernetes_persistent_volume_claim_v1: count(before).kubernetes_persistent_volume_claim_v1 + 1,
      kubernetes_persistent_volume_v1: count(before).kubernetes_persistent_volume_v1 + 1,
      // One PrometheusRule for the whole policy; the new service's rules are inside it.
      kubernetes_manifest: 1,
    });
    const rules = Object.values<any>(after.kubernetes_manifest)[0].manifest.spec.groups.map((g: any) => g.name);
    expect(rules).toContain('backup-policy.immich-db');
    expect(cronJob(JSON.stringify({ resource: after }), 'immich-db-per-db-backup').metadata.namespace).toBe('immich');
  });

  test('an engine construct is the same as addService', () => {
    const viaAdd = synthPolicy((p) => p.addService('immich-db', { engine: 'postgres', ...immich }));
    const viaClass = synthPolicy((p) => new PostgresBackup(p, 'immich-db', immich));
    expect(viaClass).toEqual(viaAdd);
  });

  test('removing a service from the declaration removes every resource that names it', () => {
    const without = Testing.synthScope((scope) => {
      const policy = samplePolicy();
      delete (policy.services as Record<string, unknown>).vw;
      new BackupPolicy(scope, 'policy', { policy });
    });
    expect(synth).toContain('vw-backup');
    expect(without).not.toMatch(/"vw[-_]|vw-data|vaultwarden/);
  });

  test('a duplicate id is refused with its path', () => {
    const stack = new TerraformStack(Testing.app(), 'dup');
    const policy = new BackupPolicy(stack, 'policy', { policy: samplePolicy() });
    expect(() => policy.addService('pg', { engine: 'postgres', ...immich })).toThrow(PolicyValidationError);
    expect(() => policy.addService('pg', { engine: 'postgres', ...immich })).toThrow('services.pg: duplicate service id');
  });

  test('an invalid added service is refused with its path and nothing is added', () => {
    const stack = new TerraformStack(Testing.app(), 'bad');
    const policy = new BackupPolicy(stack, 'policy', { policy: samplePolicy() });
    expect(() => new SqliteBackup(policy, 'notes', { namespace: 'notes', schedule: 'daily', data: { claimName: 'notes', database: 'a b.db' }, retention: { keepWithin: '7d', keepLast: 3 } })).toThrow(
      'services.notes.data.database: path has characters a shell would interpret',
    );
    expect(policy.plan().services.map((s) => s.id)).not.toContain('notes');
  });

  test('a second service on the same backup directory is refused', () => {
    const stack = new TerraformStack(Testing.app(), 'shared');
    const policy = new BackupPolicy(stack, 'policy', { policy: samplePolicy() });
    expect(() => policy.addService('pg2', { engine: 'postgres', ...immich, nfsPath: '/srv/nfs/pg-backup' })).toThrow('already used by service "pg"');
  });
});

describe('the README example', () => {
  test('adds one complete service per construct call', () => {
    const synthesized = JSON.parse(Testing.synth(buildExample(Testing.app())));
    const names = Object.values<any>(synthesized.resource.kubernetes_cron_job_v1).map((j) => j.metadata.name);
    expect(names).toEqual(expect.arrayContaining(['immich-db-per-db-backup', 'forgejo-db-full-backup', 'postgresql-full-backup']));
    const maps = Object.values<any>(synthesized.resource.kubernetes_config_map_v1).map((m) => m.metadata.name);
    expect(maps).toEqual(expect.arrayContaining(['immich-db-backup-scripts', 'forgejo-db-backup-scripts']));
    const paths = Object.values<any>(synthesized.resource.kubernetes_persistent_volume_v1).map((v) => v.spec[0].persistent_volume_source.nfs.path);
    expect(paths).toEqual(expect.arrayContaining(['/srv/nfs/immich-db-backup', '/srv/nfs/forgejo-db-backup']));
  });
});

describe('alert rules in the cluster', () => {
  test('a PrometheusRule by default, with the rule groups of every service', () => {
    const manifest = Object.values<any>(resources(synth).kubernetes_manifest)[0].manifest;
    expect(manifest).toEqual(objectContaining({ apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: objectContaining({ namespace: 'monitoring', labels: objectContaining({ release: 'kube-prometheus-stack' }) }) }));
    expect(manifest.spec.groups.map((g: any) => g.name)).toEqual(['cache', 'etcd', 'maria', 'pg', 'vault', 'vw'].map((s) => `backup-policy.${s}`));
  });

  test('a ConfigMap holding the rules file when the policy chooses plain Prometheus', () => {
    const out = Testing.synthScope((scope) => {
      new BackupPolicy(scope, 'policy', { policy: { ...samplePolicy(), alerts: { deploy: 'configmap' } } });
    });
    const maps = Object.values<any>(resources(out).kubernetes_config_map_v1).filter((m) => m.metadata.name === 'backup-policy-alerts');
    expect(maps).toHaveLength(1);
    expect(maps[0].data['backup-alerts.yaml']).toContain('alert: VwIntegrityFail');
    expect(resources(out).kubernetes_manifest).toBeUndefined();
  });
});

describe('one construct owns what the policy declares', () => {
  const withHost = () => ({ ...structuredClone(homelabPolicy) });

  test('a host section without an SSH connection is refused with a host path (no alerts for units nothing deploys)', () => {
    const stack = new TerraformStack(Testing.app(), 'no-connection');
    expect(() => new BackupPolicy(stack, 'policy', { policy: withHost() })).toThrow(PolicyValidationError);
    expect(() => new BackupPolicy(new TerraformStack(Testing.app(), 'again'), 'policy', { policy: withHost() })).toThrow(/^invalid backup policy:\n  host: the policy declares a host section but nothing can deploy it/);
  });

  test('with a connection, BackupPolicy deploys the host bundle beside the host alerts', () => {
    const stack = new TerraformStack(Testing.app(), 'with-connection');
    new NullProvider(stack, 'null', {});
    const policy = new BackupPolicy(stack, 'policy', { policy: withHost(), hostConnection: (host) => ({ type: 'ssh', host: host.address }) });
    expect(policy.host).toBeDefined();
    const synthesized = JSON.parse(Testing.synth(stack));
    expect(Object.keys(synthesized.resource.null_resource)).toHaveLength(1);
    expect(policy.plan().alerts.map((g) => g.name)).toContain('backup-policy.host.daily-backup');
  });
});
