import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pvcCoverage, type CoverageRow } from '../../policy/checks/coverage';
import { parsePolicy } from '../../policy/parse/parse';
import { planPolicy } from '../../policy/plan/plan';
import { packageRoot } from '../../policy/io/scripts';
import { homelabPolicy } from '../../stacks/homelab-policy';

const root = packageRoot();
const fixtures = join(__dirname, 'fixtures');
const classes = { lvm: ['proxmox-lvm'], nfs: ['nfs-proxmox', 'nfs-ssd'] };

function homelabWith(edit: (p: any) => void): any {
  const copy = structuredClone(homelabPolicy);
  edit(copy);
  return copy;
}

function pvc(namespace: string, name: string, storageClassName: string) {
  return { metadata: { name, namespace }, spec: { storageClassName } };
}

/** Row -> the layers covering it ("dump:postgresql", "snapshot", ...), "excluded" or "GAP". */
function verdicts(rows: CoverageRow[]): Record<string, string> {
  return Object.fromEntries(
    rows.map((r) => [r.pvc, r.covers.length > 0 ? r.covers.map((c) => (c.by ? `${c.layer}:${c.by}` : c.layer)).join(' ') : r.excludedBy ? 'excluded' : 'GAP']),
  );
}

function cli(args: string[]) {
  return spawnSync(process.execPath, [join(root, 'bin/backup-policy.js'), 'lint', ...args], { encoding: 'utf8' });
}

describe('PVC coverage: per-PVC truth', () => {
  test('in a namespace kept out of the snapshots, a dump covers only the PVC its service names as its data', () => {
    const report = pvcCoverage(
      planPolicy(homelabPolicy),
      { items: [pvc('dbaas', 'data-postgresql-0', 'proxmox-lvm'), pvc('dbaas', 'data-mysql-0', 'proxmox-lvm'), pvc('dbaas', 'pgadmin-data', 'proxmox-lvm')] },
      classes,
    );
    expect(verdicts(report.rows)).toEqual({
      'dbaas/data-mysql-0': "dump:mysql offsite:mysql's dumps",
      'dbaas/data-postgresql-0': "dump:postgresql offsite:postgresql's dumps",
      // Nothing backs up pgAdmin's volume: the databases' dumps beside it do not.
      'dbaas/pgadmin-data': 'GAP',
    });
    expect(report.rows.find((r) => r.pvc === 'dbaas/pgadmin-data')!.notes).toEqual(['not snapshotted: host.snapshots.excludeNamespaces lists dbaas']);
  });

  test('without a host section, database volumes are covered by their dumps and LVM volumes by nothing', () => {
    const report = pvcCoverage(
      planPolicy(homelabWith((p) => delete p.host)),
      { items: [pvc('dbaas', 'data-postgresql-0', 'proxmox-lvm'), pvc('vaultwarden', 'vaultwarden-data', 'proxmox-lvm'), pvc('nextcloud', 'nextcloud-data', 'proxmox-lvm')] },
      classes,
    );
    expect(verdicts(report.rows)).toEqual({
      'dbaas/data-postgresql-0': 'dump:postgresql',
      'nextcloud/nextcloud-data': 'GAP',
      'vaultwarden/vaultwarden-data': 'dump:vaultwarden',
    });
    expect(report.rows.find((r) => r.pvc === 'nextcloud/nextcloud-data')!.notes).toEqual(['no host section: nothing snapshots proxmox-lvm volumes']);
  });

  test('one PVC (a cache) can be excluded with its reason while its neighbours stay covered', () => {
    const plan = planPolicy(homelabWith((p) => (p.coverage.exclude = [{ namespace: 'immich', claim: 'immich-ml-cache', reason: 'model cache, downloaded again' }])));
    const report = pvcCoverage(plan, { items: [pvc('immich', 'immich-ml-cache', 'local-path'), pvc('immich', 'immich-thumbs', 'local-path'), pvc('immich', 'immich-postgres', 'proxmox-lvm')] }, classes);
    expect(verdicts(report.rows)).toEqual({
      'immich/immich-ml-cache': 'excluded',
      'immich/immich-postgres': 'snapshot file offsite:file backup',
      // The exclusion names one claim, not the namespace.
      'immich/immich-thumbs': 'GAP',
    });
    expect(report.rows[0].excludedBy).toEqual({ rule: 'coverage.exclude immich/immich-ml-cache', reason: 'model cache, downloaded again' });
  });

  test('a namespace exclusion names every PVC of it, and an exclusion matching nothing is reported', () => {
    const plan = planPolicy(homelabWith((p) => p.coverage.exclude.push({ namespace: 'ci', reason: 'runner caches' }, { namespace: 'gone', reason: 'decommissioned' })));
    const report = pvcCoverage(plan, { items: [pvc('ci', 'a', 'local-path'), pvc('ci', 'b', 'proxmox-lvm'), pvc('monitoring', 'prometheus-db', 'proxmox-lvm')] }, classes);
    expect(verdicts(report.rows)).toEqual({ 'ci/a': 'excluded', 'ci/b': 'snapshot file offsite:file backup', 'monitoring/prometheus-db': 'excluded' });
    // ci/b is covered anyway; the exclusion is still in use (it names a PVC).
    expect(report.unusedExclusions).toEqual(['coverage.exclude gone (namespace)']);
  });

  test('an exclusion without a reason is refused with its path', () => {
    expect(() => parsePolicy(homelabWith((p) => (p.coverage.exclude = [{ namespace: 'ci' }])))).toThrow(/coverage\.exclude\[0\]\.reason: /);
    expect(() => parsePolicy(homelabWith((p) => (p.coverage.exclude = [{ namespace: 'ci', reason: 'a | b' }])))).toThrow(/coverage\.exclude\[0\]\.reason: /);
  });

  test('a PVC on an NFS class is covered by the offsite sync only with a host section', () => {
    const items = [pvc('immich', 'library', 'nfs-proxmox')];
    expect(verdicts(pvcCoverage(planPolicy(homelabPolicy), { items }, classes).rows)).toEqual({ 'immich/library': 'offsite:NFS tree' });
    expect(verdicts(pvcCoverage(planPolicy(homelabWith((p) => delete p.host)), { items }, classes).rows)).toEqual({ 'immich/library': 'GAP' });
  });
});

