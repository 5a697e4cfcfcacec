/**
 * install.sh as it runs on the host: into / (through host-overlay.sh, so the real root=/ code path
 * runs while this machine's /etc, /usr/local and /var stay untouched) with the systemctl test
 * double on PATH (systemd is not PID 1 here), and under --root. Each behaviour of issue 13's point
 * 6: copies of replaced files, dry run, uninstall, root and tool checks, a quiet second run, usage.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeHostBundle } from '../../policy/io/write-bundle';
import { readScript } from '../../policy/io/scripts';
import { HOST_STATE_DIR } from '../../policy/plan/host-plan';
import { planPolicy } from '../../policy/plan/plan';
import { renderHostBundle } from '../../policy/render/host-bundle';
import type { HostInput } from '../../policy/schema/host';
import { samplePolicy } from '../support/policies';
import { run } from '../support/servers';
import { labHost } from './host-lab';

const OVERLAY = path.join(__dirname, 'host-overlay.sh');
const FAKES = path.join(__dirname, 'fakes');
const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const dirs: string[] = [];
function tmp(label: string, parent = '/tmp'): string {
  const d = fs.mkdtempSync(`${parent}/bp-install-${label}-`);
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A host whose data paths (backup disk, NFS trees, NAS, change log) all lie inside `data`. */
interface Host {
  /** Overlay layer: everything install.sh writes under /etc, /usr/local, /var lands in layer/upper. */
  layer: string;
  /** The systemctl double's state: enabled/, active/, loaded/, calls.log. */
  systemd: string;
  data: string;
  bundle: string;
  host: HostInput;
}

function bundleFor(host: HostInput, edit: (content: Map<string, string>) => void = () => undefined): string {
  const dir = path.join(tmp('bundle'), 'b');
  const files = renderHostBundle(planPolicy({ ...samplePolicy(), host }).host!, readScript);
  const content = new Map(files.map((f) => [f.name, f.content]));
  edit(content);
  writeHostBundle(dir, files.map((f) => ({ ...f, content: content.get(f.name)! })));
  return dir;
}

