/**
 * renderHostBundle on a small host section: the file list with modes, the MANIFEST install.sh
 * reads, and the bundle hash. Script contents come from a stand-in reader so the expected files
 * stay short; test/host/host-bundle.test.ts installs the real bundle.
 */
import { planPolicy } from '../../policy/plan/plan';
import { bundleHash, renderHostBundle, sha256, type BundleFile } from '../../policy/render/host-bundle';
import { renderHostConfig, renderHostUnits } from '../../policy/render/systemd';
import { pgService, policyOf, smallHost } from './small-policies';

const host = planPolicy(policyOf({ pg: pgService }, { host: smallHost() })).host!;
const readScript = (name: string) => `# ${name}\n`;
const files = renderHostBundle(host, readScript);
const byName = (name: string) => files.find((f) => f.name === name)!;

const LIB = '/usr/local/lib/backup-policy';

describe('renderHostBundle', () => {
  test('every file in install order: installer, MANIFEST, scripts (libraries first), host.env, units', () => {
    expect(files.map((f) => [f.name, f.mode])).toEqual([
      ['install.sh', '0755'],
      ['MANIFEST', '0644'],
      ['backup-lib.sh', '0755'],
      ['sqlite-lib.sh', '0755'],
      ['host-lib.sh', '0755'],
      ['lvm-pvc-snapshot.sh', '0755'],
      ['daily-backup.sh', '0755'],
      ['offsite-sync-backup.sh', '0755'],
      ['nfs-change-tracker.sh', '0755'],
      ['host-restore.sh', '0755'],
      ['host.env', '0644'],
      ['lvm-pvc-snapshot.service', '0644'],
      ['lvm-pvc-snapshot.timer', '0644'],
      ['daily-backup.service', '0644'],
      ['daily-backup.timer', '0644'],
      ['offsite-sync-backup.service', '0644'],
      ['offsite-sync-backup.timer', '0644'],
      ['nfs-change-tracker.service', '0644'],
    ]);
  });

  test('scripts and the installer are the reader\'s bytes; host.env and units are the systemd renderer\'s', () => {
    const units = renderHostUnits(host);
    const expected: BundleFile[] = [
      { name: 'install.sh', mode: '0755', content: '# host-install.sh\n' },
      ...['backup-lib.sh', 'sqlite-lib.sh', 'host-lib.sh', 'lvm-pvc-snapshot.sh', 'daily-backup.sh', 'offsite-sync-backup.sh', 'nfs-change-tracker.sh', 'host-restore.sh'].map((s): BundleFile => ({ name: s, mode: '0755', content: `# ${s}\n` })),
      { name: 'host.env', mode: '0644', content: renderHostConfig(host) },
      ...Object.entries(units).map(([name, content]): BundleFile => ({ name, mode: '0644', content })),
    ];
    expect(files.filter((f) => f.name !== 'MANIFEST')).toEqual(expected);
  });

  test('the MANIFEST: files with their destinations, operator links, timers, and the tracker with what restarts it', () => {
    expect(byName('MANIFEST').content).toBe(
      [
        `file 0755 ${LIB}/backup-lib.sh backup-lib.sh`,
        `file 0755 ${LIB}/sqlite-lib.sh sqlite-lib.sh`,
        `file 0755 ${LIB}/host-lib.sh host-lib.sh`,
        `file 0755 ${LIB}/lvm-pvc-snapshot.sh lvm-pvc-snapshot.sh`,
        `file 0755 ${LIB}/daily-backup.sh daily-backup.sh`,
        `file 0755 ${LIB}/offsite-sync-backup.sh offsite-sync-backup.sh`,
        `file 0755 ${LIB}/nfs-change-tracker.sh nfs-change-tracker.sh`,
        `file 0755 ${LIB}/host-restore.sh host-restore.sh`,
        'file 0644 /etc/backup-policy/host.env host.env',
        'file 0644 /etc/systemd/system/lvm-pvc-snapshot.service lvm-pvc-snapshot.service',
        'file 0644 /etc/systemd/system/lvm-pvc-snapshot.timer lvm-pvc-snapshot.timer',
        'file 0644 /etc/systemd/system/daily-backup.service daily-backup.service',
        'file 0644 /etc/systemd/system/daily-backup.timer daily-backup.timer',
        'file 0644 /etc/systemd/system/offsite-sync-backup.service offsite-sync-backup.service',
        'file 0644 /etc/systemd/system/offsite-sync-backup.timer offsite-sync-backup.timer',
        'file 0644 /etc/systemd/system/nfs-change-tracker.service nfs-change-tracker.service',
        `link /usr/local/bin/lvm-pvc-snapshot ${LIB}/lvm-pvc-snapshot.sh`,
        `link /usr/local/bin/daily-backup ${LIB}/daily-backup.sh`,
        `link /usr/local/bin/offsite-sync-backup ${LIB}/offsite-sync-backup.sh`,
        `link /usr/local/bin/nfs-change-tracker ${LIB}/nfs-change-tracker.sh`,
        `link /usr/local/bin/host-restore ${LIB}/host-restore.sh`,
        'timer lvm-pvc-snapshot.timer',
        'timer daily-backup.timer',
        'timer offsite-sync-backup.timer',
        `service nfs-change-tracker.service ${LIB}/backup-lib.sh ${LIB}/sqlite-lib.sh ${LIB}/host-lib.sh ${LIB}/nfs-change-tracker.sh /etc/backup-policy/host.env /etc/systemd/system/nfs-change-tracker.service`,
        '',
      ].join('\n'),
    );
  });

  test('another install dir moves every script destination and link target', () => {
    const moved = planPolicy(policyOf({ pg: pgService }, { host: smallHost({ installDir: '/opt/bp' }) })).host!;
    const manifest = renderHostBundle(moved, readScript).find((f) => f.name === 'MANIFEST')!.content;
    expect(manifest.split('\n').filter((l) => l.startsWith('link ') || l.startsWith('service '))).toEqual([
      'link /usr/local/bin/lvm-pvc-snapshot /opt/bp/lvm-pvc-snapshot.sh',
      'link /usr/local/bin/daily-backup /opt/bp/daily-backup.sh',
      'link /usr/local/bin/offsite-sync-backup /opt/bp/offsite-sync-backup.sh',
      'link /usr/local/bin/nfs-change-tracker /opt/bp/nfs-change-tracker.sh',
      'link /usr/local/bin/host-restore /opt/bp/host-restore.sh',
      'service nfs-change-tracker.service /opt/bp/backup-lib.sh /opt/bp/sqlite-lib.sh /opt/bp/host-lib.sh /opt/bp/nfs-change-tracker.sh /etc/backup-policy/host.env /etc/systemd/system/nfs-change-tracker.service',
    ]);
  });
});

describe('bundleHash', () => {
  // Expected values from coreutils, independently of node:crypto:
  //   printf 'x' | sha256sum
  //   printf 'a\0000644\000<sha of x>\nrun.sh\0000755\000<sha of "echo hi\n">\n' | sha256sum
  const small: BundleFile[] = [
    { name: 'a', mode: '0644', content: 'x' },
    { name: 'run.sh', mode: '0755', content: 'echo hi\n' },
  ];

  test('sha256 is the hex digest', () => {
    expect(sha256('x')).toBe('2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881');
  });

  test('one digest over each file\'s name, mode and content digest', () => {
    expect(bundleHash(small)).toBe('dba9db5d413b5dadb8e7c6b2515a55d8f3295dbca7051e9e84b7fb64bd160755');
  });

  test('a changed mode, name or content changes it', () => {
    const hashes = [
      bundleHash(small),
      bundleHash([{ ...small[0], mode: '0755' }, small[1]]),
      bundleHash([{ ...small[0], name: 'b' }, small[1]]),
      bundleHash([{ ...small[0], content: 'y' }, small[1]]),
    ];
    expect(new Set(hashes).size).toBe(4);
  });
});
