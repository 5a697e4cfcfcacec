/**
 * lvm-pvc-snapshot against the stateful LVM fake (this kernel has no device-mapper; see
 * test/fakes/lvm/lvm for what the fake does not model) and a kubectl fake.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Pushgateway, startPushgateway } from '../support/servers';
import { Lab, addVolume, kubectlCalls, labHost, lvm, lvs, makeLab, removeLab, runHost, setCluster, setPoolUsage, tsAgo, writeConfig } from './host-lab';

let pgw: Pushgateway;
const labs: Lab[] = [];
const DAY = 86400;

beforeAll(async () => {
  pgw = await startPushgateway();
});
afterAll(async () => {
  for (const lab of labs) removeLab(lab);
  await pgw.stop();
});

/** A host with three PVC volumes (one in an excluded namespace) and one VM disk. */
async function homelab(label: string): Promise<Lab> {
  const lab = makeLab(label);
  labs.push(lab);
  writeConfig(lab, labHost(lab.root, { pushgateway: { url: pgw.url } }));
  await lvm(lab, 'lvm', ['fake-setup', 'vg', 'pve', 'data']);
  await addVolume(lab, 'vm-9999-pvc-aaaa', { 'data/file.txt': 'vaultwarden data\n' });
  await addVolume(lab, 'vm-9999-pvc-bbbb', { 'index.html': 'forgejo\n' });
  await addVolume(lab, 'vm-9999-pvc-cccc', { 'pgdata/PG_VERSION': '15\n' });
  await addVolume(lab, 'vm-100-disk-0');
  setCluster(
    lab,
    [
      ['vm-9999-pvc-aaaa', 'vaultwarden', 'vaultwarden-data'],
      ['vm-9999-pvc-bbbb', 'forgejo', 'forgejo-data'],
      ['vm-9999-pvc-cccc', 'dbaas', 'pgdata-postgresql-0'],
    ],
    [
      ['vaultwarden', 'Deployment/vaultwarden', 1, 'vaultwarden-data'],
      ['forgejo', 'StatefulSet/forgejo', 2, 'template:data'],
      ['forgejo', 'Deployment/forgejo-runner', 1, 'runner-cache'],
    ],
  );
  return lab;
}

const snapshots = async (lab: Lab) => (await lvs(lab)).filter((r) => r.tags.includes('backup_policy_snapshot')).map((r) => r.name).sort();

