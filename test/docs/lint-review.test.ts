import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { lintPlan } from '../../policy/checks/lint';
import { pvcCoverage } from '../../policy/checks/coverage';
import { planPolicy } from '../../policy/plan/plan';
import { reviewPlans } from '../../policy/checks/review';
import { packageRoot } from '../../policy/io/scripts';
import { homelabPolicy } from '../../stacks/homelab-policy';

const root = packageRoot();

function homelabWith(edit: (p: any) => void): any {
  const copy = structuredClone(homelabPolicy);
  edit(copy);
  return copy;
}

function lint(input: unknown) {
  return lintPlan(planPolicy(input)).map((f) => `${f.path}: ${f.message}`);
}

describe('lint', () => {
  test('the bundled homelab is clean', () => {
    expect(lint(homelabPolicy)).toEqual([]);
  });

  test.each<[string, (p: any) => void, string, string]>([
    ['a schedule gap exceeds the declared RPO', (p) => (p.services.postgresql.rpo = '12h'), 'services.postgresql.rpo', 'more than the declared RPO of 12 hours'],
    ['retention keeps fewer than two runs', (p) => (p.services.redis.retention = { keepWithin: '7d', keepLast: 1 }), 'services.redis.retention', 'keeps fewer than two runs'],
    ['two jobs hit the same server in one window', (p) => (p.services.postgresql.perDatabase.schedule = 'daily at 00:05'), 'services.postgresql', 'both hit postgresql.dbaas.svc.cluster.local:5432 within 15 minutes'],
    ['a critical service has no offsite copy', (p) => { p.services.postgresql.critical = true; p.services.postgresql.nfsPath = '/srv/backups/postgresql'; }, 'services.postgresql', 'marked critical but has no offsite copy'],
    ['a service has no copy outside its own disk', (p) => (p.services.mysql.nfsPath = '/srv/backups/mysql'), 'services.mysql', 'no copy outside its own disk'],
    ['host snapshots keep fewer than two', (p) => (p.host.snapshots.retention = '1d'), 'host.snapshots.retention', 'fewer than two remain'],
  ])('fails when %s', (_name, edit, path, words) => {
    const findings = lint(homelabWith(edit));
    // The homelab is clean, so every finding comes from the edit; at least one must be the rule's.
    expect(findings).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${path.replace(/\./g, '\\.')}: .*${words.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))]));
  });

  test('the PVC coverage report names every PVC nothing covers and nothing excludes', () => {
    const plan = planPolicy(homelabPolicy);
    const pvcs = {
      items: [
        { metadata: { name: 'data-postgresql-0', namespace: 'dbaas' }, spec: { storageClassName: 'proxmox-lvm' } },
        { metadata: { name: 'prometheus-db', namespace: 'monitoring' }, spec: { storageClassName: 'proxmox-lvm' } },
        { metadata: { name: 'nextcloud-data', namespace: 'nextcloud' }, spec: { storageClassName: 'proxmox-lvm' } },
        { metadata: { name: 'library', namespace: 'immich' }, spec: { storageClassName: 'nfs-proxmox' } },
        { metadata: { name: 'scratch', namespace: 'ci' }, spec: { storageClassName: 'local-path' } },
      ],
    };
    const rows = pvcCoverage(plan, pvcs, { lvm: ['proxmox-lvm'], nfs: ['nfs-proxmox'] });
    expect(rows.map((r) => [r.pvc, r.covered.length > 0 ? 'covered' : r.excludedBy ? 'excluded' : 'GAP'])).toEqual([
      ['ci/scratch', 'GAP'],
      ['dbaas/data-postgresql-0', 'covered'],
      ['immich/library', 'covered'],
      ['monitoring/prometheus-db', 'excluded'],
      ['nextcloud/nextcloud-data', 'covered'],
    ]);
  });

  test('the CLI exits 1 on a finding or an uncovered PVC, 0 when clean', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bp-lint-'));
    try {
      const cli = (args: string[]) => spawnSync(process.execPath, [join(root, 'bin/backup-policy.js'), 'lint', ...args], { encoding: 'utf8' });
      expect(cli([]).status).toBe(0);
      writeFileSync(join(dir, 'pvcs.json'), JSON.stringify({ items: [{ metadata: { name: 'scratch', namespace: 'ci' }, spec: { storageClassName: 'local-path' } }] }));
      const gap = cli(['--pvcs', join(dir, 'pvcs.json')]);
      expect(gap.status).toBe(1);
      expect(gap.stdout).toContain('| ci/scratch | local-path | **nothing (not covered, not excluded)** |');
      expect(gap.stderr).toContain('pvcs.ci/scratch: no layer covers this PVC and no exclusion names it');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('plan review', () => {
  const base = planPolicy(homelabPolicy);
  const review = (edit: (p: any) => void) => reviewPlans(base, planPolicy(homelabWith(edit)), 'main');

  test('no change says so', () => {
    expect(reviewPlans(base, base, 'main')).toContain('No change to what is protected');
  });

  test('shorter retention is flagged risky, in words', () => {
    const text = review((p) => (p.services.postgresql.retention.keepWithin = '3d'));
    expect(text).toContain('### Protection lost or weakened');
    expect(text).toContain('- ⚠️ postgresql: full retention 14 days -> 3 days');
  });

  test('an offsite copy removed is flagged risky', () => {
    const text = review((p) => (p.host.offsite.sources = p.host.offsite.sources.filter((s: any) => s.path !== '/srv/nfs')));
    // The databases' dumps reached the NAS only through the NFS tree; vaultwarden's data still
    // goes offsite through the file backup on the backup disk.
    expect(text).toContain('- ⚠️ postgresql: offsite copy removed');
    expect(text).toContain('- ⚠️ mysql: offsite copy removed');
    expect(text).not.toContain('vaultwarden: offsite copy removed');
  });

  test('schedule and alert threshold changes are described in words', () => {
    const text = review((p) => (p.services.redis.schedule = 'daily at 03:00'));
    expect(text).toContain('redis: snapshot schedule "At 03:00, only on Sunday" -> "At 03:00" (longest gap 7 days -> 24 hours)');
    expect(text).toContain('redis: snapshot alert threshold (stale after) 8 days -> 36 hours');
  });

  test('services added and removed, with their alerts', () => {
    const text = review((p) => {
      delete p.services.redis;
      p.services.immich = { engine: 'postgres', namespace: 'immich', connection: { host: 'immich-db.immich.svc', passwordSecret: { name: 'immich-db', key: 'password' } }, perDatabase: { schedule: 'daily at 01:30' }, retention: { keepWithin: '14d', keepLast: 7 } };
    });
    expect(text).toContain('- ⚠️ redis: service removed');
    expect(text).toContain('- immich: service added (postgres, per-database At 01:30)');
    expect(text).toContain('- ⚠️ removed: RedisBackupStale (redis, snapshot)');
    expect(text).toContain('- added: ImmichBackupStale (immich, per-database)');
  });

  test('the CLI compares the working tree with a git revision', () => {
    const repo = mkdtempSync(join(tmpdir(), 'bp-review-'));
    try {
      const git = (...args: string[]) => execFileSync('git', ['-c', 'user.email=t@example.invalid', '-c', 'user.name=t', ...args], { cwd: repo });
      git('init', '-q');
      const file = join(repo, 'policy.yaml');
      writeFileSync(file, stringify(homelabPolicy));
      git('add', 'policy.yaml');
      git('commit', '-qm', 'base');
      writeFileSync(file, stringify(homelabWith((p) => (p.services.vault.retention.keepWithin = '7d'))));
      const result = spawnSync(process.execPath, [join(root, 'bin/backup-policy.js'), 'plan-review', '--base', 'HEAD', '--policy', file], { encoding: 'utf8' });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      expect(result.stdout).toContain('## Backup policy review (against HEAD)');
      expect(result.stdout).toContain('- ⚠️ vault: snapshot retention 30 days -> 7 days');
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });
});

describe('lint and the SSH host key', () => {
  test('deploying without checking the host key is reported; a missing key is left to the deploy, which refuses', () => {
    const unchecked = lint(homelabWith((p) => (p.host.acceptUnknownHostKey = true)));
    expect(unchecked).toEqual([expect.stringMatching(/^host\.acceptUnknownHostKey: the deploy connects to 192\.168\.1\.127 without checking its SSH host key/)]);
    expect(lint(homelabWith((p) => (p.host.hostKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIkey')))).toEqual([]);
  });
});
