import { parsePolicy } from '../../policy/parse/parse';
import { PolicyValidationError } from '../../policy/values/errors';
import { maximalPolicy } from './maximal-policy';

/**
 * What the host jobs touch is checked at the parse: the daily backup copies pveConfig.paths onto
 * the backup disk (["/"] copied the root filesystem, the backup disk included, into itself) and the
 * offsite sync truncates the change log (any file the policy names).
 */
function issuesWith(edit: (host: any) => void): string[] {
  const policy = maximalPolicy() as any;
  edit(policy.host);
  try {
    parsePolicy(policy);
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyValidationError);
    return (error as PolicyValidationError).issues;
  }
}

test.each([
  ['the root filesystem', ['/etc/pve', '/'], 'host.fileBackup.pveConfig.paths[1]: a PVE config path must be configuration, not the whole root filesystem'],
  ['a tree holding the backup disk', ['/mnt'], 'host.fileBackup.pveConfig.paths[0]: a PVE config path must be configuration, not a tree holding the backup disk "/mnt/backup"'],
  ['a folder on the backup disk', ['/mnt/backup/pve'], 'host.fileBackup.pveConfig.paths[0]: a PVE config path must be configuration, not a folder on the backup disk'],
  ['an NFS tree', ['/srv'], 'host.fileBackup.pveConfig.paths[0]: a PVE config path must be configuration, not an NFS tree'],
])('pveConfig.paths refuses %s', (_what, paths, message) => {
  expect(issuesWith((h) => (h.fileBackup.pveConfig = { paths }))).toEqual([expect.stringContaining(message)]);
});

test.each(['/etc/passwd', '/mnt/backup', '/var/log', '/root/.ssh/authorized_keys', '/usr/local/bin/backup'])('the change log cannot be %s', (changeLog) => {
  expect(issuesWith((h) => (h.offsite.changeLog = changeLog))).toEqual([
    expect.stringMatching(/^host\.offsite\.changeLog: the offsite sync truncates the change log, so it must be a file of its own, received ".*", allowed: a file under the backup disk "\/mnt\/backup", \/var\/lib, \/var\/log, \/var\/cache or \/run$/),
  ]);
});

test.each(['/mnt/backup/.nfs-changes.log', '/var/lib/backup-policy/nfs-changes.log', '/var/log/nfs-changes.log'])('the change log may be %s', (changeLog) => {
  expect(issuesWith((h) => (h.offsite.changeLog = changeLog))).toEqual([]);
});

test('configuration folders stay accepted', () => {
  expect(issuesWith((h) => (h.fileBackup.pveConfig = { paths: ['/etc/pve', '/usr/local/bin', '/etc/systemd/system'] }))).toEqual([]);
});
