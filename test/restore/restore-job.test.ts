import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { planPolicy } from '../../policy/plan/plan';
import { renderCronJob } from '../../policy/render/kubernetes';
import { renderRestoreCommands, renderRestoreJob, restoreProblem } from '../../policy/render/restore-job';
import { packageRoot } from '../../policy/io/scripts';
import { homelabPolicy } from '../../stacks/homelab-policy';

/** The restore Job is the backup job's pod turned around: same image, Secrets and security, copies read-only. */
const plan = planPolicy(homelabPolicy);
const postgres = plan.services.find((s) => s.id === 'postgresql')!;
const now = new Date('2026-11-29T10:20:30Z');

test('a per-database restore Job runs the restore script with the backup job\'s environment and Secrets, the copies read-only', () => {
  const job = renderRestoreJob(postgres, { mode: 'per-database', copy: 'latest', database: "it's = café", overwrite: false }, now);
  const backup = renderCronJob(postgres.jobs.find((j) => j.kind === 'per-database')!);
  const backupContainer = backup.spec.jobTemplate.spec.template.spec.container[0];
  const pod = job.spec.template.spec;
  const container = pod.containers[0];
  expect(job.metadata).toEqual({
    name: 'postgresql-restore-db-20261129t102030',
    namespace: 'dbaas',
    labels: expect.objectContaining({ 'backup-policy/service': 'postgresql', 'backup-policy/kind': 'restore-per-database' }),
  });
  expect(container.image).toBe(backupContainer.image);
  expect(container.command).toEqual(['/bin/bash', '/opt/backup-policy/postgres-restore.sh', 'per-database']);
  const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
  expect(env.PGPASSWORD).toEqual({ secretKeyRef: { name: 'postgresql-backup', key: 'password' } });
  expect([env.RESTORE_COPY, env.RESTORE_DATABASE, env.RESTORE_OVERWRITE, env.BACKUP_KIND]).toEqual(['latest', "it's = café", '', 'restore-per-database']);
  // Every backup variable but the kind is handed on unchanged.
  for (const e of backupContainer.env.filter((x: any) => x.name !== 'BACKUP_KIND')) expect(container.env).toContainEqual(e);
  expect(container.volumeMounts).toContainEqual({ name: 'backup', mountPath: '/backup', readOnly: true });
  expect(pod.volumes).toContainEqual({ name: 'backup', persistentVolumeClaim: { claimName: 'postgresql-backup', readOnly: true } });
  expect(pod.volumes).toContainEqual({ name: 'scripts', configMap: { name: 'postgresql-backup-scripts', defaultMode: 0o555 } });
  expect(pod.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } });
  expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } });
  expect([job.spec.backoffLimit, pod.restartPolicy, pod.automountServiceAccountToken]).toEqual([0, 'Never', false]);
  expect(postgres.scripts.files).toContain('postgres-restore.sh');
});

test('--yes is the only way to let a restore replace data', () => {
  const job = renderRestoreJob(postgres, { mode: 'full', copy: 'dump_20261128T000000Z.sql.zst', overwrite: true }, now);
  const env = Object.fromEntries(job.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value]));
  expect([env.RESTORE_COPY, env.RESTORE_OVERWRITE, env.RESTORE_DATABASE]).toEqual(['dump_20261128T000000Z.sql.zst', 'yes', undefined]);
});

/** The homelab policy whose etcd declares no member: no restore Job for it (the runbook says how to get one). */
function withoutEtcdMember(): typeof homelabPolicy {
  const p = structuredClone(homelabPolicy) as any;
  delete p.services.etcd.member;
  return p;
}

test('what cannot be restored is refused with the reason', () => {
  const etcd = planPolicy(withoutEtcdMember()).services.find((s) => s.id === 'etcd')!;
  expect(restoreProblem(etcd, { mode: 'snapshot', copy: 'latest', overwrite: false })).toMatch(/^etcd \(etcd\) has no restore Job yet; follow its runbook/);
  expect(restoreProblem(postgres, { mode: 'per-database', copy: 'latest', overwrite: false })).toBe('a per-database restore needs --database <name>');
  expect(restoreProblem(postgres, { mode: 'full', copy: '../other/dump.sql.zst', overwrite: false })).toMatch(/^--copy is a file name under the backup directory/);
  expect(restoreProblem(postgres, { mode: 'full', copy: 'latest', database: 'x', overwrite: false })).toBe('--database applies to per-database restores, not full');
});

