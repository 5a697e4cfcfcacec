import { homelabPolicy } from '../../stacks/homelab-policy';
import { strings, synthStack } from '../support/synth';

const stack = synthStack(homelabPolicy);

describe('the bundled homelab policy', () => {
  test('synthesizes every in-cluster backup of the spec with its schedule and retention', () => {
    const jobs = Object.values<any>(stack.resource.kubernetes_cron_job_v1).map((job) => {
      const env = Object.fromEntries(job.spec.job_template.spec.template.spec.container[0].env.map((e: any) => [e.name, e.value]));
      return [job.metadata.namespace, job.metadata.name, job.spec.schedule, job.spec.timezone, env.BACKUP_KEEP_WITHIN_SECONDS ?? null];
    });
    const days = (n: number) => String(n * 86400);
    expect(jobs.sort()).toEqual(
      [
        ['dbaas', 'postgresql-full-backup', '0 0 * * *', 'Europe/London', days(14)],
        ['dbaas', 'postgresql-per-db-backup', '15 0 * * *', 'Europe/London', days(14)],
        ['dbaas', 'mysql-full-backup', '30 0 * * *', 'Europe/London', days(14)],
        ['dbaas', 'mysql-per-db-backup', '45 0 * * *', 'Europe/London', days(14)],
        ['kube-system', 'etcd-backup', '30 2 * * 0', 'Europe/London', days(30)],
        ['vault', 'vault-backup', '0 2 * * 0', 'Europe/London', days(30)],
        ['redis', 'redis-backup', '0 3 * * 0', 'Europe/London', days(30)],
        ['vaultwarden', 'vaultwarden-backup', '0 */6 * * *', 'Europe/London', days(30)],
        ['vaultwarden', 'vaultwarden-integrity-check', '30 * * * *', 'Europe/London', days(30)],
        // The weekly restore drills: one per kind of copy, keeping none themselves.
        ...[
          ['dbaas', 'postgresql-full-drill'],
          ['dbaas', 'postgresql-per-db-drill'],
          ['dbaas', 'mysql-full-drill'],
          ['dbaas', 'mysql-per-db-drill'],
          ['kube-system', 'etcd-drill'],
          ['vault', 'vault-drill'],
          ['redis', 'redis-drill'],
          ['vaultwarden', 'vaultwarden-drill'],
        ].map(([namespace, name]) => [namespace, name, '0 4 * * 0', 'Europe/London', null]),
      ].sort(),
    );
  });

  test('one NFS volume per service on 192.168.1.127:/srv/nfs/<service>-backup', () => {
    const volumes = Object.values<any>(stack.resource.kubernetes_persistent_volume_v1).map((pv) => [pv.metadata.name, pv.spec[0].persistent_volume_source.nfs.server, pv.spec[0].persistent_volume_source.nfs.path, pv.spec[0].persistent_volume_reclaim_policy, pv.spec[0].mount_options[0]]);
    expect(volumes.sort()).toEqual(
      ['etcd', 'mysql', 'postgresql', 'redis', 'vault', 'vaultwarden'].map((s) => [`${s}-backup`, '192.168.1.127', `/srv/nfs/${s}-backup`, 'Retain', 'hard']),
    );
  });

  test('the state path is relative: no checkout path leaks into the plan', () => {
    // From cdktf.out/stacks/homelab to <project>/terraform-state: outside the folder synth replaces.
    expect(stack.terraform.backend.local.path).toBe('../../../terraform-state/homelab.tfstate');
    expect(JSON.stringify(stack)).not.toContain(process.cwd());
  });

  test('no secret literal in any synthesized value', () => {
    const secretNamed = /PASSWORD|TOKEN|AUTH|SECRET|_KEY$|PASSWD|PWD/;
    for (const job of Object.values<any>(stack.resource.kubernetes_cron_job_v1)) {
      const pod = job.spec.job_template.spec.template.spec;
      // A secret-named variable may point at a file, but only inside a Secret-backed mount.
      const secretVolumes = new Set(pod.volume.filter((v: any) => v.secret).map((v: any) => v.name));
      const secretMounts = pod.container[0].volume_mount.filter((m: any) => secretVolumes.has(m.name)).map((m: any) => `${m.mount_path}/`);
      for (const env of pod.container[0].env) {
        if (!secretNamed.test(env.name)) continue;
        const fromSecret = env.value_from?.secret_key_ref !== undefined;
        const secretFile = typeof env.value === 'string' && secretMounts.some((m: string) => env.value.startsWith(m));
        expect({ name: env.name, fromSecret: fromSecret || secretFile }).toEqual({ name: env.name, fromSecret: true });
      }
    }
    // Values that look like credentials: a password-ish assignment or a bearer/vault token.
    const credentialShaped = /(password|passwd|token|secret)\s*[=:]\s*\S{6,}|hvs\.[A-Za-z0-9]{20,}|-----BEGIN [A-Z ]*PRIVATE KEY-----/i;
    const offenders = [...strings(stack.resource)]
      .filter(([path]) => !/\.data\./.test(path))
      .filter(([, value]) => credentialShaped.test(value));
    expect(offenders).toEqual([]);
  });

  test('credentials in the synthesizing environment never reach the output', () => {
    const planted = { PGPASSWORD: 'planted-pg-Zq81', MYSQL_PASSWORD: 'planted-my-Kx27', VAULT_TOKEN: 'hvs.plantedVaultTokenAAAAAAAA', REDISCLI_AUTH: 'planted-redis-Wm55' };
    const saved = { ...process.env };
    Object.assign(process.env, planted);
    try {
      const text = JSON.stringify(synthStack(homelabPolicy));
      for (const value of Object.values(planted)) expect(text).not.toContain(value);
    } finally {
      process.env = saved;
    }
  });

  test('stack snapshot (script bodies elided: the Terraform round trip checks their bytes)', () => {
    const copy = structuredClone(stack);
    for (const map of Object.values<any>(copy.resource.kubernetes_config_map_v1)) {
      for (const file of Object.keys(map.data)) map.data[file] = `<${file}>`;
    }
    // The host upload carries the same scripts (base64) and their hashes as triggers; the host
    // deployment tests check those bytes against Terraform.
    for (const resource of Object.values<any>(copy.resource.null_resource ?? {})) {
      for (const key of Object.keys(resource.triggers ?? {})) resource.triggers[key] = '<sha256>';
      for (const provisioner of resource.provisioner ?? []) if (provisioner.file?.content) provisioner.file.content = `<${provisioner.file.destination}>`;
    }
    expect(copy).toMatchSnapshot();
  });
});
