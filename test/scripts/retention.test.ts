import * as fs from 'node:fs';
import * as path from 'node:path';
import { allFiles, backupTimestamp, makeBackupDir, runLibFunction } from '../support/run-script';

const DAY = 86400;
const dirs: string[] = [];

afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** `dump_<ts>.sql.zst` for a copy made `days` ago (fractions allowed; negative = future). */
function dumpName(days: number, prefix = 'dump_', suffix = '.sql.zst'): string {
  return `${prefix}${backupTimestamp(new Date(Date.now() - days * DAY * 1000))}${suffix}`;
}

/** Files retention must never touch, whatever their age and the settings. */
function foreignFiles(): string[] {
  return [
    `.tmp.${dumpName(400)}.AbC123`, // work in progress of a run
    `${dumpName(400)}.rejected`, // a size-check rejection, kept for an operator
    'dump_2020.sql.zst', // timestamp of the wrong shape
    'dump_20200101T000000.sql.zst', // no Z
    `${dumpName(400)}.bak`, // someone's manual copy
    dumpName(400, 'other_'), // another series in the same dir
    dumpName(400, 'dump_', '.sql'), // another suffix
    'README',
  ];
}

function retention(dir: string, keepLast: number | string, keepWithinSeconds: number | string) {
  return runLibFunction('backup_retention', [dir, 'dump_', '.sql.zst'], {
    env: {
      BACKUP_KEEP_LAST: String(keepLast),
      BACKUP_KEEP_WITHIN_SECONDS: String(keepWithinSeconds),
      BACKUP_SERVICE: 'retention-test',
      BACKUP_KIND: 'full',
    },
  });
}

interface Case {
  name: string;
  /** Ages in days of the copies in the series. */
  ages: number[];
  keepLast: number;
  keepWithinDays: number;
  /** Ages expected to survive. */
  kept: number[];
}

const cases: Case[] = [
  {
    name: 'keeps the newest N and everything recent, deletes the old rest',
    ages: [0.5, 1, 2, 3, 10, 20, 30],
    keepLast: 3,
    keepWithinDays: 7,
    kept: [0.5, 1, 2, 3],
  },
  {
    // The incident this rule exists for: dumps kept failing, every good copy aged out.
    name: 'keeps the newest N even when all of them are older than the window',
    ages: [30, 40, 50, 60, 70],
    keepLast: 2,
    keepWithinDays: 7,
    kept: [30, 40],
  },
  {
    name: 'with no time window keeps exactly N',
    ages: [1, 2, 3, 4],
    keepLast: 1,
    keepWithinDays: 0,
    kept: [1],
  },
  {
    name: 'deletes nothing when N covers the series',
    ages: [100, 200, 300],
    keepLast: 5,
    keepWithinDays: 1,
    kept: [100, 200, 300],
  },
  {
    name: 'keeps everything inside the window even beyond N',
    ages: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
    keepLast: 2,
    keepWithinDays: 1,
    kept: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
  },
  {
    name: 'never deletes the newest, however old',
    ages: [900],
    keepLast: 1,
    keepWithinDays: 0,
    kept: [900],
  },
  {
    // A copy stamped in the future (clock skew) counts as newest and is not "old".
    name: 'orders by the timestamp in the name, not by file mtime',
    ages: [-1, 5, 6],
    keepLast: 1,
    keepWithinDays: 2,
    kept: [-1],
  },
];

describe('backup_retention', () => {
  it.each(cases)('$name', async (c) => {
    const dir = makeBackupDir('ret');
    dirs.push(dir);
    const names = new Map(c.ages.map((a) => [a, dumpName(a)]));
    // mtimes opposite to the names' order: only the names may decide.
    c.ages.forEach((a, i) => {
      const f = path.join(dir, names.get(a)!);
      fs.writeFileSync(f, 'copy');
      const t = new Date(Date.now() - (c.ages.length - i) * 1000);
      fs.utimesSync(f, t, t);
    });
    const foreign = foreignFiles();
    for (const f of foreign) fs.writeFileSync(path.join(dir, f), 'foreign');
    // A directory and a symlink that look like members of the series.
    const lookalikes = [dumpName(500), dumpName(501)];
    fs.mkdirSync(path.join(dir, lookalikes[0]));
    fs.symlinkSync('/etc/hostname', path.join(dir, lookalikes[1]));

    const r = await retention(dir, c.keepLast, c.keepWithinDays * DAY);
    expect(r.stderr).not.toContain('ERROR');
    expect(r.code).toBe(0);

    const expected = [...c.kept.map((a) => names.get(a)!), ...foreign, ...lookalikes].sort();
    expect(allFiles(dir).sort()).toEqual(expected);
    const deleted = c.ages.filter((a) => !c.kept.includes(a));
    for (const a of deleted) expect(r.stderr).toContain(`deleted ${dir}/${names.get(a)}`);
  });

  it.each([
    ['0', 'BACKUP_KEEP_LAST must be an integer >= 1'],
    ['-1', 'BACKUP_KEEP_LAST must be an integer >= 1'],
    ['', 'BACKUP_KEEP_LAST must be an integer >= 1'],
  ])('refuses BACKUP_KEEP_LAST=%p and deletes nothing', async (keepLast, message) => {
    const dir = makeBackupDir('ret-bad');
    dirs.push(dir);
    const files = [dumpName(100), dumpName(200)];
    for (const f of files) fs.writeFileSync(path.join(dir, f), 'copy');
    const r = await retention(dir, keepLast, 0);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(message);
    expect(allFiles(dir).sort()).toEqual(files.sort());
  });

  it('refuses a non-numeric BACKUP_KEEP_WITHIN_SECONDS and deletes nothing', async () => {
    const dir = makeBackupDir('ret-bad-within');
    dirs.push(dir);
    const files = [dumpName(100), dumpName(200)];
    for (const f of files) fs.writeFileSync(path.join(dir, f), 'copy');
    const r = await retention(dir, 1, '7d');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('BACKUP_KEEP_WITHIN_SECONDS must be an integer');
    expect(allFiles(dir).sort()).toEqual(files.sort());
  });

  it('treats the directory of one series independently of another prefix in it', async () => {
    const dir = makeBackupDir('ret-two');
    dirs.push(dir);
    const db = [dumpName(10, 'db_', '.sqlite3'), dumpName(20, 'db_', '.sqlite3')];
    const files = [dumpName(10, 'files_', '.tar.zst'), dumpName(20, 'files_', '.tar.zst')];
    for (const f of [...db, ...files]) fs.writeFileSync(path.join(dir, f), 'x');
    const r = await runLibFunction('backup_retention', [dir, 'db_', '.sqlite3'], {
      env: { BACKUP_KEEP_LAST: '1', BACKUP_KEEP_WITHIN_SECONDS: '0' },
    });
    expect(r.code).toBe(0);
    expect(allFiles(dir).sort()).toEqual([db[0], ...files].sort());
  });
});