test('the printed commands apply exactly the rendered Job and follow it', () => {
  const job = renderRestoreJob(postgres, { mode: 'full', copy: 'latest', overwrite: false }, now);
  const text = renderRestoreCommands(job, 'kind: Job\n');
  expect(text).toBe(
    [
      '# Restores with: /bin/bash /opt/backup-policy/postgres-restore.sh full',
      "#   in ghcr.io/backup-policy/backup-tools:0.3.0, RESTORE_COPY=latest RESTORE_OVERWRITE=''",
      '#   reading the backup volume read-only at /backup',
      "kubectl apply -f - <<'BACKUP_POLICY_RESTORE_JOB'",
      'kind: Job',
      'BACKUP_POLICY_RESTORE_JOB',
      'kubectl -n dbaas logs -f --pod-running-timeout=10m job/postgresql-restore-full-20261129t102030',
      `test "$(kubectl -n dbaas get job/postgresql-restore-full-20261129t102030 -o jsonpath='{.status.succeeded}')" = 1 && echo "restore succeeded" || { echo "restore failed: kubectl -n dbaas describe job/postgresql-restore-full-20261129t102030" >&2; false; }`,
      '',
    ].join('\n'),
  );
});

describe('backup-policy restore', () => {
  const cli = (args: string[]) => spawnSync(process.execPath, [join(packageRoot(), 'dist/cli/main.js'), 'restore', ...args], { encoding: 'utf8' });

  test('prints a Job manifest kubectl can apply, in YAML or JSON', () => {
    const yaml = cli(['mysql', '--database', 'naïve db']);
    expect(yaml.status).toBe(0);
    const job = parse(yaml.stdout);
    expect([job.kind, job.spec.template.spec.containers[0].command[2]]).toEqual(['Job', 'per-database']);
    expect(job.spec.template.spec.containers[0].env).toContainEqual({ name: 'RESTORE_DATABASE', value: 'naïve db' });
    const json = cli(['mysql', '--mode', 'full', '--output', 'json']);
    expect(JSON.parse(json.stdout).spec.template.spec.containers[0].command[2]).toBe('full');
  });

  test('an unknown service or an engine without a restore Job is a usage error with the way forward', () => {
    const unknown = cli(['postgres']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('no service "postgres" in the policy');
    const policy = join(mkdtempSync(join(tmpdir(), 'bp-restore-cli-')), 'policy.json');
    writeFileSync(policy, JSON.stringify(withoutEtcdMember()));
    const etcd = cli(['etcd', '--policy', policy]);
    rmSync(dirname(policy), { recursive: true, force: true });
    expect(etcd.status).toBe(2);
    expect(etcd.stderr).toContain('has no restore Job yet; follow its runbook (docs/runbooks/etcd.md)');
  });
});

describe('etcd: a restore Job for a declared member, on its node', () => {
  const etcd = plan.services.find((s) => s.id === 'etcd')!;
  const job = renderRestoreJob(etcd, { mode: 'snapshot', copy: 'latest', overwrite: true }, now);
  const pod = job.spec.template.spec;
  const container = pod.containers[0];
  const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));

  test('runs etcd-restore.sh as root, with DAC_READ_SEARCH only, on the node of the backup jobs, the data directory\'s parent mounted', () => {
    expect(container.command).toEqual(['/bin/bash', '/opt/backup-policy/etcd-restore.sh', 'snapshot']);
    expect(pod.securityContext).toEqual({ runAsNonRoot: false, runAsUser: 0, runAsGroup: 0, fsGroup: 0, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'], add: ['DAC_READ_SEARCH'] } });
    expect([pod.hostNetwork, pod.nodeSelector]).toEqual([true, { 'node-role.kubernetes.io/control-plane': '' }]);
    expect(pod.volumes).toContainEqual({ name: 'etcd-node-dir', hostPath: { path: '/var/lib', type: 'Directory' } });
    expect(container.volumeMounts).toContainEqual({ name: 'etcd-node-dir', mountPath: '/node/var/lib', readOnly: false });
    expect(container.volumeMounts).toContainEqual({ name: 'backup', mountPath: '/backup', readOnly: true });
    expect(etcd.scripts.files).toContain('etcd-restore.sh');
  });

  test('carries the member\'s flags, so that it comes back as itself', () => {
    expect(env).toMatchObject({
      ETCD_RESTORE_NAME: 'k8s-master',
      ETCD_RESTORE_PEER_URL: 'https://192.168.1.130:2380',
      ETCD_RESTORE_INITIAL_CLUSTER: 'k8s-master=https://192.168.1.130:2380',
      ETCD_RESTORE_DATA_DIR: '/node/var/lib/etcd',
      ETCD_RESTORE_NODE_DATA_DIR: '/var/lib/etcd',
      ETCD_RESTORE_WAIT_SECONDS: '900',
      RESTORE_OVERWRITE: 'yes',
    });
  });

  test('lint names the root restore with its reason', () => {
    expect(etcd.restore?.pod.rootReason).toMatch(/^etcd's data directory \/var\/lib\/etcd belongs to root/);
  });
});

describe('vault: a restore Job that POSTs the snapshot with the backup\'s token', () => {
  const vault = plan.services.find((s) => s.id === 'vault')!;

  test('same Secret and address as the backup, non-root, -force only when the policy says so', () => {
    const job = renderRestoreJob(vault, { mode: 'snapshot', copy: 'latest', overwrite: true }, now);
    const container = job.spec.template.spec.containers[0];
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(container.command).toEqual(['/bin/bash', '/opt/backup-policy/vault-restore.sh', 'snapshot']);
    expect(env.VAULT_TOKEN).toEqual({ secretKeyRef: { name: 'vault-backup-token', key: 'token' } });
    expect([env.VAULT_ADDR, env.VAULT_RESTORE_FORCE]).toEqual(['http://vault-active.vault.svc.cluster.local:8200', '']);
    expect(job.spec.template.spec.securityContext.runAsUser).toBe(10001);
    expect(vault.scripts.files).toEqual(['backup-lib.sh', 'vault-lib.sh', 'vault-backup.sh', 'vault-restore.sh', 'drill-lib.sh', 'vault-drill.sh']);
    const forced = structuredClone(homelabPolicy) as any;
    forced.services.vault.restoreForce = true;
    const forcedVault = planPolicy(forced).services.find((s) => s.id === 'vault')!;
    const forcedEnv = renderRestoreJob(forcedVault, { mode: 'snapshot', copy: 'latest', overwrite: true }, now).spec.template.spec.containers[0].env;
    expect(forcedEnv).toContainEqual({ name: 'VAULT_RESTORE_FORCE', value: 'yes' });
  });

  test('a restoreTokenSecret replaces the backup token in the restore Job only', () => {
    const own = structuredClone(homelabPolicy) as any;
    own.services.vault.restoreTokenSecret = { name: 'vault-restore', key: 'token' };
    const ownVault = planPolicy(own).services.find((s) => s.id === 'vault')!;
    const tokens = renderRestoreJob(ownVault, { mode: 'snapshot', copy: 'latest', overwrite: true }, now).spec.template.spec.containers[0].env.filter((e: any) => e.name === 'VAULT_TOKEN');
    expect(tokens).toEqual([{ name: 'VAULT_TOKEN', valueFrom: { secretKeyRef: { name: 'vault-restore', key: 'token' } } }]);
    expect(ownVault.jobs[0].env).toContainEqual({ name: 'VAULT_TOKEN', secret: { name: 'vault-backup-token', key: 'token' } });
    expect(ownVault.restoreSteps.join('\n')).toContain('the restore token (Secret `vault-restore`, key `token`)');
  });

  test('--target points it at another Vault', () => {
    const job = renderRestoreJob(vault, { mode: 'snapshot', copy: 'latest', overwrite: true, target: 'https://vault.example.org:8200' }, now);
    expect(job.spec.template.spec.containers[0].env).toContainEqual({ name: 'VAULT_ADDR', value: 'https://vault.example.org:8200' });
    expect(restoreProblem(vault, { mode: 'snapshot', copy: 'latest', overwrite: true, target: 'vault:8200' })).toMatch(/^--target for vault is an http:\/\/ or https:\/\/ URL/);
  });
});

describe('the etcd and Vault runbooks run exactly the restore Job', () => {
  const cli = (args: string[]) => spawnSync(process.execPath, [join(packageRoot(), 'dist/cli/main.js'), 'restore', ...args], { encoding: 'utf8' });

  test.each([
    ['etcd', 'etcd-restore.sh'],
    ['vault', 'vault-restore.sh'],
  ])('docs/runbooks/%s.md: its command renders the Job that runs %s, and it says where each step runs', (id, script) => {
    const runbook = readFileSync(join(packageRoot(), 'docs', 'runbooks', `${id}.md`), 'utf8');
    const commands = [...runbook.matchAll(/npx backup-policy restore (.+) \| kubectl apply -f -$/gm)].map((m) => m[1]);
    expect(commands).toEqual([`${id} --mode snapshot --yes`]);
    const r = cli(commands[0].split(' '));
    expect(r.status).toBe(0);
    const job = parse(r.stdout);
    expect(job.spec.template.spec.containers[0].command).toEqual(['/bin/bash', `/opt/backup-policy/${script}`, 'snapshot']);
    expect(job.spec.template.spec.containers[0].env).toContainEqual({ name: 'RESTORE_OVERWRITE', value: 'yes' });
    expect(runbook).toContain(`**On a workstation with kubectl**`);
    if (id === 'etcd') expect(runbook).toContain("**On the member's node, as root**");
  });
});
