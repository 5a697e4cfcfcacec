import type { HostPlan, PlannedHostTimerJob } from '../../plan/host-plan';
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

### Restore files of a PVC

\`\`\`sh
ls ${d.fileBackup.mountPoint}/pvc-data/<YYYY-WW>/<namespace>/<pvc>/
# scale the workload down, mount its volume, then:
rsync -aHAX --delete ${d.fileBackup.mountPoint}/pvc-data/<YYYY-WW>/<namespace>/<pvc>/ /mnt/<the mounted volume>/
\`\`\`

SQLite copies: \`${d.fileBackup.mountPoint}/sqlite-backup/<namespace>/<pvc>/...\`; check one with \`sqlite3 -bail "file:<copy>?mode=ro" "PRAGMA integrity_check;"\` (must print exactly \`ok\`).`,
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
