/**
 * daily-backup with real tools: the snapshots are ext4 images (made by the LVM fake) that the
 * script really mounts read-only through loop devices, rsync --link-dest really hard-links, SQLite
 * really recovers a WAL, pfSense is an sshd on 127.0.0.1.
 */
import { ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Pushgateway, runOk, startPushgateway, waitUntil } from '../support/servers';
import { Lab, Sshd, addVolume, labHost, lvm, lvs, makeLab, removeLab, runHost, setCluster, startHost, startSshd, tsAgo, writeConfig } from './host-lab';

let pgw: Pushgateway;
let sshd: Sshd;
const labs: Lab[] = [];
const DAY = 86400;

beforeAll(async () => {
  pgw = await startPushgateway();
  sshd = await startSshd(fs.mkdtempSync('/tmp/bp-host-sshd-'));
});
afterAll(async () => {
  for (const lab of labs) removeLab(lab);
  await sshd.stop();
  await pgw.stop();
});

/**
 * A WAL-mode database whose last commits are only in the -wal file: copied while the writer still
 * has it open (what a block snapshot catches), then the writer is killed so nothing checkpoints.
 */
async function walDatabase(dir: string, keepShm: boolean): Promise<Record<string, Buffer>> {
  const work = fs.mkdtempSync('/tmp/bp-host-wal-');
  const db = path.join(work, 'db.sqlite3');
  const writer: ChildProcessWithoutNullStreams = spawn('sqlite3', [db]);
  let out = '';
  writer.stdout.on('data', (d: Buffer) => (out += d.toString()));
  writer.stdin.write(
    [
      'PRAGMA journal_mode=WAL;',
      'PRAGMA wal_autocheckpoint=0;',
      'CREATE TABLE entries (id INTEGER PRIMARY KEY, body TEXT NOT NULL);',
      "INSERT INTO entries (body) VALUES ('checkpointed');",
      'PRAGMA wal_checkpoint(TRUNCATE);',
      "INSERT INTO entries (body) VALUES ('only in the wal 1');",
      "INSERT INTO entries (body) VALUES ('only in the wal 2');",
      '.print ready',
      '',
    ].join('\n'),
  );
  await waitUntil(() => out.includes('ready'), 10000, 'sqlite3 writer');
  const files: Record<string, Buffer> = {};
  for (const suffix of ['', '-wal', ...(keepShm ? ['-shm'] : [])]) files[`${dir}/db.sqlite3${suffix}`] = fs.readFileSync(`${db}${suffix}`);
  writer.kill('SIGKILL');
  await new Promise((r) => writer.once('exit', r));
  fs.rmSync(work, { recursive: true, force: true });
  // The main file alone lacks the WAL rows: the test below can only pass through the WAL.
  expect(files[`${dir}/db.sqlite3-wal`].length).toBeGreaterThan(0);
  return files;
}

/** Changes a file inside a volume, as the application would between two snapshots. */
function writeIntoVolume(lab: Lab, lv: string, rel: string, data: string): void {
  const mnt = fs.mkdtempSync(path.join(lab.root, 'edit-'));
  execFileSync('mount', ['-o', 'loop', path.join(lab.lvm, 'vgs/pve/lvs', lv, 'image'), mnt]);
  try {
    fs.mkdirSync(path.dirname(path.join(mnt, rel)), { recursive: true });
    fs.writeFileSync(path.join(mnt, rel), data);
  } finally {
    execFileSync('umount', [mnt]);
    fs.rmdirSync(mnt);
  }
}

async function homelab(label: string, edit: (host: ReturnType<typeof labHost>) => void = () => undefined): Promise<Lab> {
  const lab = makeLab(label);
  labs.push(lab);
  const host = labHost(lab.root, { pushgateway: { url: pgw.url } });
  edit(host);
  writeConfig(lab, host);
  await lvm(lab, 'lvm', ['fake-setup', 'vg', 'pve', 'data']);
  await addVolume(lab, 'vm-9999-pvc-aaaa', {
    'photos/big.bin': Buffer.alloc(256 * 1024, 7),
    'config.yml': 'version: 1\n',
    ...(await walDatabase('app', false)),
    ...(await walDatabase('cache', true)),
    'notes.db': 'plain text, not a database\n'.repeat(40),
  });
  await addVolume(lab, 'vm-9999-pvc-cccc', { 'pgdata/PG_VERSION': '15\n' });
  setCluster(lab, [
    ['vm-9999-pvc-aaaa', 'apps', 'app-data'],
    ['vm-9999-pvc-cccc', 'dbaas', 'pgdata-postgresql-0'],
  ]);
  return lab;
}

