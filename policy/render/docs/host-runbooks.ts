import type { HostPlan, PlannedHostTimerJob } from '../../plan/host-plan';
import { hostRestoreCommand, type HostRestoreRequest } from '../host-restore';
import type { TimelineJob } from './timeline';

/**
 * Runbooks of the Proxmox host jobs, with the spec's commands (systemctl, journalctl, the
 * restore subcommand of lvm-pvc-snapshot) filled in from the policy.
 */

function header(job: PlannedHostTimerJob, host: HostPlan): string {
  return `Generated from the backup policy (host \`${host.name}\`, ${host.address}). Do not edit: run \`npm run generate\`.

| unit | schedule (${host.timeZone}) | OnCalendar | timeout | stale after |
|---|---|---|---|---|
| \`${job.name}.timer\` / \`${job.name}.service\` | ${job.schedule.toHuman()} | \`${job.onCalendar}\` | ${job.timeout.toHuman()} | ${job.staleAfter.toHuman()} |`;
}

function diagnosis(job: PlannedHostTimerJob, host: HostPlan): string {
  return `\`\`\`sh
ssh root@${host.address}
systemctl status ${job.name}.service ${job.name}.timer
journalctl -u ${job.name}.service --since "2 days ago"
systemctl list-timers '${job.name}*'
\`\`\``;
}

/**
 * The restores of the daily backup's copies, through host-restore (the same command renderer as
 * `backup-policy host-restore`); placeholders in capitals.
 */
function restoreSections(d: HostPlan): string {
  const cmd = (request: HostRestoreRequest) => hostRestoreCommand(d, request);
  const disk = d.fileBackup.mountPoint;
  return `### Restore files of a PVC

Run as root on the Proxmox host (\`ssh root@${d.address}\`): the copies are on its backup disk, ${disk}, and no Job can reach them. \`backup-policy host-restore files ...\` prints the same command for given names.

\`\`\`sh
${cmd({ kind: 'list', pvc: 'NAMESPACE/PVC' })}   # the weeks holding the PVC (${d.fileBackup.weeklyGenerations} kept)
# Restoring in place: scale the workload to 0, mount the PVC's volume (e.g. on /mnt/restore), then:
${cmd({ kind: 'files', week: 'latest', pvc: 'NAMESPACE/PVC', to: '/mnt/restore', overwrite: false })}
${cmd({ kind: 'files', week: 'YYYY-WW', pvc: 'NAMESPACE/PVC', path: 'PATH/IN/THE/VOLUME', to: '/mnt/restore', overwrite: false })}
\`\`\`

\`--to\` is the volume's root: \`--path\` lands at the same place below it. Owners, modes, times, symlinks (as links, never followed) and hard links come back as daily-backup copied them, from \`${disk}/pvc-data/<week>/<namespace>/<pvc>/\`. Without \`--yes\` nothing existing is replaced: the command lists what it would replace and stops; with \`--yes\` it replaces those files. Files the copy lacks are left alone. Afterwards every restored file is compared with the copy by checksum. A \`--to\` on the backup disk is refused.

### Restore an SQLite database

\`\`\`sh
${cmd({ kind: 'list', db: 'NAMESPACE/PVC/PATH/IN/THE/VOLUME' })}   # its copies, oldest first
# Stop the application, mount the volume, then:
${cmd({ kind: 'sqlite', db: 'NAMESPACE/PVC/PATH/IN/THE/VOLUME', copy: 'latest', to: '/mnt/restore/PATH/IN/THE/VOLUME', overwrite: false })}
\`\`\`

The copies are \`${disk}/sqlite-backup/<namespace>/<pvc>/<path in the volume>/sqlite_<timestamp>.sqlite3\`, one consistent file each (the WAL included). The copy must pass \`PRAGMA integrity_check\` (and match its manifest, when it has one) before anything changes; it is written beside the target and renamed over it, with the target's owner, mode and WAL mode. The replaced database and its \`-wal\`/\`-shm\` are moved aside as \`<name>.replaced-<timestamp>\` (stale WAL files beside the new database would corrupt it); remove them once the application works. Without \`--yes\` an existing database is not replaced.

Both push \`backup_restore_last_run_success\`, \`backup_restore_duration_seconds\` (service \`daily-backup\`, kind \`restore-files\` / \`restore-sqlite\`, \`runner="host"\`).`;
}