function makeHost(): Host {
  const data = tmp('data');
  const host = labHost(data);
  for (const d of ['backup/daily/2026-W48', 'nfs/app', 'nfs-ssd/db', 'nas/pve-backup']) fs.mkdirSync(path.join(data, d), { recursive: true });
  fs.writeFileSync(path.join(data, 'backup/daily/2026-W48/pve.tar'), 'weekly copy');
  fs.writeFileSync(path.join(data, 'backup/.nfs-changes.log'), '/nfs/app/a\n');
  fs.writeFileSync(path.join(data, 'nfs/app/a'), 'app data');
  fs.writeFileSync(path.join(data, 'nfs-ssd/db/b'), 'db data');
  const systemd = tmp('systemd');
  // On tmpfs: overlayfs refuses an upper layer on overlayfs, which /tmp is in many containers.
  return { layer: tmp('layer', '/dev/shm'), systemd, data, bundle: bundleFor(host), host };
}

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command as root on the overlaid host, with a clean environment and the systemctl double. */
function onHost(h: Host, argv: string[], pathDirs = [FAKES, BASE_PATH]): Result {
  const r = spawnSync('bash', [OVERLAY, h.layer, ...argv], { env: { PATH: pathDirs.join(':'), SYSTEMCTL_FAKE_DIR: h.systemd }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const installSh = (h: Host, ...args: string[]) => onHost(h, ['bash', path.join(h.bundle, 'install.sh'), ...args]);
const existsOnHost = (h: Host, p: string) => onHost(h, ['test', '-e', p]).code === 0 || onHost(h, ['test', '-L', p]).code === 0;
const readOnHost = (h: Host, p: string) => onHost(h, ['cat', p]).stdout;

function systemdState(h: Host): Record<string, string[]> {
  const list = (d: string) => (fs.existsSync(path.join(h.systemd, d)) ? fs.readdirSync(path.join(h.systemd, d)).sort() : []);
  return { enabled: list('enabled'), active: list('active'), loaded: list('loaded') };
}
const calls = (h: Host) => (fs.existsSync(path.join(h.systemd, 'calls.log')) ? fs.readFileSync(path.join(h.systemd, 'calls.log'), 'utf8').trim().split('\n') : []);
/** The calls that change something (is-enabled and is-active only ask). */
const changingCalls = (lines: string[]) => lines.filter((l) => !/^is-(enabled|active) /.test(l));

/** Every entry under `dir`: type, mode, mtime, inode and content hash (or link target, device). */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  for (const rel of (fs.readdirSync(dir, { recursive: true }) as string[]).sort()) {
    const p = path.join(dir, rel);
    const s = fs.lstatSync(p);
    const what = s.isSymbolicLink()
      ? `link ${fs.readlinkSync(p)}`
      : s.isFile()
        ? `file ${createHash('sha256').update(fs.readFileSync(p)).digest('hex')}`
        : s.isCharacterDevice()
          ? `char ${s.rdev}`
          : 'dir';
    out[rel] = `${what} mode=${(s.mode & 0o7777).toString(8)} mtime=${s.mtimeMs} ino=${s.ino}`;
  }
  return out;
}
const upper = (h: Host) => path.join(h.layer, 'upper');

const plan = (host: HostInput) => planPolicy({ ...samplePolicy(), host }).host!;

describe('install.sh usage', () => {
  const bundle = bundleFor(labHost('/tmp/unused'));
  const sh = (...args: string[]) => spawnSync('bash', [path.join(bundle, 'install.sh'), ...args], { encoding: 'utf8' });

  test('--help prints the usage and exits 0', () => {
    const r = sh('--help');
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^usage: install\.sh \[--dry-run\] \[--uninstall\] \[--root DIR\]/);
    for (const option of ['--dry-run', '--uninstall', '--root DIR', '--help']) expect(r.stdout).toContain(`  ${option}`);
  });

  test('an unknown flag or a --root without its folder is a usage error (64), with the usage on stderr', () => {
    for (const args of [['--force'], ['--dry-run', '--bogus'], ['--root'], ['extra']]) {
      const r = sh(...args);
      expect({ args, code: r.status, stdout: r.stdout }).toEqual({ args, code: 64, stdout: '' });
      expect(r.stderr).toMatch(/^install\.sh: .*\nusage: install\.sh/);
    }
  });
});

describe('install.sh preflight', () => {
  test('refuses to install into / unless it runs as root, but previews (--dry-run) without root', () => {
    const h = makeHost();
    // The unprivileged user must be able to read the bundle and its mkdtemp (0700) parents.
    for (let d = h.bundle; d !== '/tmp'; d = path.dirname(d)) fs.chmodSync(d, 0o755);
    fs.chmodSync(h.systemd, 0o777);
    const asNobody = (...args: string[]) =>
      spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', path.join(h.bundle, 'install.sh'), ...args], {
        env: { PATH: `${FAKES}:${BASE_PATH}`, SYSTEMCTL_FAKE_DIR: h.systemd },
        encoding: 'utf8',
      });
    const refused = asNobody();
    expect([refused.status, refused.stdout]).toEqual([1, '']);
    expect(refused.stderr).toBe('install.sh: must run as root: it changes files under / and systemd units (--dry-run previews without root; --root DIR works in a folder)\n');
    const preview = asNobody('--dry-run');
    expect(preview.status).toBe(0);
    expect(preview.stdout).toContain(`new       ${plan(h.host).configPath}\n`);
    expect(preview.stdout).toMatch(/would enable daily-backup\.timer\n/);
    expect(changingCalls(calls(h))).toEqual([]);
  });

  test('names each missing tool on its own line and changes nothing', () => {
    const h = makeHost();
    // A PATH holding every tool install.sh could use except cmp and systemctl.
    const bin = tmp('bin');
    for (const tool of ['cp', 'date', 'dirname', 'install', 'ln', 'mkdir', 'mv', 'readlink', 'rm', 'rmdir', 'stat', 'cat']) {
      fs.symlinkSync(spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim(), path.join(bin, tool));
    }
    const r = onHost(h, ['env', `PATH=${bin}`, '/bin/bash', path.join(h.bundle, 'install.sh')]);
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: "install.sh: needs 'cmp', which is not on PATH\ninstall.sh: needs 'systemctl', which is not on PATH\n",
    });
    expect(tree(upper(h))).toEqual({ etc: expect.any(String), usr: expect.any(String), 'usr/local': expect.any(String), var: expect.any(String) });
  });

  test('refuses a directory where MANIFEST puts a file, before touching anything', () => {
    const h = makeHost();
    const config = plan(h.host).configPath;
    expect(onHost(h, ['mkdir', '-p', `${config}/oops`]).code).toBe(0);
    const before = tree(upper(h));
    const r = installSh(h);
    expect([r.code, r.stdout, r.stderr]).toEqual([1, '', `install.sh: ${config} is a directory; refusing to replace or remove it\n`]);
    expect(tree(upper(h))).toEqual(before);
    expect(calls(h)).toEqual([]);
  });
});

