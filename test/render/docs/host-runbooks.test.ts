/**
 * The host job runbooks on a small host section, each as a whole page, and the host's timeline
 * entries (their zone is the host's, not the policy's).
 */
import { planPolicy } from '../../../policy/plan/plan';
import { hostTimelineJobs, renderHostRunbooks } from '../../../policy/render/docs/host-runbooks';
import { pgService, policyOf, smallHost } from '../small-policies';

const host = planPolicy(policyOf({ pg: pgService }, { host: smallHost() })).host!;
const runbooks = renderHostRunbooks(host);

const diagnosis = (unit: string) => `## Diagnosis

\`\`\`sh
ssh root@192.168.1.10
systemctl status ${unit}.service ${unit}.timer
journalctl -u ${unit}.service --since "2 days ago"
systemctl list-timers '${unit}*'
\`\`\``;

describe('renderHostRunbooks', () => {
  test('one page per host timer job', () => {
    expect(Object.keys(runbooks)).toEqual(['lvm-pvc-snapshot.md', 'daily-backup.md', 'offsite-sync-backup.md']);
  });

  test('lvm-pvc-snapshot.md', () => {
    expect(runbooks['lvm-pvc-snapshot.md']).toBe(`# LVM thin snapshots (lvm-pvc-snapshot)

Generated from the backup policy (host \`pve\`, 192.168.1.10). Do not edit: run \`npm run generate\`.

| unit | schedule (Europe/London) | OnCalendar | timeout | stale after |
|---|---|---|---|---|
| \`lvm-pvc-snapshot.timer\` / \`lvm-pvc-snapshot.service\` | At 03:00 | \`*-*-* 03:00:00 Europe/London\` | 30 minutes | 36 hours |

## Meaning

LVMSnapshotStale / LVMSnapshotFailing: no snapshot run succeeded for 36 hours, or the last one failed. LVMThinPoolLow: the pool pve/data has less than 15% free (snapshots are refused below that).

## Impact

Without fresh snapshots the fastest restore path (minutes, up to 7d back) is gone for every PVC outside db. Old snapshots are not pruned while snapshot runs fail. A full thin pool stops every VM on it.

${diagnosis('lvm-pvc-snapshot')}

## Mitigation

\`\`\`sh
lvs -o lv_name,data_percent,metadata_percent pve/data
lvm-pvc-snapshot list
systemctl start lvm-pvc-snapshot.service            # a manual run, once the cause is fixed
\`\`\`

### Restore a PVC from a snapshot

\`\`\`sh
lvm-pvc-snapshot list                              # pick the PVC volume and one of its snapshots
lvm-pvc-snapshot restore <pvc-lv> <snapshot-lv> --dry-run
lvm-pvc-snapshot restore <pvc-lv> <snapshot-lv> --yes   # scales the workload down, swaps, scales up
\`\`\`

The original volume is kept as a pre-restore LV until you remove it.
`);
  });

  test('daily-backup.md', () => {
    expect(runbooks['daily-backup.md']).toBe(`# Daily file backup (daily-backup)

Generated from the backup policy (host \`pve\`, 192.168.1.10). Do not edit: run \`npm run generate\`.

| unit | schedule (Europe/London) | OnCalendar | timeout | stale after |
|---|---|---|---|---|
| \`daily-backup.timer\` / \`daily-backup.service\` | At 05:00 | \`*-*-* 05:00:00 Europe/London\` | 6 hours | 36 hours |

## Meaning

WeeklyBackupStale / WeeklyBackupFailing: the file backup to /mnt/backup has not succeeded for 36 hours, or its last run failed (a failed step fails the run). BackupDiskFull: /mnt/backup is more than 85% used.

## Impact

File-level restores (older than the 7d of snapshots, up to 4 weeks) and the SQLite copies stop advancing; the offsite sync keeps mirroring the last good state.

${diagnosis('daily-backup')}

## Mitigation

\`\`\`sh
df -h /mnt/backup
ls /mnt/backup/pvc-data/            # one folder per ISO week, 4 kept
systemctl start daily-backup.service
\`\`\`

### Restore files of a PVC

Run as root on the Proxmox host (\`ssh root@192.168.1.10\`): the copies are on its backup disk, /mnt/backup, and no Job can reach them. \`backup-policy host-restore files ...\` prints the same command for given names.

\`\`\`sh
/usr/local/lib/backup-policy/host-restore.sh list --pvc NAMESPACE/PVC   # the weeks holding the PVC (4 kept)
# Restoring in place: scale the workload to 0, mount the PVC's volume (e.g. on /mnt/restore), then:
/usr/local/lib/backup-policy/host-restore.sh files --week latest --pvc NAMESPACE/PVC --to /mnt/restore
/usr/local/lib/backup-policy/host-restore.sh files --week YYYY-WW --pvc NAMESPACE/PVC --path PATH/IN/THE/VOLUME --to /mnt/restore
\`\`\`

\`--to\` is the volume's root: \`--path\` lands at the same place below it. Owners, modes, times, symlinks (as links, never followed) and hard links come back as daily-backup copied them, from \`/mnt/backup/pvc-data/<week>/<namespace>/<pvc>/\`. Without \`--yes\` nothing existing is replaced: the command lists what it would replace and stops; with \`--yes\` it replaces those files. Files the copy lacks are left alone. Afterwards every restored file is compared with the copy by checksum. A \`--to\` on the backup disk is refused.

### Restore an SQLite database

\`\`\`sh
/usr/local/lib/backup-policy/host-restore.sh list --db NAMESPACE/PVC/PATH/IN/THE/VOLUME   # its copies, oldest first
# Stop the application, mount the volume, then:
/usr/local/lib/backup-policy/host-restore.sh sqlite --db NAMESPACE/PVC/PATH/IN/THE/VOLUME --copy latest --to /mnt/restore/PATH/IN/THE/VOLUME
\`\`\`

The copies are \`/mnt/backup/sqlite-backup/<namespace>/<pvc>/<path in the volume>/sqlite_<timestamp>.sqlite3\`, one consistent file each (the WAL included). The copy must pass \`PRAGMA integrity_check\` (and match its manifest, when it has one) before anything changes; it is written beside the target and renamed over it, with the target's owner, mode and WAL mode. The replaced database and its \`-wal\`/\`-shm\` are moved aside as \`<name>.replaced-<timestamp>\` (stale WAL files beside the new database would corrupt it); remove them once the application works. Without \`--yes\` an existing database is not replaced.

Both push \`backup_restore_last_run_success\`, \`backup_restore_duration_seconds\` (service \`daily-backup\`, kind \`restore-files\` / \`restore-sqlite\`, \`runner="host"\`).
`);
  });

  test('offsite-sync-backup.md', () => {
    expect(runbooks['offsite-sync-backup.md']).toBe(`# Offsite sync (offsite-sync-backup)

Generated from the backup policy (host \`pve\`, 192.168.1.10). Do not edit: run \`npm run generate\`.

| unit | schedule (Europe/London) | OnCalendar | timeout | stale after |
|---|---|---|---|---|
| \`offsite-sync-backup.timer\` / \`offsite-sync-backup.service\` | At 06:00 | \`*-*-* 06:00:00 Europe/London\` | 8 hours | 36 hours |

## Meaning

OffsiteBackupSyncStale / OffsiteBackupSyncFailing: the sync to nas.lan has not succeeded for 36 hours, or its last run failed.

## Impact

The only copy outside the host ages: a site disaster would lose everything since the last good sync. Failed incremental syncs keep their change log, so nothing is lost once the sync works again.

${diagnosis('offsite-sync-backup')}

## Mitigation

\`\`\`sh
ssh -i /root/.ssh/nas -p 22 root@nas.lan true   # the NAS answers
systemctl status nfs-change-tracker.service
ls -l /var/log/nfs-changes.log*
systemctl start offsite-sync-backup.service
\`\`\`

### Restore from the NAS

\`\`\`sh
rsync -aH -e "ssh -i /root/.ssh/nas -p 22" root@nas.lan:/volume1/pve-backup/ /mnt/backup/
rsync -aH -e "ssh -i /root/.ssh/nas -p 22" root@nas.lan:/volume1/nfs/ /srv/nfs/
\`\`\`
`);
  });

  test('pfSense declared, no excluded namespace, two NFS trees, the host in its own zone', () => {
    const other = planPolicy(
      policyOf(
        { pg: pgService },
        {
          host: smallHost({
            timeZone: 'America/New_York',
            snapshots: { ...smallHost().snapshots, excludeNamespaces: [] },
            fileBackup: { ...smallHost().fileBackup, pfsense: { host: 'fw.lan', identityFile: '/root/.ssh/fw' } },
            offsite: {
              ...smallHost().offsite,
              nas: { host: 'nas.lan', user: 'backup', port: 2222, identityFile: '/root/.ssh/nas' },
              sources: [
                { path: '/srv/nfs', target: '/volume1/nfs' },
                { path: '/srv/nfs-ssd', target: '/volume1/nfs-ssd' },
              ],
            },
          }),
        },
      ),
    ).host!;
    const pages = renderHostRunbooks(other);
    const at = (page: string, line: number) => pages[page].split('\n')[line];
    expect(at('lvm-pvc-snapshot.md', 6)).toBe('| `lvm-pvc-snapshot.timer` / `lvm-pvc-snapshot.service` | At 03:00 | `*-*-* 03:00:00 America/New_York` | 30 minutes | 36 hours |');
    expect(at('lvm-pvc-snapshot.md', 4)).toBe('| unit | schedule (America/New_York) | OnCalendar | timeout | stale after |');
    expect(at('lvm-pvc-snapshot.md', 14)).toBe(
      'Without fresh snapshots the fastest restore path (minutes, up to 7d back) is gone for every PVC outside no excluded namespace. Old snapshots are not pruned while snapshot runs fail. A full thin pool stops every VM on it.',
    );
    expect(at('daily-backup.md', 10)).toBe(
      'WeeklyBackupStale / WeeklyBackupFailing: the file backup to /mnt/backup has not succeeded for 36 hours, or its last run failed (a failed step fails the run). PfsenseBackupStale: the pfSense step has not succeeded. BackupDiskFull: /mnt/backup is more than 85% used.',
    );
    const offsite = pages['offsite-sync-backup.md'];
    expect(offsite.slice(offsite.indexOf('## Mitigation'))).toBe(`## Mitigation

\`\`\`sh
ssh -i /root/.ssh/nas -p 2222 backup@nas.lan true   # the NAS answers
systemctl status nfs-change-tracker.service
ls -l /var/log/nfs-changes.log*
systemctl start offsite-sync-backup.service
\`\`\`

### Restore from the NAS

\`\`\`sh
rsync -aH -e "ssh -i /root/.ssh/nas -p 2222" backup@nas.lan:/volume1/pve-backup/ /mnt/backup/
rsync -aH -e "ssh -i /root/.ssh/nas -p 2222" backup@nas.lan:/volume1/nfs/ /srv/nfs/
rsync -aH -e "ssh -i /root/.ssh/nas -p 2222" backup@nas.lan:/volume1/nfs-ssd/ /srv/nfs-ssd/
\`\`\`
`);
  });
});

describe('hostTimelineJobs', () => {
  test('the three timers, in the host zone, 30-minute bars, under the host section', () => {
    const other = planPolicy(policyOf({ pg: pgService }, { host: smallHost({ timeZone: 'America/New_York' }) })).host!;
    expect(hostTimelineJobs(other).map((j) => ({ ...j, schedule: j.schedule.cron }))).toEqual([
      { section: 'host pve', name: 'lvm-pvc-snapshot', schedule: '0 3 * * *', timeZone: 'America/New_York', minutes: 30 },
      { section: 'host pve', name: 'daily-backup', schedule: '0 5 * * *', timeZone: 'America/New_York', minutes: 30 },
      { section: 'host pve', name: 'offsite-sync-backup', schedule: '0 6 * * *', timeZone: 'America/New_York', minutes: 30 },
    ]);
  });
});
