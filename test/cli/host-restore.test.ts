/**
 * `backup-policy host-restore`: the command it prints for the Proxmox host, with the bundled
 * homelab policy's paths, read back by bash exactly as typed (names with quotes, newlines, dashes).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../policy/io/scripts';

const root = packageRoot();
const cli = (args: string[]) => {
  const r = spawnSync(process.execPath, [join(root, 'bin/backup-policy.js'), ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

/** The arguments bash passes to the printed command (its last line), NUL-separated. */
function argsOf(commandLine: string): string[] {
  const script = '/usr/local/lib/backup-policy/host-restore.sh';
  expect(commandLine.startsWith(`${script} `)).toBe(true);
  const r = spawnSync('bash', ['-c', `f() { printf '%s\\0' "$@"; }; f ${commandLine.slice(script.length + 1)}`], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  return r.stdout.split('\0').slice(0, -1);
}

describe('host-restore', () => {
  test('files: where it runs, what it reads, and the command with the policy\'s install dir', () => {
    const r = cli(['host-restore', 'files', '--week', '2026-W47', '--pvc', 'apps/app-data', '--path', 'photos/2026', '--to', '/mnt/restore']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toBe(
      [
        '# Run as root on the Proxmox host pve: ssh root@192.168.1.127',
        "# Reads /mnt/backup/pvc-data/<week>/<--pvc>/ (daily-backup's weekly copies, 4 weeks kept); the disk is named in /etc/backup-policy/host.env.",
        '# Restoring in place: scale the workload using the PVC to 0 and mount its volume first; --to is the',
        "# volume's root (--path lands at <--to>/<--path>). Files in --to that the copy lacks are left alone.",
        '# Without --yes nothing existing is replaced: the command lists what it would replace and stops.',
        '/usr/local/lib/backup-policy/host-restore.sh files --week 2026-W47 --pvc apps/app-data --path photos/2026 --to /mnt/restore',
        '',
      ].join('\n'),
    );
  });

  test('hostile names reach the host command unchanged, on one line', () => {
    const path = `-dir/it's "quoted"/new\nline/naïve ✓\\n $(touch /tmp/x)`;
    const r = cli(['host-restore', 'files', '--pvc', 'apps/app-data', '--path', path, '--to', '/mnt/re store', '--yes']);
    expect(r.code).toBe(0);
    const last = r.stdout.trimEnd().split('\n').at(-1)!;
    expect(argsOf(last)).toEqual(['files', '--week', 'latest', '--pvc', 'apps/app-data', '--path', path, '--to', '/mnt/re store', '--yes']);
    expect(r.stdout).toContain('# --yes: existing files are replaced');
  });

  test('sqlite and list', () => {
    let r = cli(['host-restore', 'sqlite', '--db', "vaultwarden/vw-data/db's.sqlite3", '--copy', 'sqlite_20261102T000000Z.sqlite3', '--to', '/mnt/vw/db.sqlite3']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("# Reads the copies in /mnt/backup/sqlite-backup/<--db>/ (daily-backup's SQLite copies)");
    expect(argsOf(r.stdout.trimEnd().split('\n').at(-1)!)).toEqual(['sqlite', '--db', "vaultwarden/vw-data/db's.sqlite3", '--copy', 'sqlite_20261102T000000Z.sqlite3', '--to', '/mnt/vw/db.sqlite3']);
    r = cli(['host-restore', 'list', '--pvc', 'apps/app-data']);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('/usr/local/lib/backup-policy/host-restore.sh list --pvc apps/app-data');
  });

  test.each([
    [['files', '--pvc', 'apps/x', '--to', '/mnt/backup/restore'], '--to "/mnt/backup/restore" is on the backup disk /mnt/backup, allowed: a folder outside it'],
    [['files', '--pvc', 'apps/x', '--to', '/mnt'], '--to "/mnt" contains the backup disk /mnt/backup, allowed: a folder of its own'],
    [['files', '--pvc', 'apps/x', '--to', 'relative'], '--to must be an absolute path on the host, received "relative"'],
    [['files', '--week', '47', '--pvc', 'apps/x', '--to', '/r'], '--week must be YYYY-WW'],
    [['files', '--pvc', 'apps/x/y', '--to', '/r'], '--pvc must be NAMESPACE/PVC as in pvc-data/<week>/, received "apps/x/y"'],
    [['files', '--pvc', 'apps/x', '--path', '../etc', '--to', '/r'], '--path must be a file or folder relative to the PVC\'s root, without "..", received "../etc"'],
    [['files', '--to', '/r'], 'host-restore files needs --pvc'],
    [['files', '--pvc', 'a/b', '--to', '/r', '--copy', 'x'], 'host-restore files does not take --copy'],
    [['sqlite', '--db', 'a/b', '--to', '/r/db'], '--db must be NAMESPACE/PVC/PATH'],
    [['sqlite', '--db', 'a/b/c', '--copy', 'dump.sql', '--to', '/r/db'], '--copy must be latest or a copy\'s name'],
    [['list', '--pvc', 'a/b', '--db', 'a/b/c'], 'list takes either --pvc NAMESPACE/PVC or --db NAMESPACE/PVC/PATH'],
    [['restore-it'], 'host-restore takes files, sqlite or list first, received "restore-it"'],
  ])('%j is refused: %s', (args, message) => {
    const r = cli(['host-restore', ...args]);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: '' });
    expect(r.stderr.split('\n')[0]).toContain(message);
  });

  test('restore host points to host-restore (host is a valid service id, so it is not a mode of restore)', () => {
    const r = cli(['restore', 'host']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no service "host" in the policy; services: ');
    expect(r.stderr).toContain("the Proxmox host's file and SQLite copies: backup-policy host-restore files|sqlite ...");
  });
});
