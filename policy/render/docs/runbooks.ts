import type { PlannedJob, PlannedService } from '../../plan/plan';
import { DRILL_METRICS } from '../../plan/alerts';

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

/**
 * The drills: what they prove, what a failing one means and where its log is. A service without
 * one says so, since nothing then proves its copies restore.
 */
function drillSection(service: PlannedService): string {
  if (service.drills.length === 0) {
    return `No restore drill is declared for \`${service.id}\`: nothing restores its copies on a schedule, so the first restore is the first proof. Declare \`drill\` (or the policy's \`drills\`) to have one.`;
  }
  const rows = service.drills
    .map((d) => `| \`${d.name}\` | newest ${d.drills} copy | \`${d.schedule.cron}\` (${d.schedule.toHuman()}) | ${d.timeout.toHuman()} | ${d.staleAfter.toHuman()} |`)
    .join('\n');
  const first = service.drills[0];
  const queries = service.drills[0].queries.length;
  return [
    '| CronJob | restores | schedule | deadline | stale after |',
    '|---|---|---|---|---|',
    rows,
    '',
    `Each drill restores the newest verified copy inside its own pod (image \`${first.image}\`; a throwaway server where the engine has one), checks it against the manifest written beside the copy when there is one (databases, tables and rows, keys)${queries > 0 ? ` and ${queries} declared quer${queries === 1 ? 'y' : 'ies'}` : ''}, and throws everything away. It mounts the backup volume read-only and never connects to the production server.`,
    '',
    `\`*RestoreDrillFailing\` means the newest copy did not restore or the restored data failed a check: treat that copy as unusable until the log says otherwise, and make sure an older copy restores. \`*RestoreDrillStale\` and \`*RestoreDrillNeverSucceeded\` mean no drill has proven a copy lately (missed, failed or not reporting).`,
    '',
    '```sh',
    `kubectl -n ${service.namespace} get jobs -l backup-policy/service=${service.id},app.kubernetes.io/component=restore-drill --sort-by=.metadata.creationTimestamp`,
    ...service.drills.map((d) => `kubectl -n ${service.namespace} logs job/<the newest ${d.name} job>`),
    `kubectl -n ${service.namespace} create job --from=cronjob/${first.name} ${first.name}-manual-$(date +%s)`,
    '```',
    '',
    `The log names the failing check (\`ERROR: ...\`, e.g. a table whose rows differ from the manifest, expected vs got). Metrics: \`${DRILL_METRICS.success}{service="${service.id}"}\`, \`${DRILL_METRICS.lastSuccess}{service="${service.id}"}\`, \`${DRILL_METRICS.duration}{service="${service.id}"}\` (the measured restore time: this service's RTO as production sees it) and \`${DRILL_METRICS.copyAge}{service="${service.id}"}\`.`,
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

An alert about \`${service.id}\` means its newest verified copy is older than the schedule allows (\`*Stale\`), its last run failed (\`*Failing\`), it never reported a success (\`*NeverSucceeded\`), or its newest copy is much smaller than recent ones (\`*TooSmall\`).${service.drills.length > 0 ? ' `*RestoreDrill*` alerts are about the restore drills below.' : ''}${integrity ? ` \`*IntegrityFail\` means the live database failed \`PRAGMA integrity_check\`: treat it as data corruption in progress.` : ''}

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

## Restore drill

${drillSection(service)}
`;
}