const snapshot = async (lab: Lab) => {
  const r = await runHost(lab, 'lvm-pvc-snapshot.sh', ['snapshot']);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
};
const daily = (lab: Lab, opts: Parameters<typeof runHost>[3] = {}) => runHost(lab, 'daily-backup.sh', [], opts);
const weeks = (lab: Lab) => fs.readdirSync(path.join(lab.backup, 'pvc-data')).filter((w) => /^\d{4}-\d{2}$/.test(w)).sort();
const currentWeek = () => execFileSync('date', ['+%G-%V'], { env: { ...process.env, TZ: 'Europe/London' } }).toString().trim();
const sqlite = (db: string, sql: string) => runOk('sqlite3', ['-bail', `file:${db}?mode=ro`, sql]);

describe('daily-backup', () => {
  test('keeps weekly generations that share unchanged files, and only four of them', async () => {
    const lab = await homelab('gens');
    const week = currentWeek();
    const copy = (w: string, rel: string) => path.join(lab.backup, 'pvc-data', w, 'apps/app-data', rel);
    // Five runs in five "weeks": after each run this week's folder is renamed into the past, so
    // the next run starts a new week with --link-dest to it, as it would seven days later.
    const past = ['2020-01', '2020-02', '2020-03', '2020-04'];
    for (let i = 0; i < 5; i++) {
      writeIntoVolume(lab, 'vm-9999-pvc-aaaa', 'config.yml', `version: ${i + 1}\n`);
      await new Promise((r) => setTimeout(r, 1100));
      await snapshot(lab);
      const r = await daily(lab);
      expect({ run: i, code: r.code, stderr: r.stderr }).toEqual({ run: i, code: 0, stderr: expect.stringContaining('finished successfully') });
      expect(fs.readFileSync(copy(week, 'config.yml'), 'utf8')).toBe(`version: ${i + 1}\n`);
      if (i < 4) fs.renameSync(path.join(lab.backup, 'pvc-data', week), path.join(lab.backup, 'pvc-data', past[i]));
    }
    expect(weeks(lab)).toEqual(['2020-02', '2020-03', '2020-04', week]);
    const big = weeks(lab).map((w) => fs.statSync(copy(w, 'photos/big.bin')));
    expect(new Set(big.map((s) => s.ino)).size).toBe(1);
    expect(big[0].nlink).toBe(4);
    // A changed file is a new inode: each generation keeps the content of its week.
    expect(weeks(lab).map((w) => fs.readFileSync(copy(w, 'config.yml'), 'utf8'))).toEqual(['version: 2\n', 'version: 3\n', 'version: 4\n', 'version: 5\n']);
    expect(new Set(weeks(lab).map((w) => fs.statSync(copy(w, 'config.yml')).ino)).size).toBe(4);
    // The excluded namespace's volume is neither snapshotted nor copied.
    expect(fs.readdirSync(path.join(lab.backup, 'pvc-data', week))).toEqual(['apps']);
    // Nothing stays mounted, active or half-written.
    expect(execFileSync('findmnt', ['-rn', '-o', 'TARGET']).toString()).not.toContain(lab.run);
    expect((await lvs(lab)).filter((r) => r.tags.includes('backup_policy_snapshot')).map((r) => r.attr)).toEqual(Array(5).fill('Vwi---tz-k'));
    expect(execFileSync('find', [lab.backup, '-name', '.tmp.*']).toString()).toBe('');
    const group = await pgw.group('daily-backup', 'files');
    expect(group.get('backup_last_run_success')?.value).toBe(1);
    expect(group.get('backup_last_size_bytes')?.value).toBeGreaterThan(256 * 1024);
    expect(group.get('backup_thin_pool_free_percent')?.value).toBe(90);
    expect(group.get('backup_disk_usage_percent')?.value).toBeGreaterThan(0);
  });

  test('backs up every SQLite database in the snapshot with the commits still in its WAL', async () => {
    const lab = await homelab('sqlite');
    await snapshot(lab);
    const r = await daily(lab);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('finished successfully') });
    const base = path.join(lab.backup, 'sqlite-backup/apps/app-data');
    const dirs = ['app/db.sqlite3', 'cache/db.sqlite3'];
    expect(fs.readdirSync(base).sort()).toEqual(['app', 'cache']);
    for (const dir of dirs) {
      const copies = fs.readdirSync(path.join(base, dir));
      expect(copies).toEqual([expect.stringMatching(/^sqlite_\d{8}T\d{6}Z\.sqlite3$/)]);
      const copy = path.join(base, dir, copies[0]);
      expect(await sqlite(copy, 'PRAGMA integrity_check;')).toBe('ok\n');
      expect(await sqlite(copy, 'SELECT body FROM entries ORDER BY id;')).toBe('checkpointed\nonly in the wal 1\nonly in the wal 2\n');
    }
    // The copy in pvc-data is the raw files; only sqlite-backup holds a consistent single file.
    expect(fs.existsSync(path.join(lab.backup, 'pvc-data', currentWeek(), 'apps/app-data/app/db.sqlite3-wal'))).toBe(true);
    expect(fs.existsSync(path.join(base, 'notes.db'))).toBe(false);
  });

  test('a second run exits without touching the first run\'s lock, mounts or status', async () => {
    const lab = await homelab('concurrent');
    await snapshot(lab);
    // The first run's rsync waits at a gate, mid-run with its snapshot mounted.
    const gate = fs.mkdtempSync(path.join(lab.root, 'gate-'));
    fs.writeFileSync(path.join(gate, 'rsync'), `#!/bin/sh\ntouch ${gate}/waiting\nwhile [ ! -e ${gate}/open ]; do sleep 0.05; done\nexec /usr/bin/rsync "$@"\n`, { mode: 0o755 });
    const first = startHost(lab, 'daily-backup.sh', [], { pathPrepend: [gate] });
    await waitUntil(() => fs.existsSync(path.join(gate, 'waiting')), 20000, 'first run inside rsync');
    const mountsBefore = execFileSync('findmnt', ['-rn', '-o', 'TARGET']).toString().split('\n').filter((m) => m.startsWith(lab.run));
    expect(mountsBefore.length).toBe(1);
    const stateBefore = fs.readdirSync(lab.state).sort();
    const pushedBefore = JSON.stringify([...(await pgw.group('daily-backup', 'files')).entries()]);

    const second = await daily(lab);
    expect(second.code).toBe(75);
    expect(second.stderr).toContain('another daily-backup run holds');
    expect(second.stderr).not.toContain('pushed metrics');
    expect(execFileSync('findmnt', ['-rn', '-o', 'TARGET']).toString().split('\n').filter((m) => m.startsWith(lab.run))).toEqual(mountsBefore);
    expect(fs.readdirSync(lab.state).sort()).toEqual(stateBefore);
    expect(JSON.stringify([...(await pgw.group('daily-backup', 'files')).entries()])).toBe(pushedBefore);
    // The lock is still held by the first run.
    const probe = await runOk('bash', ['-c', `flock -n ${lab.state}/locks/daily-backup.lock true && echo free || echo held`]);
    expect(probe.trim()).toBe('held');

    fs.writeFileSync(path.join(gate, 'open'), '');
    const done = await first.result;
    expect({ code: done.code, stderr: done.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('finished successfully') });
  });

  test('stopped mid-run (systemd\'s SIGTERM at TimeoutStartSec), it unmounts, cleans up and reports the failure', async () => {
    const lab = await homelab('sigterm');
    await snapshot(lab);
    const gate = fs.mkdtempSync(path.join(lab.root, 'gate-'));
    fs.writeFileSync(path.join(gate, 'rsync'), `#!/bin/sh\ntouch ${gate}/waiting\nwhile [ ! -e ${gate}/open ]; do sleep 0.05; done\nexec /usr/bin/rsync "$@"\n`, { mode: 0o755 });
    const running = startHost(lab, 'daily-backup.sh', [], { pathPrepend: [gate] });
    await waitUntil(() => fs.existsSync(path.join(gate, 'waiting')), 20000, 'the run inside rsync');
    expect(execFileSync('findmnt', ['-rn', '-o', 'TARGET']).toString()).toContain(lab.run);
    // Only the main process: the job must stop its own children.
    process.kill(running.child.pid!, 'SIGTERM');
    const r = await running.result;
    expect(r.code).toBe(143);
    expect(r.stderr).toContain('stopping the running step');
    expect(execFileSync('findmnt', ['-rn', '-o', 'TARGET']).toString()).not.toContain(lab.run);
    expect(execFileSync('find', [lab.backup, '-name', '.tmp.*']).toString()).toBe('');
    expect((await lvs(lab)).filter((row) => row.tags.includes('backup_policy_snapshot')).map((row) => row.attr)).toEqual(['Vwi---tz-k']);
    expect((await pgw.group('daily-backup', 'files')).get('backup_last_run_success')?.value).toBe(0);
  });

  test('a failed step never prunes and never reports success, whatever the later steps do', async () => {
    const lab = await homelab('failed');
    // Generations and snapshots that pruning would remove after a good run.
    for (const w of ['2020-01', '2020-02', '2020-03', '2020-04', '2020-05']) fs.mkdirSync(path.join(lab.backup, 'pvc-data', w, 'apps'), { recursive: true });
    const oldSnap = `vm-9999-pvc-aaaa-snap-${tsAgo(10 * DAY)}`;
    await lvm(lab, 'lvcreate', ['-s', '-n', oldSnap, '--addtag', 'backup_policy_snapshot', 'pve/vm-9999-pvc-aaaa']);
    await snapshot(lab);
    // A volume appeared after the snapshot run: it has no snapshot, so it has no backup today.
    await addVolume(lab, 'vm-9999-pvc-dddd', { 'x.txt': 'new app\n' });
    const before = (await pgw.group('daily-backup', 'files')).get('backup_last_success_timestamp_seconds')?.value;

    const r = await daily(lab);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('vm-9999-pvc-dddd (_unmapped/vm-9999-pvc-dddd) has no snapshot');
    // The steps after the failure ran and succeeded; the run is failed all the same.
    expect(fs.existsSync(path.join(lab.backup, 'pve-config', lab.root, 'pve/etc/pve/storage.cfg'))).toBe(true);
    expect(r.stderr).toContain('failed steps: pvc-data; nothing pruned');
    expect(weeks(lab).length).toBe(6);
    expect((await lvs(lab)).map((row) => row.name)).toContain(oldSnap);
    const group = await pgw.group('daily-backup', 'files');
    expect(group.get('backup_last_run_success')?.value).toBe(0);
    expect(group.get('backup_last_success_timestamp_seconds')?.value).toBe(before);
    expect(group.get('backup_failed_steps')?.value).toBe(1);

    // The same volume set with its snapshot: now everything succeeds and pruning happens.
    await new Promise((res) => setTimeout(res, 1100));
    await snapshot(lab);
    const ok = await daily(lab);
    expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('prune: 1 snapshots removed') });
    expect(weeks(lab)).toEqual(['2020-03', '2020-04', '2020-05', currentWeek()]);
  });

  test('an SQLite database that fails its check fails the run', async () => {
    const lab = await homelab('corrupt');
    // A database whose header is fine and whose pages are garbage.
    const db = Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.from([0x10, 0x00, 1, 1, 0, 64, 32, 32]), Buffer.alloc(4096 - 24, 0xab)]);
    await addVolume(lab, 'vm-9999-pvc-eeee', { 'broken.sqlite': db });
    setCluster(lab, [
      ['vm-9999-pvc-aaaa', 'apps', 'app-data'],
      ['vm-9999-pvc-eeee', 'apps', 'broken-data'],
    ]);
    await snapshot(lab);
    const r = await daily(lab);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('failed steps: sqlite; nothing pruned');
    // The file copies of the same run are complete: only the SQLite step failed.
    expect(fs.readFileSync(path.join(lab.backup, 'pvc-data', currentWeek(), 'apps/broken-data/broken.sqlite')).equals(db)).toBe(true);
  });

  test('copies pfSense\'s config.xml every run and its full archive once a week, over SSH', async () => {
    const fw = path.join(fs.mkdtempSync('/tmp/bp-host-pfsense-'));
    fs.mkdirSync(path.join(fw, 'cf/conf'), { recursive: true });
    fs.mkdirSync(path.join(fw, 'var/db'), { recursive: true });
    fs.writeFileSync(path.join(fw, 'cf/conf/config.xml'), '<?xml version="1.0"?>\n<pfsense>\n\t<version>23.3</version>\n</pfsense>\n');
    fs.writeFileSync(path.join(fw, 'var/db/dhcpd.leases'), 'lease 192.168.1.50 {}\n');
    const lab = await homelab('pfsense', (host) => {
      host.fileBackup.pfsense = {
        host: '127.0.0.1',
        port: sshd.port,
        identityFile: sshd.identityFile,
        knownHostsFile: sshd.knownHostsFile,
        configPath: `${fw}/cf/conf/config.xml`,
        archivePaths: [`${fw}/cf`, `${fw}/var/db`],
      };
    });
    await snapshot(lab);
    expect((await daily(lab)).code).toBe(0);
    await new Promise((res) => setTimeout(res, 1100));
    expect((await daily(lab)).code).toBe(0);
    const dir = path.join(lab.backup, 'pfsense', currentWeek());
    const files = fs.readdirSync(dir).sort();
    expect(files.filter((f) => f.startsWith('config_')).length).toBe(2);
    expect(files.filter((f) => f.startsWith('full_')).length).toBe(1);
    const listing = await runOk('tar', ['-tzf', path.join(dir, files.find((f) => f.startsWith('full_'))!)]);
    expect(listing).toContain('var/db/dhcpd.leases');
    // The firewall's own series, which PfsenseBackupStale and PfsenseBackupFailing select.
    let fwSeries = await pgw.group('pfsense', 'config');
    expect(fwSeries.get('backup_last_run_success')?.value).toBe(1);
    expect(fwSeries.get('backup_last_run_success')?.labels).toMatchObject({ runner: 'host' });
    expect(fwSeries.get('backup_last_size_bytes')?.value).toBe(fs.statSync(path.join(dir, files.filter((f) => f.startsWith('config_')).at(-1)!)).size);
    const firstSuccess = fwSeries.get('backup_last_success_timestamp_seconds')?.value;
    expect(firstSuccess).toBeGreaterThan(0);

    // A config cut short is refused, and the run fails.
    fs.writeFileSync(path.join(fw, 'cf/conf/config.xml'), '<?xml version="1.0"?>\n<pfsense>\n\t<version>23.3</vers');
    await new Promise((res) => setTimeout(res, 1100));
    const cut = await daily(lab);
    expect(cut.code).toBe(1);
    expect(cut.stderr).toContain('is not a complete pfSense configuration');
    expect(cut.stderr).toContain('failed steps: pfsense');
    fwSeries = await pgw.group('pfsense', 'config');
    expect(fwSeries.get('backup_last_run_success')?.value).toBe(0);
    expect(fwSeries.get('backup_last_success_timestamp_seconds')?.value).toBe(firstSuccess);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('config_')).length).toBe(2);
    fs.rmSync(fw, { recursive: true, force: true });
  });

  test('replaces the PVE config copy only with a complete one', async () => {
    const lab = await homelab('pve');
    const etc = path.join(lab.root, 'pve/etc/pve');
    fs.writeFileSync(path.join(etc, 'old.cfg'), 'gone tomorrow\n');
    await snapshot(lab);
    expect((await daily(lab)).code).toBe(0);
    const copy = path.join(lab.backup, 'pve-config', etc);
    expect(fs.readdirSync(copy).sort()).toEqual(['old.cfg', 'storage.cfg']);
    fs.rmSync(path.join(etc, 'old.cfg'));
    // Runs a second apart: two in the same second would name their SQLite copies alike.
    await new Promise((res) => setTimeout(res, 1100));
    expect((await daily(lab)).code).toBe(0);
    expect(fs.readdirSync(copy).sort()).toEqual(['storage.cfg']);
    // A source that disappeared fails the step and leaves the last copy in place.
    writeConfig(lab, { ...lab.host, fileBackup: { ...lab.host.fileBackup, pveConfig: { paths: [etc, `${lab.root}/pve/missing`] } } });
    await new Promise((res) => setTimeout(res, 1100));
    const r = await daily(lab);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('failed steps: pve-config');
    expect(fs.readdirSync(copy).sort()).toEqual(['storage.cfg']);
  });

  test('refuses to write to a backup disk that is not mounted', async () => {
    const lab = await homelab('unmounted');
    await snapshot(lab);
    execFileSync('umount', [lab.backup]);
    const r = await daily(lab);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is not a mount point');
    expect(fs.readdirSync(lab.backup)).toEqual([]);
    // Refused, and said so: WeeklyBackupFailing has its data.
    expect((await pgw.group('daily-backup', 'files')).get('backup_last_run_success')?.value).toBe(0);
  });
});
