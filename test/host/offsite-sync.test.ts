/**
 * offsite-sync-backup and nfs-change-tracker with real rsync, inotifywait and SSH: the NAS is a
 * temp dir behind an sshd on 127.0.0.1 with a throwaway key, checked against a known_hosts file.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Pushgateway, runOk, startPushgateway, waitUntil } from '../support/servers';
import { LIB_PATH, SCRIPTS_DIR, processTree, type RunningScript } from '../support/run-script';
import { Lab, Sshd, labHost, makeLab, removeLab, runHost, startHost, startSshd, writeConfig } from './host-lab';

let pgw: Pushgateway;
let sshd: Sshd;
const labs: Lab[] = [];
const trackers: RunningScript[] = [];

beforeAll(async () => {
  pgw = await startPushgateway();
  sshd = await startSshd(fs.mkdtempSync('/tmp/bp-host-nas-'));
});
afterAll(async () => {
  for (const t of trackers) await stopTracker(t);
  for (const lab of labs) removeLab(lab);
  await sshd.stop();
  await pgw.stop();
});

function nasLab(label: string, port = sshd.port): Lab {
  const lab = makeLab(label);
  labs.push(lab);
  configure(lab, port);
  return lab;
}

function configure(lab: Lab, port: number): void {
  const host = labHost(lab.root, { pushgateway: { url: pgw.url } });
  host.offsite.nas = { host: '127.0.0.1', port, identityFile: sshd.identityFile, knownHostsFile: sshd.knownHostsFile };
  writeConfig(lab, host);
}

/** Every file and directory under `dir` with its content ("<dir>" for directories), sorted. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of (fs.readdirSync(dir, { recursive: true }) as string[]).sort()) {
    const p = path.join(dir, rel);
    out[rel] = fs.lstatSync(p).isDirectory() ? '<dir>' : fs.readFileSync(p, 'utf8');
  }
  return out;
}

function write(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

async function startTracker(lab: Lab): Promise<RunningScript> {
  const t = startHost(lab, 'nfs-change-tracker.sh', [], { timeoutMs: 170000 });
  trackers.push(t);
  let err = '';
  t.child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await waitUntil(() => err.includes('Watches established.'), 20000, 'the tracker watching');
  return t;
}

async function stopTracker(t: RunningScript): Promise<void> {
  if (t.child.exitCode !== null || t.child.signalCode !== null) return;
  try {
    process.kill(-t.child.pid!, 'SIGTERM');
  } catch {
    // Gone already.
  }
  await t.result;
}

/** The change log's paths (NUL-separated). */
function logged(lab: Lab): string[] {
  const file = path.join(lab.backup, '.nfs-changes.log');
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\0').filter(Boolean) : [];
}

const sync = (lab: Lab, opts: Parameters<typeof runHost>[3] = {}) => runHost(lab, 'offsite-sync-backup.sh', [], opts);

async function syncOk(lab: Lab): Promise<string> {
  const r = await sync(lab);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('finished successfully') });
  return r.stderr;
}

