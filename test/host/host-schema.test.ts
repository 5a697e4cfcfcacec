import { parsePolicy } from '../../policy/parse/parse';
import { planParsedPolicy, planPolicy } from '../../policy/plan/plan';
import { PolicyValidationError } from '../../policy/values/errors';
import { homelabPolicy } from '../../stacks/homelab-policy';
import { samplePolicy } from '../support/policies';
import { labHost } from './host-lab';

function issuesOf(input: unknown): string[] {
  try {
    parsePolicy(input);
  } catch (error) {
    if (error instanceof PolicyValidationError) return error.issues;
    throw error;
  }
  throw new Error('expected the policy to be rejected');
}

/** The sample cluster policy plus a valid host section, edited by `edit`. */
function withHost(edit: (host: any) => void): unknown {
  const host = structuredClone(labHost('/srv/lab')) as any;
  edit(host);
  return { ...samplePolicy(), host };
}

describe('the host section', () => {
  test('is optional: a policy without one stays valid and plans no host', () => {
    const parsed = parsePolicy(samplePolicy());
    expect(parsed.host).toBeUndefined();
    expect(planParsedPolicy(parsed).host).toBeUndefined();
  });

  test('fills in defaults', () => {
    const parsed = parsePolicy(withHost((h) => {
      delete h.snapshots.lvPattern;
      delete h.snapshots.minFreePercent;
      delete h.fileBackup.weeklyGenerations;
      delete h.offsite.fullSync;
      delete h.timeZone;
    }));
    const host = parsed.host!;
    expect([host.snapshots.lvPattern, host.snapshots.minFreePercent, host.fileBackup.weeklyGenerations, host.offsite.fullSync]).toEqual(['vm-*-pvc-*', 15, 4, 'first-sunday']);
    expect([host.installDir, host.randomizedDelay.toString(), host.offsite.nas.port, host.offsite.nas.user]).toEqual(['/usr/local/lib/backup-policy', '5m', 22, 'root']);
    const sqlite = host.fileBackup.sqlite;
    expect([sqlite.retention.keepWithin.toString(), sqlite.retention.keepLast, sqlite.minSizeRatio]).toEqual(['28d', 4, 0.5]);
    // The host's zone defaults to the policy's.
    expect(planParsedPolicy(parsed).host!.timeZone).toBe('Europe/London');
  });

  test('the bundled homelab declares the spec\'s host', () => {
    const plan = planPolicy(homelabPolicy).host!;
    expect(plan.jobs.map((j) => [j.name, j.onCalendar, j.staleAfter.toHuman()])).toEqual([
      ['lvm-pvc-snapshot', '*-*-* 03:00:00 Europe/London', '36 hours'],
      ['daily-backup', '*-*-* 05:00:00 Europe/London', '36 hours'],
      ['offsite-sync-backup', '*-*-* 06:00:00 Europe/London', '36 hours'],
    ]);
    expect(Object.fromEntries(plan.config)).toEqual(expect.objectContaining({
      LVM_VG: 'pve',
      LVM_THIN_POOL: 'data',
      LVM_EXCLUDE_NAMESPACES: 'dbaas monitoring',
      LVM_SNAPSHOT_RETENTION_SECONDS: String(7 * 86400),
      BACKUP_DISK: '/mnt/backup',
      NAS_HOST: '192.168.1.13',
      OFFSITE_SOURCES: '/srv/nfs=/Backup/Viki/nfs /srv/nfs-ssd=/Backup/Viki/nfs-ssd',
      CHANGE_LOG: '/mnt/backup/.nfs-changes.log',
      PUSHGATEWAY_URL: 'http://192.168.1.127:30091',
    }));
  });
});