describe('install.sh on a host', () => {
  test('installs every file, reloads systemd before enabling and starting the timers and the tracker', () => {
    const h = makeHost();
    const p = plan(h.host);
    const r = installSh(h);
    expect([r.code, r.stderr]).toEqual([0, '']);
    for (const script of p.scripts) expect(readOnHost(h, `${p.installDir}/${script}`)).toBe(readScript(script));
    expect(readOnHost(h, p.configPath)).toContain(`BACKUP_DISK=${h.data}/backup`);
    const timers = p.jobs.map((j) => `${j.name}.timer`);
    const tracker = `${p.tracker.name}.service`;
    expect(systemdState(h).enabled).toEqual([...timers, tracker].sort());
    expect(systemdState(h).active).toEqual([...timers, tracker].sort());
    const changing = changingCalls(calls(h));
    expect(changing[0]).toBe('daemon-reload');
    expect(changing.filter((c) => c.startsWith('stale'))).toEqual([]);
    expect(r.stdout).toContain(`enabled daily-backup.timer\nstarted daily-backup.timer\n`);
    expect(r.stdout).not.toContain('nothing changed');
  });

  test('a second run with the same bundle changes nothing, leaves every mtime alone and says so', () => {
    const h = makeHost();
    expect(installSh(h).code).toBe(0);
    const before = tree(upper(h));
    const state = systemdState(h);
    const callsBefore = calls(h).length;
    const r = installSh(h);
    expect(r).toEqual({ code: 0, stdout: 'nothing changed\n', stderr: '' });
    expect(tree(upper(h))).toEqual(before);
    expect(systemdState(h)).toEqual(state);
    expect(changingCalls(calls(h).slice(callsBefore))).toEqual([]);
    expect(existsOnHost(h, `${HOST_STATE_DIR}/install-backups`)).toBe(false);
  });

  test('a replaced file is kept in the state folder; the tracker restarts only for its own files', () => {
    const h = makeHost();
    const p = plan(h.host);
    expect(installSh(h).code).toBe(0);
    // An operator's own edit, and a command of theirs where the bundle puts a link.
    const edited = `${readOnHost(h, p.configPath)}# tuned by hand\n`;
    expect(onHost(h, ['bash', '-c', `printf '%s' "$1" >${p.configPath}`, '_', edited]).code).toBe(0);
    expect(onHost(h, ['bash', '-c', `rm /usr/local/bin/daily-backup && echo 'my own' >/usr/local/bin/daily-backup`]).code).toBe(0);
    const callsBefore = calls(h).length;

    const r = installSh(h);
    expect(r.code).toBe(0);
    const copies = onHost(h, ['ls', `${HOST_STATE_DIR}/install-backups`]).stdout.trim().split('\n');
    expect(copies).toEqual([expect.stringMatching(/^\d{8}T\d{6}Z$/)]);
    const copy = `${HOST_STATE_DIR}/install-backups/${copies[0]}`;
    expect(readOnHost(h, `${copy}${p.configPath}`)).toBe(edited);
    expect(readOnHost(h, `${copy}/usr/local/bin/daily-backup`)).toBe('my own\n');
    expect(onHost(h, ['stat', '-c', '%a', copy]).stdout).toBe('700\n');
    expect(readOnHost(h, p.configPath)).not.toContain('# tuned by hand');
    expect(r.stdout).toContain(`installed ${p.configPath} (the old one is kept in ${copy})\n`);
    // host.env is one of the tracker's files; no unit file changed, so no reload.
    expect(changingCalls(calls(h).slice(callsBefore))).toEqual([`restart -- ${p.tracker.name}.service`]);

    // A changed timer unit: reload first, so the manager never runs the stale definition.
    const h2 = { ...h, bundle: bundleFor(h.host, (c) => c.set('daily-backup.timer', `${c.get('daily-backup.timer')}# changed\n`)) };
    const before2 = calls(h).length;
    const r2 = installSh(h2);
    expect(r2.stdout).toContain('installed /etc/systemd/system/daily-backup.timer (the old one is kept in');
    expect(changingCalls(calls(h).slice(before2))).toEqual(['daemon-reload']);
    expect(onHost(h, ['ls', `${HOST_STATE_DIR}/install-backups`]).stdout.trim().split('\n').length).toBe(2);
  });

  test('--dry-run says new/changed/unchanged per file and which units it would touch, and changes nothing', () => {
    const h = makeHost();
    const p = plan(h.host);
    const fresh = installSh(h, '--dry-run');
    expect(fresh.code).toBe(0);
    expect(fresh.stdout).toContain(`new       ${p.installDir}/daily-backup.sh\n`);
    expect(fresh.stdout).toContain(`new       /usr/local/bin/daily-backup -> ${p.installDir}/daily-backup.sh\n`);
    expect(fresh.stdout).toContain('would reload systemd (unit files changed)\nwould enable lvm-pvc-snapshot.timer\nwould start lvm-pvc-snapshot.timer\n');
    expect(fresh.stdout).toMatch(/dry run: nothing was changed\n$/);
    expect(tree(upper(h))).toEqual({ etc: expect.any(String), usr: expect.any(String), 'usr/local': expect.any(String), var: expect.any(String) });

    expect(installSh(h).code).toBe(0);
    const h2 = { ...h, bundle: bundleFor({ ...h.host, snapshots: { ...h.host.snapshots!, retention: '10d' } }) };
    const before = tree(upper(h));
    const state = systemdState(h);
    const callsBefore = calls(h).length;
    const r = installSh(h2, '--dry-run');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`changed   ${p.configPath}\n`);
    expect(r.stdout).toContain(`unchanged ${p.installDir}/daily-backup.sh\n`);
    expect(r.stdout).toContain(`would restart ${p.tracker.name}.service (its files changed)\n`);
    expect(r.stdout).not.toMatch(/would (enable|start|reload)/);
    expect(tree(upper(h))).toEqual(before);
    expect(systemdState(h)).toEqual(state);
    expect(changingCalls(calls(h).slice(callsBefore))).toEqual([]);
  });

  test('--uninstall stops and disables the units, removes what MANIFEST installed, never data or state', () => {
    const h = makeHost();
    const p = plan(h.host);
    expect(installSh(h).code).toBe(0);
    // State the jobs wrote, and a file of the operator's beside the configuration.
    expect(onHost(h, ['bash', '-c', `mkdir -p ${HOST_STATE_DIR} && echo ok >${HOST_STATE_DIR}/daily-backup.last && echo key >/etc/backup-policy/nas_id`]).code).toBe(0);
    const data = tree(h.data);

    const dry = installSh(h, '--uninstall', '--dry-run');
    expect(dry.stdout).toContain(`would stop and disable ${p.tracker.name}.service\n`);
    expect(dry.stdout).toContain(`would remove ${p.configPath}\n`);
    expect(existsOnHost(h, p.configPath)).toBe(true);

    const r = installSh(h, '--uninstall');
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(systemdState(h).enabled).toEqual([]);
    expect(systemdState(h).active).toEqual([]);
    for (const file of [...p.scripts.map((s) => `${p.installDir}/${s}`), p.configPath, '/etc/systemd/system/daily-backup.timer', '/usr/local/bin/daily-backup']) {
      expect({ file, exists: existsOnHost(h, file) }).toEqual({ file, exists: false });
    }
    expect(existsOnHost(h, p.installDir)).toBe(false);
    expect(tree(h.data)).toEqual(data);
    expect(readOnHost(h, `${HOST_STATE_DIR}/daily-backup.last`)).toBe('ok\n');
    expect(readOnHost(h, '/etc/backup-policy/nas_id')).toBe('key\n');
    const [copy] = onHost(h, ['ls', `${HOST_STATE_DIR}/install-backups`]).stdout.trim().split('\n');
    expect(readOnHost(h, `${HOST_STATE_DIR}/install-backups/${copy}${p.configPath}`)).toBe(fs.readFileSync(path.join(h.bundle, 'host.env'), 'utf8'));
    expect(changingCalls(calls(h)).at(-1)).toBe('daemon-reload');

    expect(existsOnHost(h, `${HOST_STATE_DIR}/installed-MANIFEST`)).toBe(false);
    expect(installSh(h, '--uninstall')).toEqual({ code: 0, stdout: 'nothing to uninstall\n', stderr: '' });
  });

  test('records what it installed; a moved installDir leaves no old script behind', () => {
    const h = makeHost();
    const p = plan(h.host);
    expect(installSh(h).code).toBe(0);
    expect(readOnHost(h, `${HOST_STATE_DIR}/installed-MANIFEST`)).toBe(fs.readFileSync(path.join(h.bundle, 'MANIFEST'), 'utf8'));
    const movedHost = { ...h.host, installDir: '/usr/local/libexec/backup-policy' };
    const moved = { ...h, bundle: bundleFor(movedHost) };

    const before = tree(upper(h));
    const dry = installSh(moved, '--dry-run');
    expect(dry.stdout).toContain(`would remove ${p.installDir}/daily-backup.sh (no longer in the bundle)\n`);
    expect(dry.stdout).toContain('new       /usr/local/libexec/backup-policy/daily-backup.sh\n');
    expect(tree(upper(h))).toEqual(before);

    const callsBefore = calls(h).length;
    const r = installSh(moved);
    expect([r.code, r.stderr]).toEqual([0, '']);
    for (const script of p.scripts) {
      expect({ script, old: existsOnHost(h, `${p.installDir}/${script}`), new: readOnHost(h, `/usr/local/libexec/backup-policy/${script}`) === readScript(script) }).toEqual({ script, old: false, new: true });
    }
    expect(existsOnHost(h, p.installDir)).toBe(false);
    expect(onHost(h, ['readlink', '/usr/local/bin/daily-backup']).stdout).toBe('/usr/local/libexec/backup-policy/daily-backup.sh\n');
    const [copy] = onHost(h, ['ls', `${HOST_STATE_DIR}/install-backups`]).stdout.trim().split('\n');
    expect(readOnHost(h, `${HOST_STATE_DIR}/install-backups/${copy}${p.installDir}/daily-backup.sh`)).toBe(readScript('daily-backup.sh'));
    // The units now name the new paths: reload, then restart the running tracker.
    expect(changingCalls(calls(h).slice(callsBefore))).toEqual(['daemon-reload', `restart -- ${p.tracker.name}.service`]);
    expect(readOnHost(h, `${HOST_STATE_DIR}/installed-MANIFEST`)).toBe(fs.readFileSync(path.join(moved.bundle, 'MANIFEST'), 'utf8'));
  });

  test('a unit the bundle no longer lists is stopped, disabled and removed', () => {
    const h = makeHost();
    const withOldJob = { ...h, bundle: bundleFor(h.host) };
    fs.writeFileSync(path.join(withOldJob.bundle, 'old-job.timer'), '[Timer]\nOnCalendar=daily\n');
    fs.appendFileSync(path.join(withOldJob.bundle, 'MANIFEST'), 'file 0644 /etc/systemd/system/old-job.timer old-job.timer\ntimer old-job.timer\n');
    expect(installSh(withOldJob).code).toBe(0);
    expect(systemdState(h).active).toContain('old-job.timer');

    const callsBefore = calls(h).length;
    const r = installSh(h);
    expect(r.stdout).toBe(
      'stopped and disabled old-job.timer\n' +
        `removed /etc/systemd/system/old-job.timer (no longer in the bundle) (a copy is kept in ${HOST_STATE_DIR}/install-backups/${onHost(h, ['ls', `${HOST_STATE_DIR}/install-backups`]).stdout.trim()})\n` +
        'reloaded systemd (unit files changed)\n',
    );
    expect(systemdState(h).enabled).not.toContain('old-job.timer');
    expect(systemdState(h).active).not.toContain('old-job.timer');
    expect(existsOnHost(h, '/etc/systemd/system/old-job.timer')).toBe(false);
    expect(changingCalls(calls(h).slice(callsBefore))).toEqual(['disable --now --quiet -- old-job.timer', 'daemon-reload']);
  });

  test('--uninstall from a newer bundle also removes what the recorded older install put there', () => {
    const h = makeHost();
    const p = plan(h.host);
    expect(installSh(h).code).toBe(0);
    const newer = { ...h, bundle: bundleFor({ ...h.host, installDir: '/usr/local/libexec/backup-policy' }) };
    expect(installSh(newer, '--uninstall').code).toBe(0);
    for (const file of [`${p.installDir}/daily-backup.sh`, '/usr/local/bin/daily-backup', p.configPath, '/etc/systemd/system/daily-backup.timer']) {
      expect({ file, exists: existsOnHost(h, file) }).toEqual({ file, exists: false });
    }
    expect(systemdState(h).enabled).toEqual([]);
  });

  test('--uninstall leaves a command alone that is not the link it installed', () => {
    const h = makeHost();
    expect(installSh(h).code).toBe(0);
    expect(onHost(h, ['bash', '-c', 'ln -sfn /opt/mine /usr/local/bin/daily-backup']).code).toBe(0);
    const r = installSh(h, '--uninstall');
    expect(r.stdout).toContain('left /usr/local/bin/daily-backup alone: it is not the link this bundle installed\n');
    expect(onHost(h, ['readlink', '/usr/local/bin/daily-backup']).stdout).toBe('/opt/mine\n');
  });
});