describe('offsite-sync-backup step 1: the backup disk', () => {
  test('mirrors it with hard links preserved, keeps rotated-out weeks, skips work files', async () => {
    const lab = nasLab('disk');
    const b = lab.backup;
    write(`${b}/pvc-data/2026-14/apps/app-data/photo.jpg`, 'jpeg bytes');
    fs.mkdirSync(`${b}/pvc-data/2026-15/apps/app-data`, { recursive: true });
    fs.linkSync(`${b}/pvc-data/2026-14/apps/app-data/photo.jpg`, `${b}/pvc-data/2026-15/apps/app-data/photo.jpg`);
    write(`${b}/pvc-data/2026-15/apps/app-data/changed.txt`, 'new');
    write(`${b}/pvc-data/2026-15/apps/.tmp.app-data.x1/half.txt`, 'work in progress');
    write(`${b}/sqlite-backup/apps/app-data/db.sqlite3/sqlite_20260413T050000Z.sqlite3`, 'db');
    write(`${b}/.lock-files`, '');
    write(`${b}/.nfs-changes.log`, '');
    await syncOk(lab);
    const nas = path.join(lab.root, 'nas/pve-backup');
    const a = fs.statSync(`${nas}/pvc-data/2026-14/apps/app-data/photo.jpg`);
    const c = fs.statSync(`${nas}/pvc-data/2026-15/apps/app-data/photo.jpg`);
    expect([a.ino === c.ino, a.nlink]).toEqual([true, 2]);
    expect(fs.existsSync(`${nas}/pvc-data/2026-15/apps/.tmp.app-data.x1`)).toBe(false);
    expect(fs.existsSync(`${nas}/.lock-files`)).toBe(false);
    expect(fs.existsSync(`${nas}/.nfs-changes.log`)).toBe(false);
    expect(fs.readFileSync(`${nas}/sqlite-backup/apps/app-data/db.sqlite3/sqlite_20260413T050000Z.sqlite3`, 'utf8')).toBe('db');
    const group = await pgw.group('offsite-sync-backup', 'sync');
    expect(group.get('backup_last_run_success')?.labels).toEqual(expect.objectContaining({ runner: 'host', engine: 'rsync' }));
    expect(group.get('backup_disk_usage_percent')?.value).toBeGreaterThan(0);

    // The disk rotates week 14 out and a file disappears from week 15: the NAS keeps the whole
    // old week (offsite holds more than four weeks) but mirrors the week that still exists.
    fs.rmSync(`${b}/pvc-data/2026-14`, { recursive: true });
    fs.rmSync(`${b}/pvc-data/2026-15/apps/app-data/changed.txt`);
    await syncOk(lab);
    expect(fs.existsSync(`${nas}/pvc-data/2026-14/apps/app-data/photo.jpg`)).toBe(true);
    expect(fs.existsSync(`${nas}/pvc-data/2026-15/apps/app-data/changed.txt`)).toBe(false);
  });

  test('refuses to mirror a backup disk that is not mounted (it would empty the NAS copy)', async () => {
    const lab = nasLab('unmounted');
    execFileSync('umount', [lab.backup]);
    const r = await sync(lab);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('not mirroring it');
    expect(fs.existsSync(path.join(lab.root, 'nas/pve-backup'))).toBe(false);
  });
});

