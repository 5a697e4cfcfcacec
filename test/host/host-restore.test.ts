/**
 * host-restore with real tools, as on the host: a backup disk that is a real mount point, week
 * copies made the way daily-backup makes them (rsync -aH --numeric-ids --link-dest, and once by
 * daily-backup itself from an ext4 snapshot), real sqlite3, a real Pushgateway. Nothing is faked
 * but LVM and kubectl, which only the end-to-end case's backup run needs.
 */
import { ChildProcessWithoutNullStreams, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Pushgateway, runOk, startPushgateway, waitUntil } from '../support/servers';
import { packageRoot } from '../../policy/io/scripts';
import { samplePolicy } from '../support/policies';
import { SCRIPTS_DIR } from '../support/run-script';
import { Lab, addVolume, labEnv, labHost, lvm, makeLab, removeLab, runHost, setCluster, writeConfig } from './host-lab';

let pgw: Pushgateway;
const labs: Lab[] = [];

beforeAll(async () => {
  pgw = await startPushgateway();
});
afterAll(async () => {
  for (const lab of labs) removeLab(lab);
  await pgw.stop();
});

function newLab(label: string): Lab {
  const lab = makeLab(label);
  labs.push(lab);
  writeConfig(lab, labHost(lab.root, { pushgateway: { url: pgw.url } }));
  return lab;
}

type Entry = string | Buffer | { link: string } | { hardlinkOf: string } | { dir: true };
interface Tree {
  [rel: string]: Entry;
}

const MTIME = new Date('2026-11-20T10:00:00Z');
const A_WEEK_LATER = new Date('2026-11-27T10:00:00Z');

/**
 * Writes `tree` into a fresh folder: files (mode 0640, owner 1234:2345, time MTIME, or a week
 * later for those in `changed`), symlinks, hard links.
 */
function makeTree(lab: Lab, tree: Tree, changed: string[] = []): string {
  const src = fs.mkdtempSync(path.join(lab.root, 'tree-'));
  for (const [rel, entry] of Object.entries(tree)) {
    const p = path.join(src, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (typeof entry === 'string' || Buffer.isBuffer(entry)) {
      fs.writeFileSync(p, entry, { mode: 0o640 });
      fs.chmodSync(p, 0o640);
      fs.chownSync(p, 1234, 2345);
      const mtime = changed.includes(rel) ? A_WEEK_LATER : MTIME;
      fs.utimesSync(p, mtime, mtime);
    } else if ('link' in entry) fs.symlinkSync(entry.link, p);
    else if ('hardlinkOf' in entry) fs.linkSync(path.join(src, entry.hardlinkOf), p);
    else fs.mkdirSync(p, { recursive: true });
  }
  return src;
}

/** pvc-data/<week>/<ns>/<pvc>/ exactly as daily-backup's copy_volume writes it. */
async function weekCopy(lab: Lab, week: string, pvc: string, tree: Tree, linkDestWeek?: string, changed: string[] = []): Promise<string> {
  const src = makeTree(lab, tree, changed);
  const dest = path.join(lab.backup, 'pvc-data', week, pvc);
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const links = linkDestWeek ? [`--link-dest=${path.join(lab.backup, 'pvc-data', linkDestWeek, pvc)}`] : [];
  await runOk('rsync', ['-aH', '--numeric-ids', ...links, '--', `${src}/`, `${dest}/`]);
  fs.rmSync(src, { recursive: true, force: true });
  return dest;
}

const restore = (lab: Lab, args: string[]) => runHost(lab, 'host-restore.sh', args);

/** Every entry below `dir`: type, mode, owner, size, content digest or link target. */
function describeTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = path.join(dir, r);
      const st = fs.lstatSync(p);
      const owner = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isSymbolicLink()) out[r] = `link -> ${fs.readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[r] = `dir ${owner}`;
        walk(r);
      } else out[r] = `file ${owner} ${st.mtimeMs} ${fs.readFileSync(p).toString('base64')}`;
    }
  };
  walk('');
  return out;
}

const HOSTILE = ['with space.txt', `quote's "double".txt`, 'new\nline.txt', 'naïve ünïcode ✓.txt', '-leading-dash.txt', '--double-dash'];