describe('lvm-pvc-snapshot snapshot', () => {
  test('snapshots every PVC volume outside the excluded namespaces, and only those', async () => {
    const lab = await homelab('snap');
    const r = await runHost(lab, 'lvm-pvc-snapshot.sh', ['snapshot']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('2 snapshots taken') });
    const snaps = (await lvs(lab)).filter((row) => row.tags.includes('backup_policy_snapshot'));
    expect(snaps.map((s) => s.origin).sort()).toEqual(['vm-9999-pvc-aaaa', 'vm-9999-pvc-bbbb']);
    for (const s of snaps) {
      expect(s.name).toMatch(new RegExp(`^${s.origin}-snap-\\d{8}T\\d{6}Z$`));
      // Thin snapshots are created inactive with the activation-skip flag, as on a real host.
      expect(s.attr).toBe('Vwi---tz-k');
      expect(s.pool).toBe('data');
    }
    const group = await pgw.group('lvm-pvc-snapshot', 'snapshot');
    expect(group.get('backup_last_run_success')?.value).toBe(1);
    expect(group.get('backup_last_run_success')?.labels).toEqual(expect.objectContaining({ runner: 'host', engine: 'lvm' }));
    expect(group.get('backup_snapshots_created')?.value).toBe(2);
    expect(group.get('backup_thin_pool_free_percent')?.value).toBe(90);
    expect(group.get('backup_disk_usage_percent')?.value).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(lab.state, 'lvm-pvc-snapshot.last-run'), 'utf8')).toMatch(/^\d+ ok\n$/);

    // A second run a second later snapshots the volumes again, never the snapshots themselves
    // (their names match vm-*-pvc-* too).
    await new Promise((res) => setTimeout(res, 1100));
    const again = await runHost(lab, 'lvm-pvc-snapshot.sh', ['snapshot']);
    expect(again.code).toBe(0);
    expect((await snapshots(lab)).length).toBe(4);
  });

  test('refuses below the thin pool free-space floor, and records the failure', async () => {
    const lab = await homelab('floor');
    await setPoolUsage(lab, 80, 90); // metadata is the fuller one: 10% free < 15%
    const r = await runHost(lab, 'lvm-pvc-snapshot.sh', ['snapshot']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('thin pool pve/data has 10.00% free, below the floor of 15%');
    expect(await snapshots(lab)).toEqual([]);
    const group = await pgw.group('lvm-pvc-snapshot', 'snapshot');
    expect(group.get('backup_last_run_success')?.value).toBe(0);
    expect(group.get('backup_thin_pool_free_percent')?.value).toBe(10);
    expect(fs.readFileSync(path.join(lab.state, 'lvm-pvc-snapshot.last-run'), 'utf8')).toMatch(/^\d+ failed\n$/);
  });

  test('fails the way LVM fails: a full pool refuses lvcreate, a missing VG refuses everything', async () => {
    const full = await homelab('full');
    writeConfig(full, labHost(full.root, { pushgateway: { url: pgw.url }, snapshots: { ...labHost(full.root).snapshots, minFreePercent: 0 } }));
    await setPoolUsage(full, 100, 40);
    const r = await runHost(full, 'lvm-pvc-snapshot.sh', ['snapshot']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Cannot create new thin volume, free space in thin pool pve/data reached threshold.');
    expect(r.stderr).toContain('2 of 2 snapshots failed');

    const novg = await homelab('novg');
    writeConfig(novg, labHost(novg.root, { pushgateway: { url: pgw.url }, snapshots: { ...labHost(novg.root).snapshots, volumeGroup: 'pve2' } }));
    const m = await runHost(novg, 'lvm-pvc-snapshot.sh', ['snapshot']);
    expect(m.code).toBe(1);
    expect(m.stderr).toContain('Volume group "pve2" not found');
    expect((await pgw.group('lvm-pvc-snapshot', 'snapshot')).get('backup_last_run_success')?.value).toBe(0);
  });

  test('keeps working while the cluster is down: the last known PV map still excludes dbaas', async () => {
    const lab = await homelab('k8sdown');
    expect((await runHost(lab, 'lvm-pvc-snapshot.sh', ['snapshot'])).code).toBe(0);
    fs.writeFileSync(path.join(lab.k8s, 'down'), '');
    await new Promise((res) => setTimeout(res, 1100));
    const r = await runHost(lab, 'lvm-pvc-snapshot.sh', ['snapshot']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('kubectl cannot list PersistentVolumes; using the copy from');
    expect((await snapshots(lab)).filter((s) => s.startsWith('vm-9999-pvc-cccc'))).toEqual([]);

    // Without any earlier copy the namespaces are unknown: everything matching is protected.
    fs.rmSync(path.join(lab.state, 'pv-map.tsv'));
    await new Promise((res) => setTimeout(res, 1100));
    const blind = await runHost(lab, 'lvm-pvc-snapshot.sh', ['snapshot']);
    expect(blind.code).toBe(0);
    expect(blind.stderr).toContain('vm-9999-pvc-cccc has no PersistentVolume');
    expect((await snapshots(lab)).filter((s) => s.startsWith('vm-9999-pvc-cccc')).length).toBe(1);
  });

  test('list shows each snapshot under its volume', async () => {
    const lab = await homelab('list');
    await runHost(lab, 'lvm-pvc-snapshot.sh', ['snapshot']);
    const r = await runHost(lab, 'lvm-pvc-snapshot.sh', ['list']);
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/));
    expect(rows.map((row) => [row[0], row[1].startsWith(`${row[0]}-snap-`), row[2]])).toEqual([
      ['vm-9999-pvc-aaaa', true, '0h'],
      ['vm-9999-pvc-bbbb', true, '0h'],
    ]);
  });
});

