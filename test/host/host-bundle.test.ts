/** The plain host bundle (for hosts not deployed by Terraform) and its install.sh. */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { planPolicy } from '../../policy/plan/plan';
import { renderHostBundle } from '../../policy/render/host-bundle';
import { writeHostBundle } from '../../policy/io/write-bundle';
import { readScript, scriptsDir } from '../../policy/io/scripts';
import { homelabPolicy } from '../../stacks/homelab-policy';

const plan = planPolicy(homelabPolicy).host!;
const dirs: string[] = [];
const tmp = (label: string) => {
  const d = fs.mkdtempSync(`/tmp/bp-host-${label}-`);
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const mode = (p: string) => (fs.statSync(p).mode & 0o777).toString(8);
const install = (bundle: string, root: string) => execFileSync('bash', [path.join(bundle, 'install.sh'), '--root', root]).toString();

describe('the host bundle', () => {
  test('holds every script byte for byte, host.env, every unit, MANIFEST and install.sh', () => {
    const dir = path.join(tmp('bundle'), 'out');
    const names = writeHostBundle(dir, renderHostBundle(plan, readScript));
    expect(fs.readdirSync(dir).sort()).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining(['install.sh', 'MANIFEST', 'host.env', 'backup-lib.sh', 'sqlite-lib.sh', 'host-lib.sh', 'lvm-pvc-snapshot.sh', 'daily-backup.sh', 'offsite-sync-backup.sh', 'nfs-change-tracker.sh', 'daily-backup.timer', 'nfs-change-tracker.service']));
    for (const script of plan.scripts) {
      expect({ script, same: fs.readFileSync(path.join(dir, script)).equals(fs.readFileSync(path.join(scriptsDir(), script))), mode: mode(path.join(dir, script)) }).toEqual({ script, same: true, mode: '755' });
    }
    expect(fs.readFileSync(path.join(dir, 'install.sh'), 'utf8')).toBe(fs.readFileSync(path.join(scriptsDir(), 'host-install.sh'), 'utf8'));
    expect(mode(path.join(dir, 'daily-backup.timer'))).toBe('644');
  });

  test('is only written into an empty folder (a stale file could be installed)', () => {
    const dir = tmp('stale');
    fs.writeFileSync(path.join(dir, 'old-job.sh'), '');
    expect(() => writeHostBundle(dir, renderHostBundle(plan, readScript))).toThrow(/is not empty/);
  });

  test('install.sh puts each file where MANIFEST says, with its mode, and the commands on PATH', () => {
    const bundle = path.join(tmp('inst'), 'b');
    writeHostBundle(bundle, renderHostBundle(plan, readScript));
    const root = tmp('root');
    const out = install(bundle, root);
    expect(out).toContain('installed /usr/local/lib/backup-policy/daily-backup.sh');
    expect(out).toContain('systemd left alone');
    expect(mode(`${root}/usr/local/lib/backup-policy/lvm-pvc-snapshot.sh`)).toBe('755');
    expect(mode(`${root}/etc/systemd/system/offsite-sync-backup.timer`)).toBe('644');
    expect(fs.readFileSync(`${root}/etc/backup-policy/host.env`, 'utf8')).toContain('LVM_VG=pve\n');
    expect(fs.readlinkSync(`${root}/usr/local/bin/lvm-pvc-snapshot`)).toBe('/usr/local/lib/backup-policy/lvm-pvc-snapshot.sh');
    // The restore command the runbook and `backup-policy host-restore` print, beside the jobs.
    expect(fs.readlinkSync(`${root}/usr/local/bin/host-restore`)).toBe('/usr/local/lib/backup-policy/host-restore.sh');
    expect(mode(`${root}/usr/local/lib/backup-policy/host-restore.sh`)).toBe('755');

    // A second install changes nothing; a changed file is replaced by rename, never rewritten in
    // place (a running job keeps reading its old script).
    expect(install(bundle, root)).not.toMatch(/installed \//);
    const before = fs.statSync(`${root}/usr/local/lib/backup-policy/daily-backup.sh`).ino;
    fs.appendFileSync(path.join(bundle, 'daily-backup.sh'), '\n# changed\n');
    const again = install(bundle, root);
    expect(again.match(/installed \/\S+/g)).toEqual(['installed /usr/local/lib/backup-policy/daily-backup.sh']);
    expect(fs.statSync(`${root}/usr/local/lib/backup-policy/daily-backup.sh`).ino).not.toBe(before);
  });

  test('install.sh refuses a MANIFEST that would write outside absolute, plain paths', () => {
    for (const line of ['file 0755 ../etc/passwd backup-lib.sh', 'file 0755 /usr/local/../../etc/x backup-lib.sh', 'file 0755 relative/path backup-lib.sh', 'file 4755 /usr/local/bin/x backup-lib.sh', 'timer bad;name']) {
      const bundle = path.join(tmp('evil'), 'b');
      writeHostBundle(bundle, renderHostBundle(plan, readScript));
      fs.writeFileSync(path.join(bundle, 'MANIFEST'), `${line}\n`);
      const root = tmp('evilroot');
      const r = spawnSync('bash', [path.join(bundle, 'install.sh'), '--root', root]);
      expect({ line, code: r.status, stderr: r.stderr.toString() }).toEqual({ line, code: 1, stderr: expect.stringContaining('MANIFEST line 1') });
      expect(fs.readdirSync(root)).toEqual([]);
    }
  });

  test('the CLI writes the bundle of the bundled policy', () => {
    const dir = path.join(tmp('cli'), 'bundle');
    const root = path.resolve(__dirname, '../..');
    const out = execFileSync(process.execPath, [path.join(root, 'dist/cli/main.js'), 'host-bundle', '--out', dir], { cwd: root }).toString();
    expect(out).toContain(`install on the host with: bash ${dir}/install.sh`);
    expect(fs.readFileSync(path.join(dir, 'MANIFEST'), 'utf8')).toBe(renderHostBundle(plan, readScript).find((f) => f.name === 'MANIFEST')!.content);
    const again = spawnSync(process.execPath, [path.join(root, 'dist/cli/main.js'), 'host-bundle', '--out', dir], { cwd: root });
    expect([again.status, again.stderr.toString()]).toEqual([2, expect.stringContaining('is not empty')]);
  });
});