describe('offsite-sync-backup step 2: the NFS trees from the change log', () => {
  test('deletes and renames reach the NAS, and only logged paths are synced', async () => {
    const lab = nasLab('incremental');
    const nfs = path.join(lab.root, 'nfs');
    const ssd = path.join(lab.root, 'nfs-ssd');
    write(`${nfs}/immich/upload/a.jpg`, 'a');
    write(`${nfs}/immich/upload/b.jpg`, 'b');
    write(`${nfs}/music/album/01.flac`, 'track 1');
    write(`${nfs}/music/album/02.flac`, 'track 2');
    write(`${ssd}/servarr/config.xml`, '<config/>');
    const tracker = await startTracker(lab);
    // The tracker just started: events before its watches are unknown, so the first sync is full.
    expect(await syncOk(lab)).toContain('full sync: the tracker lost events');
    expect(tree(path.join(lab.root, 'nas/nfs'))).toEqual(tree(nfs));
    expect((await pgw.group('offsite-sync-backup', 'sync')).get('backup_offsite_full_sync')?.value).toBe(1);

    // An orphan only the NAS has: an incremental sync must not touch it (a full one would).
    write(`${lab.root}/nas/nfs/orphan.txt`, 'only on the NAS');
    fs.rmSync(`${nfs}/immich/upload/a.jpg`);
    fs.renameSync(`${nfs}/immich/upload/b.jpg`, `${nfs}/immich/upload/b-renamed.jpg`);
    fs.renameSync(`${nfs}/music/album`, `${nfs}/music/album-2024`);
    write(`${nfs}/new/deep/dir/file.txt`, 'new');
    fs.writeFileSync(`${ssd}/servarr/config.xml`, '<config version="2"/>');
    // Files made inside a new directory before inotifywait watches it are never logged; the
    // directory is, and it is sent whole. Events arrive in order: once this marker is logged,
    // everything before it is.
    write(`${nfs}/zz-marker`, '');
    await waitUntil(() => logged(lab).some((p) => p.endsWith('zz-marker')), 10000, 'changes in the log');
    expect(logged(lab)).toEqual(expect.arrayContaining([`${nfs}/new`, `${nfs}/immich/upload/a.jpg`, `${nfs}/music/album`, `${nfs}/music/album-2024`]));

    const second = await syncOk(lab);
    expect(second).toContain('incremental sync of');
    const group = await pgw.group('offsite-sync-backup', 'sync');
    expect(group.get('backup_offsite_full_sync')?.value).toBe(0);
    expect(group.get('backup_offsite_changed_paths')?.value).toBeGreaterThan(0);
    expect(tree(path.join(lab.root, 'nas/nfs'))).toEqual({ ...tree(nfs), 'orphan.txt': 'only on the NAS' });
    expect(tree(path.join(lab.root, 'nas/nfs-ssd'))).toEqual(tree(ssd));
    await stopTracker(tracker);
  });

  test('names with spaces, newlines, quotes, wildcards, a leading dash and non-ASCII: edits, deletes and renames reach the NAS', async () => {
    const lab = nasLab('names');
    const nfs = path.join(lab.root, 'nfs');
    const names = ['with space.txt', 'new\nline.txt', "it's \"quoted\".txt", 'star*[x]?.txt', '-leading-dash.txt', 'Grüße 日本.txt', 'back\\slash.txt'];
    for (const n of names) write(`${nfs}/dir ü/${n}`, `old ${n}`);
    write(`${nfs}/gone dir\nname/inner.txt`, 'inner');
    const tracker = await startTracker(lab);
    expect(await syncOk(lab)).toContain('full sync');
    for (const n of names) fs.appendFileSync(`${nfs}/dir ü/${n}`, ' edited');
    fs.rmSync(`${nfs}/dir ü/star*[x]?.txt`);
    fs.renameSync(`${nfs}/dir ü/new\nline.txt`, `${nfs}/dir ü/renamed\nline ü.txt`);
    fs.rmSync(`${nfs}/gone dir\nname`, { recursive: true });
    write(`${nfs}/zz-marker`, '');
    await waitUntil(() => logged(lab).some((p) => p.endsWith('zz-marker')), 10000, 'changes in the log');
    expect(await syncOk(lab)).toContain('incremental sync of');
    expect(tree(path.join(lab.root, 'nas/nfs'))).toEqual(tree(nfs));
    await stopTracker(tracker);
  });

  test('every transfer of a run goes over one SSH connection, which ends with the run', async () => {
    const lab = nasLab('one-connection');
    const nfs = path.join(lab.root, 'nfs');
    write(`${nfs}/a/keep.txt`, 'keep');
    write(`${nfs}/a/drop.txt`, 'drop');
    const tracker = await startTracker(lab);
    await syncOk(lab);
    fs.writeFileSync(`${nfs}/a/keep.txt`, 'changed');
    fs.rmSync(`${nfs}/a/drop.txt`);
    write(`${nfs}/zz-marker`, '');
    await waitUntil(() => logged(lab).some((p) => p.endsWith('zz-marker')), 10000, 'changes in the log');
    // sshd logs one "Accepted publickey" per connection (login), none for a session over one.
    const logins = () => (fs.readFileSync(path.join(sshd.dir, 'sshd.log'), 'utf8').match(/Accepted publickey/g) ?? []).length;
    const before = logins();
    const stderr = await syncOk(lab);
    // Three transfers: step 1, the changed paths, the directory that lost an entry.
    expect(stderr).toMatch(/step 1 took \d+\.\d{3} s/);
    expect(stderr).toMatch(/step 2 took \d+\.\d{3} s/);
    expect(logins() - before).toBe(1);
    expect(tree(path.join(lab.root, 'nas/nfs'))).toEqual(tree(nfs));
    const masters = fs
      .readdirSync('/proc')
      .filter((pid) => /^\d+$/.test(pid))
      .filter((pid) => {
        try {
          const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          return argv.includes('ControlMaster=yes') && argv.includes(sshd.identityFile);
        } catch {
          return false;
        }
      });
    expect(masters).toEqual([]);
    await stopTracker(tracker);
  });

  test('a flood that overflows the inotify queue makes the next sync a full one', async () => {
    const lab = nasLab('overflow');
    const nfs = path.join(lab.root, 'nfs');
    write(`${nfs}/keep.txt`, 'keep');
    const tracker = await startTracker(lab);
    await syncOk(lab);
    write(`${lab.root}/nas/nfs/orphan.txt`, 'only on the NAS');
    const max = Number(fs.readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8'));
    // Stop the watcher so the kernel queue fills, then flood past its limit (two events a file:
    // create, close_write) in a directory it already watches.
    fs.mkdirSync(`${nfs}/flood`);
    await waitUntil(() => logged(lab).some((p) => p.endsWith('/flood')), 10000, 'the flood directory watched');
    const watcher = processTree(tracker.child.pid!).find((pid) => fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'inotifywait')!;
    process.kill(watcher, 'SIGSTOP');
    for (let i = 0; i < Math.ceil(max / 2) + 500; i++) fs.writeFileSync(`${nfs}/flood/${i}`, '');
    process.kill(watcher, 'SIGCONT');
    await waitUntil(() => fs.existsSync(path.join(lab.backup, '.nfs-changes.log.full-sync')), 30000, 'the overflow marked');

    const r = await syncOk(lab);
    expect(r).toContain('full sync: the tracker lost events');
    expect(fs.existsSync(`${lab.root}/nas/nfs/orphan.txt`)).toBe(false);
    expect(fs.readdirSync(`${lab.root}/nas/nfs/flood`).length).toBe(Math.ceil(max / 2) + 500);
    // The pass made the log trustworthy again.
    write(`${nfs}/after.txt`, 'after');
    await waitUntil(() => logged(lab).some((p) => p.endsWith('after.txt')), 10000, 'after.txt logged');
    expect(await syncOk(lab)).toContain('incremental sync of');
    await stopTracker(tracker);
  });

  test('changes written while a sync runs reach the NAS on the next sync', async () => {
    const lab = nasLab('during');
    const nfs = path.join(lab.root, 'nfs');
    const tracker = await startTracker(lab);
    await syncOk(lab);
    write(`${nfs}/before.txt`, 'logged before the sync');
    await waitUntil(() => logged(lab).some((p) => p.endsWith('before.txt')), 10000, 'before.txt logged');
    // The sync's NFS rsync waits at a gate, after the log was rotated.
    const gate = fs.mkdtempSync(path.join(lab.root, 'gate-'));
    fs.writeFileSync(
      path.join(gate, 'rsync'),
      `#!/bin/sh\ncase "$*" in *nas/nfs/*) touch ${gate}/waiting; while [ ! -e ${gate}/open ]; do sleep 0.05; done;; esac\nexec /usr/bin/rsync "$@"\n`,
      { mode: 0o755 },
    );
    const running = startHost(lab, 'offsite-sync-backup.sh', [], { pathPrepend: [gate] });
    await waitUntil(() => fs.existsSync(path.join(gate, 'waiting')), 20000, 'the sync inside rsync');
    write(`${nfs}/during.txt`, 'written during the sync');
    await waitUntil(() => logged(lab).some((p) => p.endsWith('during.txt')), 10000, 'during.txt logged in the new log');
    fs.writeFileSync(path.join(gate, 'open'), '');
    const first = await running.result;
    expect(first.code).toBe(0);
    expect(fs.existsSync(`${lab.root}/nas/nfs/before.txt`)).toBe(true);
    expect(fs.existsSync(`${lab.root}/nas/nfs/during.txt`)).toBe(false);

    expect(await syncOk(lab)).toContain('incremental sync of');
    expect(fs.readFileSync(`${lab.root}/nas/nfs/during.txt`, 'utf8')).toBe('written during the sync');
    await stopTracker(tracker);
  });

  test('a sync stopped by a signal gives the log back too', async () => {
    const lab = nasLab('signal');
    const nfs = path.join(lab.root, 'nfs');
    const tracker = await startTracker(lab);
    await syncOk(lab);
    write(`${nfs}/owed.txt`, 'owed');
    await waitUntil(() => logged(lab).some((p) => p.endsWith('owed.txt')), 10000, 'owed.txt logged');
    const gate = fs.mkdtempSync(path.join(lab.root, 'gate-'));
    fs.writeFileSync(path.join(gate, 'rsync'), `#!/bin/sh\ncase "$*" in *nas/nfs/*) touch ${gate}/waiting; while :; do sleep 0.05; done;; esac\nexec /usr/bin/rsync "$@"\n`, { mode: 0o755 });
    const running = startHost(lab, 'offsite-sync-backup.sh', [], { pathPrepend: [gate] });
    await waitUntil(() => fs.existsSync(path.join(gate, 'waiting')), 20000, 'the sync inside rsync');
    expect(logged(lab)).toEqual([]);
    process.kill(running.child.pid!, 'SIGTERM');
    expect((await running.result).code).toBe(143);
    expect(logged(lab)).toContain(`${nfs}/owed.txt`);
    expect(fs.existsSync(path.join(lab.backup, '.nfs-changes.log.pending'))).toBe(false);
    expect(await syncOk(lab)).toContain('incremental sync of');
    expect(fs.existsSync(`${lab.root}/nas/nfs/owed.txt`)).toBe(true);
    await stopTracker(tracker);
  });

  test('a failed sync gives the log back, so nothing logged is lost', async () => {
    const lab = nasLab('failure');
    const nfs = path.join(lab.root, 'nfs');
    const tracker = await startTracker(lab);
    await syncOk(lab);
    write(`${nfs}/pending.txt`, 'must arrive eventually');
    await waitUntil(() => logged(lab).some((p) => p.endsWith('pending.txt')), 10000, 'pending.txt logged');

    // The NAS is unreachable (nothing listens on the port).
    configure(lab, sshd.port + 1 === 65536 ? sshd.port - 1 : sshd.port + 1);
    write(`${nfs}/meanwhile.txt`, 'logged while the sync failed');
    await waitUntil(() => logged(lab).some((p) => p.endsWith('meanwhile.txt')), 10000, 'meanwhile.txt logged');
    const failed = await sync(lab);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('the change log was restored');
    expect(logged(lab)).toEqual(expect.arrayContaining([`${nfs}/pending.txt`, `${nfs}/meanwhile.txt`]));
    expect(fs.existsSync(path.join(lab.backup, '.nfs-changes.log.pending'))).toBe(false);
    const group = await pgw.group('offsite-sync-backup', 'sync');
    expect(group.get('backup_last_run_success')?.value).toBe(0);

    configure(lab, sshd.port);
    expect(await syncOk(lab)).toContain('incremental sync of');
    expect(fs.readFileSync(`${lab.root}/nas/nfs/pending.txt`, 'utf8')).toBe('must arrive eventually');
    expect(fs.existsSync(`${lab.root}/nas/nfs/meanwhile.txt`)).toBe(true);
    await stopTracker(tracker);
  });

  test('without a running tracker, or with the log lost, every sync is a full one', async () => {
    const lab = nasLab('notracker');
    write(`${lab.root}/nfs/a.txt`, 'a');
    expect(await syncOk(lab)).toContain('full sync: the change log');
    expect(await syncOk(lab)).toContain('full sync: nfs-change-tracker is not running');
  });
});

describe('the monthly full sync', () => {
  test.each([
    ['2024-09-01', true],
    ['2024-12-01', true],
    ['2024-11-03', true],
    ['2025-06-01', true],
    ['2024-09-08', false],
    ['2024-11-10', false],
    ['2024-09-07', false],
    ['2024-09-02', false],
  ])('%s is the first Sunday of its month: %s', async (date, expected) => {
    const r = await runOk('bash', ['-c', `. "$1"; . "$2"; if host_is_first_sunday "$3"; then echo yes; else echo no; fi`, 'bash', LIB_PATH, path.join(SCRIPTS_DIR, 'host-lib.sh'), date]);
    expect(r.trim()).toBe(expected ? 'yes' : 'no');
  });
});