describe('lvm-pvc-snapshot prune', () => {
  /** Snapshots as earlier runs would have left them, named by their age. */
  async function aged(lab: Lab, lv: string, ageDays: number, tag = true): Promise<string> {
    const name = `${lv}-snap-${tsAgo(ageDays * DAY)}`;
    await lvm(lab, 'lvcreate', ['-s', '-n', name, ...(tag ? ['--addtag', 'backup_policy_snapshot'] : []), `pve/${lv}`]);
    return name;
  }

  test('removes snapshots past retention, never the newest per volume, never untagged ones', async () => {
    const lab = await homelab('prune');
    const a10 = await aged(lab, 'vm-9999-pvc-aaaa', 10);
    const a8 = await aged(lab, 'vm-9999-pvc-aaaa', 8);
    const a6 = await aged(lab, 'vm-9999-pvc-aaaa', 6);
    const bOnly = await aged(lab, 'vm-9999-pvc-bbbb', 30); // the newest of its volume: kept at any age
    const foreign = await aged(lab, 'vm-9999-pvc-cccc', 40, false); // not made by us
    // Today's run of vm-9999-pvc-aaaa only (bbbb's snapshot failed, say): the run as a whole
    // succeeded, which is what prune checks.
    fs.writeFileSync(path.join(lab.state, 'lvm-pvc-snapshot.last-run'), `${Math.floor(Date.now() / 1000) - 3600} ok\n`);
    const r = await runHost(lab, 'lvm-pvc-snapshot.sh', ['prune']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('prune: 2 snapshots removed') });
    const names = (await lvs(lab)).map((row) => row.name);
    expect(names).not.toContain(a10);
    expect(names).not.toContain(a8);
    expect(names).toEqual(expect.arrayContaining([a6, bOnly, foreign, 'vm-9999-pvc-aaaa', 'vm-9999-pvc-bbbb']));
  });

  test('never prunes when the last snapshot run failed, or none ran recently', async () => {
    const lab = await homelab('noprune');
    const old = await aged(lab, 'vm-9999-pvc-aaaa', 10);
    await aged(lab, 'vm-9999-pvc-aaaa', 9);
    await setPoolUsage(lab, 95, 10);
    expect((await runHost(lab, 'lvm-pvc-snapshot.sh', ['snapshot'])).code).toBe(1);
    const failed = await runHost(lab, 'lvm-pvc-snapshot.sh', ['prune']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('the last snapshot run failed');
    expect((await lvs(lab)).map((row) => row.name)).toContain(old);

    // A success older than the snapshot schedule's staleness (36 h for a daily run) is no better.
    fs.writeFileSync(path.join(lab.state, 'lvm-pvc-snapshot.last-run'), `${Math.floor(Date.now() / 1000) - 2 * DAY} ok\n`);
    const stale = await runHost(lab, 'lvm-pvc-snapshot.sh', ['prune']);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('older than 129600 s; not pruning');
    fs.rmSync(path.join(lab.state, 'lvm-pvc-snapshot.last-run'));
    expect((await runHost(lab, 'lvm-pvc-snapshot.sh', ['prune'])).stderr).toContain('no snapshot run recorded');
    expect((await lvs(lab)).map((row) => row.name)).toContain(old);
  });

  test('reports a snapshot LVM cannot remove (in use) and still removes the others', async () => {
    const lab = await homelab('busy');
    const busy = await aged(lab, 'vm-9999-pvc-aaaa', 10);
    const free = await aged(lab, 'vm-9999-pvc-aaaa', 9);
    await aged(lab, 'vm-9999-pvc-aaaa', 1);
    fs.writeFileSync(path.join(lab.state, 'lvm-pvc-snapshot.last-run'), `${Math.floor(Date.now() / 1000)} ok\n`);
    const image = path.join(lab.lvm, 'vgs/pve/lvs', busy, 'image');
    const loop = execFileSync('losetup', ['-f', '--show', '-r', image]).toString().trim();
    try {
      const r = await runHost(lab, 'lvm-pvc-snapshot.sh', ['prune']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`Logical volume pve/${busy} in use.`);
      const names = (await lvs(lab)).map((row) => row.name);
      expect(names).toContain(busy);
      expect(names).not.toContain(free);
    } finally {
      execFileSync('losetup', ['-d', loop]);
    }
  });
});