describe('host-restore files', () => {
  test('restores a whole PVC, a folder and a file, from the newest and from an older (hard-linked) week', async () => {
    const lab = newLab('restore-weeks');
    const older = await weekCopy(lab, '2026-47', 'apps/app-data', {
      'config.yml': 'version: 1\n',
      'photos/big.bin': Buffer.alloc(200 * 1024, 7),
      'photos/same.bin': { hardlinkOf: 'photos/big.bin' },
      'docs/a.txt': 'a, week 47\n',
      'docs/sub/b.txt': 'b\n',
    });
    // The newer week: config.yml and a.txt changed (a week later), the rest hard-linked.
    const newer = await weekCopy(lab, '2026-48', 'apps/app-data', {
      'config.yml': 'version: 2\n',
      'photos/big.bin': Buffer.alloc(200 * 1024, 7),
      'photos/same.bin': { hardlinkOf: 'photos/big.bin' },
      'docs/a.txt': 'a, week 48\n',
      'docs/sub/b.txt': 'b\n',
    }, '2026-47', ['config.yml', 'docs/a.txt']);
    expect(fs.statSync(path.join(newer, 'photos/big.bin')).ino).toBe(fs.statSync(path.join(older, 'photos/big.bin')).ino);

    const whole = path.join(lab.root, 'restored-whole');
    let r = await restore(lab, ['files', '--week', 'latest', '--pvc', 'apps/app-data', '--to', whole]);
    expect({ code: r.code, stderr: r.stderr, leftovers: r.tmpLeftovers }).toEqual({ code: 0, stderr: expect.stringContaining('from week 2026-48'), leftovers: [] });
    expect(r.stderr).toContain('verified against the copy (checksums)');
    expect(describeTree(whole)).toEqual(describeTree(newer));
    // Hard links inside the copy stay hard links; owners are the numeric ids of the copy.
    expect(fs.statSync(path.join(whole, 'photos/same.bin')).ino).toBe(fs.statSync(path.join(whole, 'photos/big.bin')).ino);
    expect(fs.statSync(path.join(whole, 'config.yml')).uid).toBe(1234);

    // An older week's folder, into a fresh volume root: it lands at the same path below --to.
    const folder = path.join(lab.root, 'restored-folder');
    r = await restore(lab, ['files', '--week', '2026-W47', '--pvc', 'apps/app-data', '--path', 'docs/', '--to', folder]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('from week 2026-47') });
    expect(fs.readFileSync(path.join(folder, 'docs/a.txt'), 'utf8')).toBe('a, week 47\n');
    expect(fs.readFileSync(path.join(folder, 'docs/sub/b.txt'), 'utf8')).toBe('b\n');
    expect(fs.readdirSync(folder)).toEqual(['docs']);

    // One file of the older week over the whole restore: refused first, then replaced with --yes.
    r = await restore(lab, ['files', '--week', '2026-47', '--pvc', 'apps/app-data', '--path', 'config.yml', '--to', whole]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/1 existing files in .* would be replaced[^\n]*\n {2}>fc\.t\.{6} config\.yml\n/);
    expect(r.stderr).toContain('refusing to replace existing files without --yes; nothing changed');
    expect(fs.readFileSync(path.join(whole, 'config.yml'), 'utf8')).toBe('version: 2\n');
    let group = await pgw.group('daily-backup', 'restore-files');
    expect(group.get('backup_restore_last_run_success')?.value).toBe(0);
    expect(group.get('backup_restore_replaced_files')?.value).toBe(1);
    expect(group.get('backup_restore_last_run_success')?.labels).toMatchObject({ runner: 'host', engine: 'rsync' });

    r = await restore(lab, ['files', '--week', '2026-47', '--pvc', 'apps/app-data', '--path', 'config.yml', '--to', whole, '--yes']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('replacing 1 existing files (--yes)') });
    expect(fs.readFileSync(path.join(whole, 'config.yml'), 'utf8')).toBe('version: 1\n');
    // Nothing else moved: the rest is still week 48's.
    expect(fs.readFileSync(path.join(whole, 'docs/a.txt'), 'utf8')).toBe('a, week 48\n');
    group = await pgw.group('daily-backup', 'restore-files');
    expect(group.get('backup_restore_last_run_success')?.value).toBe(1);
    expect(group.get('backup_restore_duration_seconds')?.value).toBeGreaterThan(0);
    expect(group.get('backup_last_size_bytes')?.value).toBe(11);
    // The copies on the disk are untouched by all of this.
    expect(fs.readFileSync(path.join(newer, 'config.yml'), 'utf8')).toBe('version: 2\n');
    expect(execFileSync('find', [lab.backup, '-name', '.tmp.*']).toString()).toBe('');

    // A file changed in place with its size and time kept: rsync's quick check would take it for
    // the copy's own; the restore compares content and refuses.
    fs.writeFileSync(path.join(whole, 'docs/sub/b.txt'), 'c\n');
    fs.utimesSync(path.join(whole, 'docs/sub/b.txt'), MTIME, MTIME);
    r = await restore(lab, ['files', '--week', 'latest', '--pvc', 'apps/app-data', '--path', 'docs', '--to', whole]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\n {2}>fc\.{8} docs\/sub\/b\.txt\n/);
  });

  test('a file or folder of another type in the way, and a changed mode, count as replaced', async () => {
    const lab = newLab('restore-types');
    await weekCopy(lab, '2026-48', 'apps/app-data', { 'a/file.txt': 'x\n', 'b.txt': 'b\n', 'c.txt': 'c\n' });
    const to = path.join(lab.root, 'vol');
    fs.mkdirSync(path.join(to, 'b.txt'), { recursive: true });
    fs.writeFileSync(path.join(to, 'a'), 'a file where the copy has a folder\n');
    // The same content, owner and time as the copy's c.txt, another mode.
    fs.writeFileSync(path.join(to, 'c.txt'), 'c\n', { mode: 0o644 });
    fs.chownSync(path.join(to, 'c.txt'), 1234, 2345);
    fs.utimesSync(path.join(to, 'c.txt'), MTIME, MTIME);
    const r = await restore(lab, ['files', '--week', 'latest', '--pvc', 'apps/app-data', '--to', to]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/3 existing files in .* would be replaced/);
    expect(r.stderr).toMatch(/\n {2}\.f\.{3}p\.{5} c\.txt\n/);
    expect(r.stderr).toMatch(/\n {2}cd\+{9} a\/\n/);
    expect(r.stderr).toMatch(/\n {2}>f\+{9} b\.txt\n/);
    expect(fs.readFileSync(path.join(to, 'a'), 'utf8')).toBe('a file where the copy has a folder\n');
    expect((fs.statSync(path.join(to, 'c.txt')).mode & 0o777).toString(8)).toBe('644');
  });

  test('names with spaces, quotes, newlines, non-ASCII and leading dashes', async () => {
    const lab = newLab('restore-hostile');
    const tree: Tree = {};
    for (const name of HOSTILE) tree[`dir ${name}/${name}`] = `content of ${name}\n`;
    const copy = await weekCopy(lab, '2026-48', 'apps/app-data', tree);
    const to = path.join(lab.root, 'vol with space');

    // One file, named by its hostile path (leading dash and newline included).
    const one = `dir ${HOSTILE[4]}/${HOSTILE[4]}`;
    let r = await restore(lab, ['files', '--week', 'latest', '--pvc', 'apps/app-data', '--path', one, '--to', to]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('verified') });
    expect(fs.readFileSync(path.join(to, one), 'utf8')).toBe(`content of ${HOSTILE[4]}\n`);
    const nl = `dir ${HOSTILE[2]}/${HOSTILE[2]}`;
    r = await restore(lab, ['files', '--week', 'latest', '--pvc', 'apps/app-data', '--path', nl, '--to', to]);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(to, nl), 'utf8')).toBe(`content of ${HOSTILE[2]}\n`);
    // Every log line is one line: the newline of the name is quoted, never printed raw.
    for (const line of r.stderr.trimEnd().split('\n')) expect(line).toMatch(/^\d{4}-\d\d-\d\dT/);

    // The whole tree over it, after changing every restored file: each is listed (rsync's own
    // escaping, one line per name), refused, then replaced with --yes.
    for (const name of HOSTILE) {
      const p = path.join(to, `dir ${name}`, name);
      if (fs.existsSync(p)) fs.writeFileSync(p, 'changed since the backup\n');
    }
    r = await restore(lab, ['files', '--week', 'latest', '--pvc', 'apps/app-data', '--to', to]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('2 existing files');
    expect(r.stderr).toContain('new\\#012line.txt');
    r = await restore(lab, ['files', '--week', 'latest', '--pvc', 'apps/app-data', '--to', to, '--yes']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('verified') });
    expect(describeTree(to)).toEqual(describeTree(copy));
  });

  test('a symlink in the copy is restored as a link and never followed out of the tree', async () => {
    const lab = newLab('restore-symlink');
    const outside = path.join(lab.root, 'host-secrets');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'shadow'), 'root:secret\n');
    await weekCopy(lab, '2026-48', 'apps/app-data', { 'data/escape': { link: outside }, 'data/file.txt': 'ok\n', 'etc': { link: '/etc' } });
    const to = path.join(lab.root, 'vol');

    // Through the link: refused before anything is read.
    let r = await restore(lab, ['files', '--week', 'latest', '--pvc', 'apps/app-data', '--path', 'data/escape/shadow', '--to', to]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('data/escape is a symlink in the backup; not following it');
    expect(fs.existsSync(path.join(to, 'data/escape/shadow'))).toBe(false);
    r = await restore(lab, ['files', '--week', 'latest', '--pvc', 'apps/app-data', '--path', 'etc/passwd', '--to', to]);
    expect(r.code).toBe(1);
    expect(fs.existsSync(to)).toBe(false);

    // Named itself, or in a whole restore: the link comes back as a link.
    r = await restore(lab, ['files', '--week', 'latest', '--pvc', 'apps/app-data', '--path', 'data/escape/', '--to', to]);
    expect(r.code).toBe(0);
    expect(fs.readlinkSync(path.join(to, 'data/escape'))).toBe(outside);
    const whole = path.join(lab.root, 'whole');
    r = await restore(lab, ['files', '--week', 'latest', '--pvc', 'apps/app-data', '--to', whole]);
    expect(r.code).toBe(0);
    expect(describeTree(whole)).toEqual({
      data: expect.stringMatching(/^dir /),
      'data/escape': `link -> ${outside}`,
      'data/file.txt': expect.stringMatching(/^file 640 1234:2345 /),
      etc: 'link -> /etc',
    });

    // A symlink in the target where the copy has a folder is replaced, not written through.
    const vol = path.join(lab.root, 'vol2');
    fs.mkdirSync(vol);
    fs.symlinkSync(outside, path.join(vol, 'data'));
    r = await restore(lab, ['files', '--week', 'latest', '--pvc', 'apps/app-data', '--path', 'data/file.txt', '--to', vol]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\n {2}cd\+{9} data\/\n/);
    r = await restore(lab, ['files', '--week', 'latest', '--pvc', 'apps/app-data', '--path', 'data/file.txt', '--to', vol, '--yes']);
    expect(r.code).toBe(0);
    expect(fs.lstatSync(path.join(vol, 'data')).isDirectory()).toBe(true);
    expect(fs.readdirSync(outside)).toEqual(['shadow']);
  });

  test('refuses a target on the backup disk, a missing week, bad names and an unmounted disk', async () => {
    const lab = newLab('restore-refusals');
    await weekCopy(lab, '2026-48', 'apps/app-data', { 'f.txt': 'f\n' });
    const cases: [string[], number, string][] = [
      [['--to', path.join(lab.backup, 'restored')], 1, 'is on the backup disk'],
      [['--to', path.join(lab.backup, 'pvc-data/../x')], 1, 'is on the backup disk'],
      [['--to', lab.root], 1, 'contains the backup disk'],
      [['--to', path.join(lab.root, 'ok'), '--path', '../../etc/passwd'], 64, "--path must not contain '..'"],
      [['--to', path.join(lab.root, 'ok'), '--path', '/etc/passwd'], 64, '--path must be relative'],
    ];
    for (const [extra, code, message] of cases) {
      const r = await restore(lab, ['files', '--week', 'latest', '--pvc', 'apps/app-data', ...extra]);
      expect({ extra, code: r.code, stderr: r.stderr }).toEqual({ extra, code, stderr: expect.stringContaining(message) });
    }
    let r = await restore(lab, ['files', '--week', '2026-30', '--pvc', 'apps/app-data', '--to', path.join(lab.root, 'ok')]);
    expect(r.stderr).toContain('week 2026-30 holds no copy of apps/app-data');
    r = await restore(lab, ['files', '--week', '48', '--pvc', 'apps/app-data', '--to', path.join(lab.root, 'ok')]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 64, stderr: expect.stringContaining('--week must be YYYY-WW') });
    r = await restore(lab, ['files', '--week', 'latest', '--pvc', '../x', '--to', path.join(lab.root, 'ok')]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 64, stderr: expect.stringContaining('--pvc must be NAMESPACE/PVC') });
    r = await restore(lab, ['list', '--pvc', 'apps/app-data']);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: `weeks holding apps/app-data in ${lab.backup}/pvc-data (newest first):\n  2026-48\n` });
    expect(fs.existsSync(path.join(lab.root, 'ok'))).toBe(false);

    execFileSync('umount', [lab.backup]);
    r = await restore(lab, ['files', '--week', 'latest', '--pvc', 'apps/app-data', '--to', path.join(lab.root, 'ok')]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 1, stderr: expect.stringContaining('is not a mount point') });
  });

  test('waits for a running daily-backup (its lock) before reading the copy', async () => {
    const lab = newLab('restore-lock');
    await weekCopy(lab, '2026-48', 'apps/app-data', { 'f.txt': 'f\n' });
    fs.mkdirSync(path.join(lab.state, 'locks'), { recursive: true });
    const lock = path.join(lab.state, 'locks/daily-backup.lock');
    const holder = spawn('flock', [lock, 'sleep', '2']);
    await waitUntil(() => execFileSync('bash', ['-c', `flock -n ${lock} true && echo free || echo held`]).toString().trim() === 'held', 5000, 'lock held');
    const started = Date.now();
    const r = await restore(lab, ['files', '--week', 'latest', '--pvc', 'apps/app-data', '--to', path.join(lab.root, 'vol')]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('a daily-backup run is in progress; waiting') });
    expect(Date.now() - started).toBeGreaterThan(1000);
    if (holder.exitCode === null) await new Promise((res) => holder.once('exit', res));
  });
});