/** One row per host rule: the edit, the dotted path reported, words the message must contain. */
describe('fails when', () => {
  test.each<[string, (h: any) => void, string, string[]]>([
    ['the host name is not a DNS label', (h) => (h.name = 'PVE host'), 'host.name', ['not a DNS-1123 label', '"PVE host"']],
    ['the address is not a host', (h) => (h.address = 'pve;reboot'), 'host.address', ['not a host name', '"pve;reboot"']],
    ['the host time zone is unknown', (h) => (h.timeZone = 'Europe/Atlantis'), 'host.timeZone', ['unknown time zone', '"Europe/Atlantis"', 'IANA']],
    ['the pushgateway URL carries credentials', (h) => (h.pushgateway.url = 'http://u:p@192.168.1.127:30091'), 'host.pushgateway.url', ['not a plain http(s) URL']],
    ['the volume group is not an LVM name', (h) => (h.snapshots.volumeGroup = 'pve data'), 'host.snapshots.volumeGroup', ['not an LVM name', '"pve data"']],
    ['the thin pool starts with a dash', (h) => (h.snapshots.thinPool = '-data'), 'host.snapshots.thinPool', ['not an LVM name', '"-data"']],
    ['the LV pattern has no wildcard', (h) => (h.snapshots.lvPattern = 'vm-100-disk-0'), 'host.snapshots.lvPattern', ['not an LV name pattern', 'at least one * or ?']],
    ['the LV pattern has shell characters', (h) => (h.snapshots.lvPattern = 'vm-*;rm'), 'host.snapshots.lvPattern', ['not an LV name pattern', '"vm-*;rm"']],
    ['an excluded namespace is not a DNS label', (h) => (h.snapshots.excludeNamespaces = ['DBaaS']), 'host.snapshots.excludeNamespaces[0]', ['not a DNS-1123 label', '"DBaaS"']],
    ['the snapshot schedule is not a schedule', (h) => (h.snapshots.schedule = 'nightly'), 'host.snapshots.schedule', ['not a recognized shorthand', '"nightly"']],
    ['the snapshot retention is not a duration', (h) => (h.snapshots.retention = '7 days'), 'host.snapshots.retention', ['not a duration', '"7 days"']],
    ['the free-space floor is above 100', (h) => (h.snapshots.minFreePercent = 150), 'host.snapshots.minFreePercent', ['out of range', '150', '0-100']],
    ['the mount point is relative', (h) => (h.fileBackup.mountPoint = 'mnt/backup'), 'host.fileBackup.mountPoint', ['must be absolute', '"mnt/backup"']],
    ['weekly generations is zero', (h) => (h.fileBackup.weeklyGenerations = 0), 'host.fileBackup.weeklyGenerations', ['at least the current week', 'received 0', '1 or more']],
    ['a PVE config path has a space', (h) => (h.fileBackup.pveConfig = { paths: ['/etc/pve extra'] }), 'host.fileBackup.pveConfig.paths[0]', ['shell would interpret', '"/etc/pve extra"']],
    ['the pfSense key is missing', (h) => (h.fileBackup.pfsense = { host: 'pfsense.lan' }), 'host.fileBackup.pfsense.identityFile', ['absolute path', 'received undefined']],
    ['the pfSense user is not a login name', (h) => (h.fileBackup.pfsense = { host: 'pfsense.lan', user: 'Admin!', identityFile: '/root/.ssh/pf' }), 'host.fileBackup.pfsense.user', ['not a login name', '"Admin!"']],
    ['the NAS port is out of range', (h) => (h.offsite.nas.port = 0), 'host.offsite.nas.port', ['out of range', '0', '1-65535']],
    ['no NFS tree is declared', (h) => (h.offsite.sources = []), 'host.offsite.sources', ['no NFS tree declared', 'at least one']],
    ['the full sync rule is unknown', (h) => (h.offsite.fullSync = 'weekly'), 'host.offsite.fullSync', ['not an allowed value', '"weekly"', '"first-sunday", "never"']],
    ['a key is written into the policy', (h) => (h.offsite.nas.privateKey = '-----BEGIN OPENSSH PRIVATE KEY-----'), 'host.offsite.nas.privateKey', ['unknown field "privateKey"']],
    ['the timeout outlasts the gap between runs', (h) => (h.fileBackup.timeout = '1d'), 'host.fileBackup.timeout', ['not shorter than the gap', 'received 1d', 'less than 1d']],
    ['a schedule restricts day of month and day of week', (h) => (h.offsite.schedule = '0 6 1-7 * 0'), 'host.offsite.schedule', ['no OnCalendar equivalent', '"0 6 1-7 * 0"']],
    ['the randomized delay is half a gap or more', (h) => ((h.snapshots.schedule = 'every 1h'), (h.randomizedDelay = '45m')), 'host.randomizedDelay', ['more than half the gap', 'received 45m', 'at most 30m']],
    ['two NFS trees overlap', (h) => (h.offsite.sources = [{ path: '/srv/nfs', target: '/nas/nfs' }, { path: '/srv/nfs/media', target: '/nas/media' }]), 'host.offsite.sources[1].path', ['NFS trees overlap', '"/srv/nfs/media"']],
    ['two NAS targets overlap', (h) => (h.offsite.sources = [{ path: '/srv/a', target: '/nas/x' }, { path: '/srv/b', target: '/nas/x' }]), 'host.offsite.sources[1].target', ['NAS targets overlap']],
    ['an NFS target overlaps the backup disk target', (h) => (h.offsite.sources[0].target = `${h.offsite.backupDiskTarget}/nfs`), 'host.offsite.sources[0].target', ['NAS targets overlap', 'backupDiskTarget']],
    ['the change log is inside a watched tree', (h) => (h.offsite.changeLog = `${h.offsite.sources[0].path}/.changes.log`), 'host.offsite.changeLog', ['inside a watched tree', 'each write to it would log itself']],
    ['an NFS tree contains the backup disk', (h) => (h.offsite.sources[0].path = '/srv'), 'host.offsite.sources[0].path', ['overlaps the backup disk']],
  ])('%s', (_name, edit, path, words) => {
    const issues = issuesOf(withHost(edit));
    const issue = issues.find((i) => i.startsWith(`${path}: `));
    expect({ issues, found: issue !== undefined }).toEqual({ issues, found: true });
    for (const word of words) expect(issue).toContain(word);
  });
});