describe('lvm-pvc-snapshot restore', () => {
  async function snapshotted(label: string): Promise<{ lab: Lab; snap: string }> {
    const lab = await homelab(label);
    expect((await runHost(lab, 'lvm-pvc-snapshot.sh', ['snapshot'])).code).toBe(0);
    const snap = (await snapshots(lab)).find((s) => s.startsWith('vm-9999-pvc-aaaa'))!;
    return { lab, snap };
  }
  const image = (lab: Lab, lv: string) => fs.readFileSync(path.join(lab.lvm, 'vgs/pve/lvs', lv, 'image'));

  test('a dry run prints the plan and changes nothing', async () => {
    const { lab, snap } = await snapshotted('dry');
    const before = await lvs(lab);
    const r = await runHost(lab, 'lvm-pvc-snapshot.sh', ['restore', 'vm-9999-pvc-aaaa', snap, '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('scale Deployment/vaultwarden in vaultwarden from 1 to 0 replicas');
    expect(r.stderr).toContain('dry run: nothing changed');
    expect(await lvs(lab)).toEqual(before);
    expect(kubectlCalls(lab).filter((c) => c.includes(' scale '))).toEqual([]);
  });

  test('refuses without an explicit confirmation', async () => {
    const { lab, snap } = await snapshotted('confirm');
    const before = await lvs(lab);
    const r = await runHost(lab, 'lvm-pvc-snapshot.sh', ['restore', 'vm-9999-pvc-aaaa', snap]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('refusing to restore without confirmation');
    expect(await lvs(lab)).toEqual(before);
  });

  test('scales the workload down, swaps the volumes keeping the original, scales back up', async () => {
    const { lab, snap } = await snapshotted('restore');
    const snapshotBytes = image(lab, snap);
    // The live volume changes after the snapshot (the data loss being undone).
    const live = path.join(lab.lvm, 'vgs/pve/lvs/vm-9999-pvc-aaaa/image');
    fs.appendFileSync(live, Buffer.from('damage'));
    const liveBytes = fs.readFileSync(live);

    const r = await runHost(lab, 'lvm-pvc-snapshot.sh', ['restore', 'vm-9999-pvc-aaaa', snap, '--yes']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringContaining(`restored pve/vm-9999-pvc-aaaa from ${snap}`) });

    const rows = await lvs(lab);
    const restored = rows.find((row) => row.name === 'vm-9999-pvc-aaaa')!;
    const kept = rows.find((row) => row.name.startsWith('vm-9999-pvc-aaaa-prerestore-'))!;
    expect(image(lab, 'vm-9999-pvc-aaaa').equals(snapshotBytes)).toBe(true);
    expect(image(lab, kept.name).equals(liveBytes)).toBe(true);
    expect(kept.tags).toEqual(['backup_policy_prerestore']);
    // The restored volume activates like any disk and is no snapshot of ours; the snapshot stays.
    expect(restored.tags).toEqual([]);
    expect(restored.attr.endsWith('k')).toBe(false);
    expect(rows.map((row) => row.name)).toContain(snap);
    const scales = kubectlCalls(lab).filter((c) => c.includes(' scale '));
    expect(scales).toEqual([
      '--request-timeout=30s -n vaultwarden scale Deployment/vaultwarden --replicas=0',
      '--request-timeout=30s -n vaultwarden scale Deployment/vaultwarden --replicas=1',
    ]);

    // The next snapshot run protects the restored volume and ignores the pre-restore copy.
    await new Promise((res) => setTimeout(res, 1100));
    expect((await runHost(lab, 'lvm-pvc-snapshot.sh', ['snapshot'])).code).toBe(0);
    const origins = (await lvs(lab)).filter((row) => row.tags.includes('backup_policy_snapshot')).map((row) => row.name.replace(/-snap-.*/, ''));
    expect(origins.filter((o) => o.includes('prerestore'))).toEqual([]);
    expect(origins.filter((o) => o === 'vm-9999-pvc-aaaa').length).toBe(2);
  });

  test('finds StatefulSet pods through their claim template', async () => {
    const lab = await homelab('sts');
    setCluster(
      lab,
      [['vm-9999-pvc-bbbb', 'forgejo', 'data-forgejo-0']],
      [
        ['forgejo', 'StatefulSet/forgejo', 2, 'template:data'],
        ['forgejo', 'Deployment/forgejo-runner', 1, 'runner-cache'],
      ],
    );
    expect((await runHost(lab, 'lvm-pvc-snapshot.sh', ['snapshot'])).code).toBe(0);
    const snap = (await snapshots(lab)).find((s) => s.startsWith('vm-9999-pvc-bbbb'))!;
    const r = await runHost(lab, 'lvm-pvc-snapshot.sh', ['restore', 'vm-9999-pvc-bbbb', snap, '--dry-run']);
    expect(r.stderr).toContain('scale StatefulSet/forgejo in forgejo from 2 to 0 replicas');
    expect(r.stderr).not.toContain('forgejo-runner');
  });

  test('gives up, scales back and changes nothing while the volume stays open', async () => {
    const { lab, snap } = await snapshotted('inuse');
    const loop = execFileSync('losetup', ['-f', '--show', '-r', path.join(lab.lvm, 'vgs/pve/lvs/vm-9999-pvc-aaaa/image')]).toString().trim();
    try {
      const before = (await lvs(lab)).map((row) => row.name);
      const r = await runHost(lab, 'lvm-pvc-snapshot.sh', ['restore', 'vm-9999-pvc-aaaa', snap, '--yes'], { env: { RESTORE_WAIT_SECONDS: '3' } });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('to be closed (detached from its VM)');
      expect((await lvs(lab)).map((row) => row.name)).toEqual(before);
      expect(kubectlCalls(lab).filter((c) => c.includes(' scale ')).map((c) => c.split(' ').pop())).toEqual(['--replicas=0', '--replicas=1']);
    } finally {
      execFileSync('losetup', ['-d', loop]);
    }
  });

  test('refuses a snapshot of another volume, or a volume that is not a PVC volume', async () => {
    const { lab, snap } = await snapshotted('wrong');
    const other = await runHost(lab, 'lvm-pvc-snapshot.sh', ['restore', 'vm-9999-pvc-bbbb', snap, '--yes']);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(`${snap} is not a snapshot of vm-9999-pvc-bbbb`);
    const self = await runHost(lab, 'lvm-pvc-snapshot.sh', ['restore', snap, snap, '--yes']);
    expect(self.code).toBe(1);
  });
});