describe('the protection matrix claims only layers that exist', () => {
  test("kubeadm's etcd (static pod, no PVC) gets no snapshot or file backup; services naming a PVC do", () => {
    const layers = Object.fromEntries(planPolicy(homelabPolicy).services.map((s) => [s.id, s.protection.map((p) => p.layer)]));
    expect(layers).toEqual({
      etcd: ['dump', 'offsite'],
      mysql: ['dump', 'offsite'],
      postgresql: ['dump', 'offsite'],
      redis: ['snapshot', 'file', 'dump', 'offsite'],
      vault: ['snapshot', 'file', 'dump', 'offsite'],
      vaultwarden: ['snapshot', 'file', 'dump', 'offsite'],
    });
  });

  test('a declared data claim gives a service the host layers, only outside the excluded namespaces', () => {
    const withClaim = planPolicy(homelabWith((p) => (p.services.etcd.dataClaims = ['etcd-data'])));
    expect(withClaim.services.find((s) => s.id === 'etcd')!.protection.map((p) => p.layer)).toEqual(['snapshot', 'file', 'dump', 'offsite']);
    const excluded = planPolicy(homelabWith((p) => p.host.snapshots.excludeNamespaces.push('vault')));
    expect(excluded.services.find((s) => s.id === 'vault')!.protection.map((p) => p.layer)).toEqual(['dump', 'offsite']);
  });
});

describe('lint --pvcs on a realistic cluster (golden)', () => {
  // pvcs.json: `kubectl get pvc -A -o json` of a cluster shaped like the homelab (43 PVCs, 18
  // namespaces, proxmox-lvm / nfs-proxmox / nfs-ssd / local-path and the static backup claims).
  // pvcs-coverage.md is the table reviewed by hand and committed; any change to coverage shows
  // up as a diff of it.
  test('prints the committed table, names each gap on stderr and exits 1', () => {
    const result = cli(['--policy', join(fixtures, 'cluster-policy.ts'), '--pvcs', join(fixtures, 'pvcs.json'), '--nfs-class', 'nfs-proxmox', '--nfs-class', 'nfs-ssd']);
    expect(result.stdout).toBe(readFileSync(join(fixtures, 'pvcs-coverage.md'), 'utf8'));
    // Warnings (root jobs, tag-only images) are lint's other output: this case is about the gaps.
    expect(result.stderr.split('\n').filter((l) => l && !l.startsWith('warning: '))).toEqual([
      'pvcs.dbaas/pgadmin-data: no layer covers this PVC and no exclusion names it; name it as a service\'s dataClaims, or add it to coverage.exclude with a reason',
      'pvcs.home-assistant/home-assistant-config: no layer covers this PVC and no exclusion names it; name it as a service\'s dataClaims, or add it to coverage.exclude with a reason',
      '2 findings',
    ]);
    expect(result.status).toBe(1);
  });

  test('exits 0 when every PVC is covered or excluded', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bp-coverage-'));
    try {
      const all = JSON.parse(readFileSync(join(fixtures, 'pvcs.json'), 'utf8'));
      all.items = all.items.filter((i: any) => !['pgadmin-data', 'home-assistant-config'].includes(i.metadata.name));
      writeFileSync(join(dir, 'pvcs.json'), JSON.stringify(all));
      const result = cli(['--policy', join(fixtures, 'cluster-policy.ts'), '--pvcs', join(dir, 'pvcs.json'), '--nfs-class', 'nfs-proxmox', '--nfs-class', 'nfs-ssd']);
      expect(result.stderr.split('\n').filter((l) => l && !l.startsWith('warning: '))).toEqual([]);
      expect(result.stdout).toContain('41 PVCs: 35 covered, 6 excluded, 0 not covered.');
      expect(result.stdout.trimEnd().endsWith('0 findings')).toBe(true);
      expect(result.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