describe('install.sh --root', () => {
  const host = labHost('/tmp/unused');
  const sh = (bundle: string, ...args: string[]) => spawnSync('bash', [path.join(bundle, 'install.sh'), ...args], { encoding: 'utf8', env: { PATH: BASE_PATH } });

  test('keeps a copy of a replaced file, previews without writing, and a second run changes nothing', () => {
    const root = tmp('root');
    const bundle = bundleFor(host);
    expect(sh(bundle, '--root', root).status).toBe(0);
    const installed = tree(root);
    expect(sh(bundle, '--root', root).stdout).toBe(`nothing changed under ${root}; systemd left alone\n`);
    expect(tree(root)).toEqual(installed);

    const changed = bundleFor(host, (c) => c.set('daily-backup.sh', `${c.get('daily-backup.sh')}\n# changed\n`));
    const dry = sh(changed, '--root', root, '--dry-run');
    expect(dry.stdout).toContain('changed   /usr/local/lib/backup-policy/daily-backup.sh\n');
    expect(dry.stdout).toMatch(/dry run under .*: nothing was changed; systemd left alone\n$/);
    expect(tree(root)).toEqual(installed);

    expect(sh(changed, '--root', root).status).toBe(0);
    const [copy] = fs.readdirSync(path.join(root, HOST_STATE_DIR, 'install-backups'));
    expect(fs.readFileSync(path.join(root, HOST_STATE_DIR, 'install-backups', copy, 'usr/local/lib/backup-policy/daily-backup.sh'), 'utf8')).toBe(readScript('daily-backup.sh'));
  });
});

test('the systemctl double and the overlay runner are shellcheck-clean', async () => {
  const r = await run('shellcheck', ['-x', '--severity=style', '--format=gcc', path.join(FAKES, 'systemctl'), OVERLAY]);
  expect(r.stdout + r.stderr).toBe('');
  expect(r.code).toBe(0);
});