/** A WAL-mode database with commits only in its -wal (the writer is killed before a checkpoint). */
async function liveWalDatabase(file: string, rows: string[]): Promise<void> {
  const writer: ChildProcessWithoutNullStreams = spawn('sqlite3', [file]);
  let out = '';
  writer.stdout.on('data', (d: Buffer) => (out += d.toString()));
  writer.stdin.write(
    [
      'PRAGMA journal_mode=WAL;',
      'PRAGMA wal_autocheckpoint=0;',
      'CREATE TABLE entries (id INTEGER PRIMARY KEY, body TEXT NOT NULL);',
      ...rows.map((r) => `INSERT INTO entries (body) VALUES ('${r}');`),
      '.print ready',
      '',
    ].join('\n'),
  );
  await waitUntil(() => out.includes('ready'), 10000, 'sqlite3 writer');
  writer.kill('SIGKILL');
  await new Promise((r) => writer.once('exit', r));
  expect(fs.statSync(`${file}-wal`).size).toBeGreaterThan(0);
}

const sqlite = (db: string, sql: string) => runOk('sqlite3', ['-bail', db, sql]);

describe('host-restore sqlite', () => {
  /** sqlite-backup/<ns>/<pvc>/<rel>/sqlite_<ts>.sqlite3 as daily-backup writes it (VACUUM INTO). */
  async function sqliteCopy(lab: Lab, rel: string, ts: string, rows: string[]): Promise<string> {
    const dir = path.join(lab.backup, 'sqlite-backup', rel);
    fs.mkdirSync(dir, { recursive: true });
    const work = path.join(fs.mkdtempSync(path.join(lab.root, 'sq-')), 'db');
    await sqlite(work, `CREATE TABLE entries (id INTEGER PRIMARY KEY, body TEXT NOT NULL); ${rows.map((r) => `INSERT INTO entries (body) VALUES ('${r}');`).join(' ')}`);
    const copy = path.join(dir, `sqlite_${ts}.sqlite3`);
    await sqlite(work, `VACUUM INTO '${copy.replace(/'/g, "''")}'`);
    fs.chmodSync(copy, 0o600);
    return copy;
  }

  test('replaces a live WAL-mode database: stale -wal/-shm moved aside with it, owner, mode and WAL mode kept', async () => {
    const lab = newLab('sqlite-wal');
    const db = `apps/app-data/my app/it's ✓.db`;
    await sqliteCopy(lab, db, '20261101T000000Z', ['old copy']);
    await sqliteCopy(lab, db, '20261102T000000Z', ['restored 1', 'restored 2']);
    const vol = path.join(lab.root, 'vol');
    const target = path.join(vol, "my app/it's ✓.db");
    fs.mkdirSync(path.dirname(target), { recursive: true });
    await liveWalDatabase(target, ['live 1', 'live 2', 'live 3']);
    for (const f of [target, `${target}-wal`, `${target}-shm`]) {
      fs.chownSync(f, 1000, 1000);
      fs.chmodSync(f, 0o660);
    }
    const before = fs.readFileSync(`${target}-wal`);

    let r = await restore(lab, ['sqlite', '--db', db, '--to', target]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('refusing to replace an existing database without --yes; nothing changed');
    // Each name shell-quoted on its own line: the database, its -wal and its -shm.
    expect(r.stderr).toMatch(/\n {2}\$'[^\n]*my app[^\n]*\.db'\n {2}[^\n]*\.db-wal'\n {2}[^\n]*\.db-shm'\n/);
    expect(fs.readFileSync(`${target}-wal`)).toEqual(before);

    r = await restore(lab, ['sqlite', '--db', db, '--to', target, '--yes']);
    expect({ code: r.code, stderr: r.stderr, leftovers: r.tmpLeftovers }).toEqual({ code: 0, stderr: expect.stringContaining('integrity_check ok'), leftovers: [] });
    expect(r.stderr).toContain('from sqlite_20261102T000000Z.sqlite3');
    // No -wal or -shm of the old database beside the new one.
    const names = fs.readdirSync(path.dirname(target)).sort();
    const aside = names.find((n) => /^it's ✓\.db\.replaced-\d{8}T\d{6}Z$/.test(n))!;
    expect(names).toEqual([`it's ✓.db`, aside, `${aside}-shm`, `${aside}-wal`].sort());
    expect(await sqlite(target, 'SELECT body FROM entries ORDER BY id;')).toBe('restored 1\nrestored 2\n');
    expect(await sqlite(target, 'PRAGMA journal_mode;')).toBe('wal\n');
    expect(await sqlite(target, 'PRAGMA integrity_check;')).toBe('ok\n');
    const st = fs.statSync(target);
    expect({ uid: st.uid, gid: st.gid, mode: (st.mode & 0o777).toString(8) }).toEqual({ uid: 1000, gid: 1000, mode: '660' });
    // The replaced database still opens with every commit its WAL held.
    expect(await sqlite(path.join(path.dirname(target), aside), 'SELECT count(*) FROM entries;')).toBe('3\n');
    const group = await pgw.group('daily-backup', 'restore-sqlite');
    expect(group.get('backup_restore_last_run_success')?.value).toBe(1);
    expect(group.get('backup_restore_last_run_success')?.labels).toMatchObject({ runner: 'host', engine: 'sqlite' });
    expect(execFileSync('find', [lab.backup, vol, '-name', '.tmp.*']).toString()).toBe('');

    // An older copy by name into a new file: the folder's owner, mode 0640.
    const fresh = path.join(vol, 'fresh', 'new.db');
    fs.mkdirSync(path.dirname(fresh));
    fs.chownSync(path.dirname(fresh), 1000, 1000);
    r = await restore(lab, ['sqlite', '--db', db, '--copy', 'sqlite_20261101T000000Z.sqlite3', '--to', fresh]);
    expect(r.code).toBe(0);
    expect(await sqlite(fresh, 'SELECT body FROM entries;')).toBe('old copy\n');
    expect((fs.statSync(fresh).mode & 0o777).toString(8)).toBe('640');
    expect(fs.statSync(fresh).uid).toBe(1000);
  });

  test('a corrupt copy, a manifest mismatch, a symlinked target and a target on the disk are refused', async () => {
    const lab = newLab('sqlite-refusals');
    const copy = await sqliteCopy(lab, 'apps/app-data/db.sqlite3', '20261102T000000Z', ['a', 'b']);
    const vol = path.join(lab.root, 'vol');
    fs.mkdirSync(vol);

    // The manifest the backup writes beside each copy: a wrong row count fails, naming the table.
    const b2 = execFileSync('b2sum', [copy]).toString().split(' ')[0];
    const manifest = (rows: number) => JSON.stringify({ format: 1, service: 'daily-backup', engine: 'sqlite', kind: 'snapshot', copy: path.basename(copy), createdAt: '2026-11-02T00:00:00Z', bytes: fs.statSync(copy).size, blake2b: b2, databases: { main: { tables: { entries: rows } } } });
    fs.writeFileSync(`${copy}.manifest.json`, manifest(3));
    let r = await restore(lab, ['sqlite', '--db', 'apps/app-data/db.sqlite3', '--to', path.join(vol, 'db.sqlite3')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('table "entries": expected 3 rows, got 2');
    expect(fs.readdirSync(vol)).toEqual([]);
    fs.writeFileSync(`${copy}.manifest.json`, manifest(2));
    r = await restore(lab, ['sqlite', '--db', 'apps/app-data/db.sqlite3', '--to', path.join(vol, 'db.sqlite3')]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('row counts match the manifest') });

    fs.symlinkSync('/etc/hostname', path.join(vol, 'link.db'));
    r = await restore(lab, ['sqlite', '--db', 'apps/app-data/db.sqlite3', '--to', path.join(vol, 'link.db'), '--yes']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 1, stderr: expect.stringContaining('is a symlink; not following it') });
    r = await restore(lab, ['sqlite', '--db', 'apps/app-data/db.sqlite3', '--to', path.join(lab.backup, 'x.db')]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 1, stderr: expect.stringContaining('is on the backup disk') });

    // A copy damaged on the disk: nothing is written.
    const fd = fs.openSync(copy, 'r+');
    fs.writeSync(fd, Buffer.alloc(4096, 0xff), 0, 4096, 4096);
    fs.closeSync(fd);
    fs.rmSync(`${copy}.manifest.json`);
    r = await restore(lab, ['sqlite', '--db', 'apps/app-data/db.sqlite3', '--to', path.join(vol, 'other.db')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('fails integrity_check');
    expect(fs.existsSync(path.join(vol, 'other.db'))).toBe(false);
  });
});

describe('the command backup-policy host-restore prints', () => {
  test('runs on the host as printed, with the policy\'s install dir and backup disk', async () => {
    const lab = newLab('restore-cli');
    const copy = await weekCopy(lab, '2026-48', 'apps/app-data', { [`dir/${HOSTILE[2]}`]: 'x\n', [`dir/${HOSTILE[4]}`]: 'y\n' });
    // The policy the CLI reads: the lab's host section, installed where the scripts are.
    const policyFile = path.join(lab.root, 'policy.json');
    fs.writeFileSync(policyFile, JSON.stringify({ ...samplePolicy(), host: { ...labHost(lab.root, { pushgateway: { url: pgw.url } }), installDir: SCRIPTS_DIR } }));
    const to = path.join(lab.root, 'vol');
    const printed = execFileSync(process.execPath, [path.join(packageRoot(), 'bin/backup-policy.js'), 'host-restore', 'files', '--policy', policyFile, '--pvc', 'apps/app-data', '--path', `dir/${HOSTILE[2]}`, '--to', to], { encoding: 'utf8' });
    const command = printed.trimEnd().split('\n').at(-1)!;
    expect(command.startsWith(`${SCRIPTS_DIR}/host-restore.sh files `)).toBe(true);
    const r = spawnSync('bash', ['-c', command], { env: { PATH: process.env.PATH!, ...labEnv(lab) }, encoding: 'utf8' });
    expect({ code: r.status, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('verified') });
    expect(fs.readdirSync(path.join(to, 'dir'))).toEqual([HOSTILE[2]]);
    expect(fs.readFileSync(path.join(to, 'dir', HOSTILE[2]), 'utf8')).toBe(fs.readFileSync(path.join(copy, 'dir', HOSTILE[2]), 'utf8'));
  });
});

describe('host-restore after a real daily-backup run', () => {
  test('the PVC\'s files and its WAL database come back as the application wrote them', async () => {
    const lab = newLab('restore-e2e');
    await lvm(lab, 'lvm', ['fake-setup', 'vg', 'pve', 'data']);
    const work = fs.mkdtempSync(path.join(lab.root, 'app-'));
    await liveWalDatabase(path.join(work, 'db.sqlite3'), ['one', 'two']);
    const files: Record<string, Buffer | string> = {
      'config.yml': 'version: 1\n',
      'photos/big.bin': Buffer.alloc(300 * 1024, 3),
      [`${HOSTILE[0]}`]: 'spaced\n',
      'app/db.sqlite3': fs.readFileSync(path.join(work, 'db.sqlite3')),
      'app/db.sqlite3-wal': fs.readFileSync(path.join(work, 'db.sqlite3-wal')),
    };
    await addVolume(lab, 'vm-9999-pvc-aaaa', files);
    setCluster(lab, [['vm-9999-pvc-aaaa', 'apps', 'app-data']]);
    let r = await runHost(lab, 'lvm-pvc-snapshot.sh', ['snapshot']);
    expect(r.code).toBe(0);
    r = await runHost(lab, 'daily-backup.sh');
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('finished successfully') });

    const to = path.join(lab.root, 'restored');
    r = await restore(lab, ['files', '--week', 'latest', '--pvc', 'apps/app-data', '--to', to]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('verified') });
    for (const [rel, data] of Object.entries(files)) expect(fs.readFileSync(path.join(to, rel))).toEqual(Buffer.from(data));

    const target = path.join(lab.root, 'vol/db.sqlite3');
    fs.mkdirSync(path.dirname(target));
    await liveWalDatabase(target, ['something else']);
    r = await restore(lab, ['sqlite', '--db', 'apps/app-data/app/db.sqlite3', '--to', target, '--yes']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('integrity_check ok') });
    // The rows that were only in the snapshot's WAL are in the restored database.
    expect(await sqlite(target, 'SELECT body FROM entries ORDER BY id;')).toBe('one\ntwo\n');
  });
});
