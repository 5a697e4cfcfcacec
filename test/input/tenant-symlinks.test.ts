/**
 * Issue 14, point 3: host jobs must not trust tenant volumes. daily-backup copies each SQLite
 * database found in a snapshot together with its -wal/-shm/-journal, and `cp` follows a symlink:
 * a tenant who makes `db.sqlite3-wal` a link to a file of the host got that file read as root and
 * copied onto the backup disk (`-wal -> /dev/zero` wrote 5.9 GB in 4 s). daily-backup.sh now copies
 * only regular files and fails that database, loudly, for anything else. The test uses a WAL whose
 * rows can only come from the host-side file, so a followed link shows up as data on the backup
 * disk, without filling the disk.
 */
import { ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Pushgateway, runOk, startPushgateway, waitUntil } from '../support/servers';
import { Lab, addVolume, labHost, lvm, makeLab, removeLab, runHost, setCluster, writeConfig } from '../host/host-lab';

let pgw: Pushgateway;
let lab: Lab | undefined;

beforeAll(async () => {
  pgw = await startPushgateway();
});
afterAll(async () => {
  if (lab) removeLab(lab);
  await pgw.stop();
});

/** A database file and the WAL holding its last commits (the writer is killed before any checkpoint). */
async function databaseWithWal(): Promise<{ db: Buffer; wal: Buffer }> {
  const work = fs.mkdtempSync('/tmp/bp-input-wal-');
  const db = path.join(work, 'db.sqlite3');
  const writer: ChildProcessWithoutNullStreams = spawn('sqlite3', [db]);
  let out = '';
  writer.stdout.on('data', (d: Buffer) => (out += d.toString()));
  writer.stdin.write(
    [
      'PRAGMA journal_mode=WAL;',
      'PRAGMA wal_autocheckpoint=0;',
      'CREATE TABLE entries (id INTEGER PRIMARY KEY, body TEXT NOT NULL);',
      "INSERT INTO entries (body) VALUES ('tenant row');",
      'PRAGMA wal_checkpoint(TRUNCATE);',
      "INSERT INTO entries (body) VALUES ('read from the host, outside the volume');",
      '.print ready',
      '',
    ].join('\n'),
  );
  await waitUntil(() => out.includes('ready'), 10000, 'sqlite3 writer');
  const files = { db: fs.readFileSync(db), wal: fs.readFileSync(`${db}-wal`) };
  writer.kill('SIGKILL');
  await new Promise((r) => writer.once('exit', r));
  fs.rmSync(work, { recursive: true, force: true });
  return files;
}

/** Makes `rel` inside the LV's filesystem a symlink to `target`, as the tenant's pod could. */
function symlinkInVolume(lab: Lab, lv: string, rel: string, target: string): void {
  const mnt = fs.mkdtempSync(path.join(lab.root, 'edit-'));
  execFileSync('mount', ['-o', 'loop', path.join(lab.lvm, 'vgs/pve/lvs', lv, 'image'), mnt]);
  try {
    fs.symlinkSync(target, path.join(mnt, rel));
  } finally {
    execFileSync('umount', [mnt]);
    fs.rmdirSync(mnt);
  }
}

test('daily-backup does not follow a symlinked -wal out of a tenant volume', async () => {
  lab = makeLab('tenant-link');
  const host = labHost(lab.root, { pushgateway: { url: pgw.url } });
  writeConfig(lab, host);
  await lvm(lab, 'lvm', ['fake-setup', 'vg', 'pve', 'data']);
  const { db, wal } = await databaseWithWal();
  await addVolume(lab, 'vm-9999-pvc-aaaa', { 'app/db.sqlite3': db });
  // The host-side file the link points at: root-readable, outside every volume.
  const outside = path.join(lab.root, 'host-only-wal');
  fs.writeFileSync(outside, wal);
  symlinkInVolume(lab, 'vm-9999-pvc-aaaa', 'app/db.sqlite3-wal', outside);
  setCluster(lab, [['vm-9999-pvc-aaaa', 'apps', 'app-data']]);
  const snap = await runHost(lab, 'lvm-pvc-snapshot.sh', ['snapshot']);
  expect(snap.code).toBe(0);
  await runHost(lab, 'daily-backup.sh', []);
  const copies = execFileSync('find', [path.join(lab.backup, 'sqlite-backup'), '-type', 'f', '-name', '*.sqlite3']).toString().trim().split('\n').filter(Boolean);
  const rows = await Promise.all(copies.map((copy) => runOk('sqlite3', ['-bail', `file:${copy}?mode=ro`, 'SELECT body FROM entries ORDER BY id;'])));
  // Whether the database is copied without the link or refused: never with the host's file.
  expect(rows.filter((r) => r.includes('outside the volume'))).toEqual([]);
}, 120_000);