const sections = {
  'lvm-pvc-snapshot': (job: PlannedHostTimerJob, d: HostPlan) => ({
    title: 'LVM thin snapshots',
    meaning: `LVMSnapshotStale / LVMSnapshotFailing: no snapshot run succeeded for ${job.staleAfter.toHuman()}, or the last one failed. LVMThinPoolLow: the pool ${d.snapshots.volumeGroup}/${d.snapshots.thinPool} has less than ${d.snapshots.minFreePercent}% free (snapshots are refused below that).`,
    impact: `Without fresh snapshots the fastest restore path (minutes, up to ${d.snapshots.retention} back) is gone for every PVC outside ${d.snapshots.excludeNamespaces.join(', ') || 'no excluded namespace'}. Old snapshots are not pruned while snapshot runs fail. A full thin pool stops every VM on it.`,
    mitigation: `\`\`\`sh
lvs -o lv_name,data_percent,metadata_percent ${d.snapshots.volumeGroup}/${d.snapshots.thinPool}
lvm-pvc-snapshot list
systemctl start ${job.name}.service            # a manual run, once the cause is fixed
\`\`\`

### Restore a PVC from a snapshot

\`\`\`sh
lvm-pvc-snapshot list                              # pick the PVC volume and one of its snapshots
lvm-pvc-snapshot restore <pvc-lv> <snapshot-lv> --dry-run
lvm-pvc-snapshot restore <pvc-lv> <snapshot-lv> --yes   # scales the workload down, swaps, scales up
\`\`\`

The original volume is kept as a pre-restore LV until you remove it.`,
  }),
  'daily-backup': (job: PlannedHostTimerJob, d: HostPlan) => ({
    title: 'Daily file backup',
    meaning: `WeeklyBackupStale / WeeklyBackupFailing: the file backup to ${d.fileBackup.mountPoint} has not succeeded for ${job.staleAfter.toHuman()}, or its last run failed (a failed step fails the run).${d.fileBackup.pfsense ? ' PfsenseBackupStale: the pfSense step has not succeeded.' : ''} BackupDiskFull: ${d.fileBackup.mountPoint} is more than ${d.fileBackup.diskFullPercent}% used.`,
    impact: `File-level restores (older than the ${d.snapshots.retention} of snapshots, up to ${d.fileBackup.weeklyGenerations} weeks) and the SQLite copies stop advancing; the offsite sync keeps mirroring the last good state.`,
    mitigation: `\`\`\`sh
df -h ${d.fileBackup.mountPoint}
ls ${d.fileBackup.mountPoint}/pvc-data/            # one folder per ISO week, ${d.fileBackup.weeklyGenerations} kept
systemctl start ${job.name}.service
\`\`\`

${restoreSections(d)}`,
  }),
  'offsite-sync-backup': (job: PlannedHostTimerJob, d: HostPlan) => ({
    title: 'Offsite sync',
    meaning: `OffsiteBackupSyncStale / OffsiteBackupSyncFailing: the sync to ${d.offsite.nas.host} has not succeeded for ${job.staleAfter.toHuman()}, or its last run failed.`,
    impact: 'The only copy outside the host ages: a site disaster would lose everything since the last good sync. Failed incremental syncs keep their change log, so nothing is lost once the sync works again.',
    mitigation: `\`\`\`sh
ssh -i ${d.offsite.nas.identityFile} -p ${d.offsite.nas.port} ${d.offsite.nas.user}@${d.offsite.nas.host} true   # the NAS answers
systemctl status nfs-change-tracker.service
ls -l ${d.offsite.changeLog}*
systemctl start ${job.name}.service
\`\`\`

### Restore from the NAS

\`\`\`sh
rsync -aH -e "ssh -i ${d.offsite.nas.identityFile} -p ${d.offsite.nas.port}" ${d.offsite.nas.user}@${d.offsite.nas.host}:${d.offsite.backupDiskTarget}/ ${d.fileBackup.mountPoint}/
${d.offsite.sources.map((s) => `rsync -aH -e "ssh -i ${d.offsite.nas.identityFile} -p ${d.offsite.nas.port}" ${d.offsite.nas.user}@${d.offsite.nas.host}:${s.target}/ ${s.path}/`).join('\n')}
\`\`\``,
  }),
};

export function renderHostRunbooks(host: HostPlan): Record<string, string> {
  const files: Record<string, string> = {};
  for (const job of host.jobs) {
    const s = sections[job.name](job, host);
    files[`${job.name}.md`] = `# ${s.title} (${job.name})

${header(job, host)}

## Meaning

${s.meaning}

## Impact

${s.impact}

## Diagnosis

${diagnosis(job, host)}

## Mitigation

${s.mitigation}
`;
  }
  return files;
}

export function hostTimelineJobs(host: HostPlan): TimelineJob[] {
  return host.jobs.map((job) => ({ section: `host ${host.name}`, name: job.name, schedule: job.schedule, timeZone: host.timeZone, minutes: 30 }));
}
