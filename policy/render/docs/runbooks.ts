import type { PlannedJob, PlannedService } from '../../plan/plan';

/**
 * One restore runbook per service, in the Meaning / Impact / Diagnosis / Mitigation shape the
 * alerts link to, with the exact commands for that engine and that service's names and paths.
 */

function jobLines(service: PlannedService): string {
  return service.jobs
    .map((job) => `| \`${job.name}\` | ${job.kind} | \`${job.schedule.cron}\` (${job.schedule.toHuman()}) | ${job.retention ? job.retention.toHuman() : 'keeps no copies'} | ${job.staleAfter.toHuman()} |`)
    .join('\n');
}

function diagnosis(service: PlannedService, job: PlannedJob): string {
  return [
    `kubectl -n ${service.namespace} get cronjob ${job.name}`,
    `kubectl -n ${service.namespace} get jobs -l backup-policy/service=${service.id} --sort-by=.metadata.creationTimestamp`,
    `kubectl -n ${service.namespace} logs job/<the newest ${job.name} job>`,
    `kubectl -n ${service.namespace} get events --field-selector involvedObject.kind=Job`,
  ].join('\n');
}

/** Where the copies are, from a machine that mounts the export (or the NFS server itself). */
function copies(service: PlannedService): string {
  return `${service.volume.server}:${service.volume.path}`;
}

/**
 * The restore: for an engine with a restore Job, exactly what that Job runs (rendered by
 * `backup-policy restore` from the same plan), so the runbook and the Job cannot drift apart;
 * otherwise the engine's manual steps.
 */
function restoreSection(service: PlannedService): string {
  const restore = service.restore;
  if (!restore) return service.restoreSteps.join('\n');
  // The engine's own procedure around the Job (where each step runs), with the Job's command in it.
  if (restore.ownSteps) return service.restoreSteps.join('\n');
  const example = (mode: string) => (mode === 'per-database' ? `--mode per-database --database '<db>'` : `--mode ${mode}`);
  return [
    `Restores run as a Kubernetes Job from the same image, with the same Secrets, the backup volume mounted read-only. \`backup-policy restore\` renders it from the policy; it refuses to replace existing data (and says what it would replace) unless given \`--yes\`.`,
    '',
    '```sh',
    ...restore.modes.map((mode) => `npx backup-policy restore ${service.id} ${example(mode)} [--copy <file under ${service.volume.path}>] | kubectl apply -f -`),
    `kubectl -n ${service.namespace} logs -f -l backup-policy/service=${service.id},app.kubernetes.io/component=restore-job`,
    '```',
    '',
    `The Job runs \`bash /opt/backup-policy/${restore.script} <mode>\` with the backup job's environment plus \`RESTORE_COPY\` (default \`latest\`: the newest verified copy), \`RESTORE_DATABASE\` and \`RESTORE_OVERWRITE\` (host-scripts/CONTRACT.md, restore contract). Add \`--print-commands\` for the same procedure as shell commands. It pushes \`backup_restore_last_run_success{service="${service.id}"}\` and \`backup_restore_duration_seconds\` (the measured restore time).`,
    // The engine's own notes: what each mode does to the server, in that engine's terms.
    ...(service.restoreSteps.length > 0 ? ['', ...service.restoreSteps] : []),
  ].join('\n');
}

export function renderRunbook(service: PlannedService, timeZone: string, offsiteNote: string): string {
  const main = service.jobs.find((j) => j.retention) ?? service.jobs[0];
  const integrity = service.jobs.find((j) => j.checksIntegrity);
  return `# ${service.title}: backups and restore

Generated from the backup policy (service \`${service.id}\`, engine \`${service.engine}\`, namespace \`${service.namespace}\`). Do not edit: run \`npm run generate\`.

| CronJob | kind | schedule (${timeZone}) | retention | stale after |
|---|---|---|---|---|
${jobLines(service)}

Copies: \`${copies(service)}\` (PersistentVolume \`${service.volume.pvName}\`, claim \`${service.volume.namespace}/${service.volume.pvcName}\`, reclaim Retain). ${offsiteNote}

## Meaning

An alert about \`${service.id}\` means its newest verified copy is older than the schedule allows (\`*Stale\`), its last run failed (\`*Failing\`), it never reported a success (\`*NeverSucceeded\`), or its newest copy is much smaller than recent ones (\`*TooSmall\`).${integrity ? ` \`*IntegrityFail\` means the live database failed \`PRAGMA integrity_check\`: treat it as data corruption in progress.` : ''}

## Impact

Until a run succeeds, the data written since the newest verified copy exists only on the live volume. Older copies are never deleted while runs fail: retention runs only after a verified success and keeps the newest ${main.retention?.keepLast ?? 1} copies whatever their age.

## Diagnosis

\`\`\`sh
${diagnosis(service, main)}
\`\`\`

The job log names the failing step (\`ERROR: ...\`). Metrics: \`backup_last_run_success{service="${service.id}"}\`, \`backup_last_success_timestamp_seconds{service="${service.id}"}\`, \`backup_last_size_bytes{service="${service.id}"}\`. A copy refused as too small is kept as \`*.rejected\` beside the others: inspect it, and rename it to drop the suffix if the shrink is real.

## Mitigation

Run the job now, once the cause is fixed:

\`\`\`sh
kubectl -n ${service.namespace} create job --from=cronjob/${main.name} ${main.name}-manual-$(date +%s)
\`\`\`

### Restore

${restoreSection(service)}
`;
}
