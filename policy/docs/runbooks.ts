import type { PlannedJob, PlannedService } from '../plan';
import type { BackupPolicyDeclaration } from '../schema';

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

function restoreSteps(service: PlannedService, policy: BackupPolicyDeclaration): string {
  const dir = service.volume.path;
  const d = service.declaration;
  switch (d.engine) {
    case 'postgres':
      return [
        '**One database** (from the per-database dumps, custom format):',
        '',
        '```sh',
        `ls ${dir}/per-db/<db>/                        # dump_<YYYYmmddTHHMMSSZ>.dump.zst, newest last`,
        `zstd -d -o /tmp/restore.dump ${dir}/per-db/<db>/dump_<ts>.dump.zst`,
        `pg_restore --list /tmp/restore.dump >/dev/null   # the file is readable`,
        `PGPASSWORD=... pg_restore -h ${d.connection.host} -p ${d.connection.port} -U ${d.connection.user} -d <db> --clean --if-exists /tmp/restore.dump`,
        '```',
        '',
        '**The whole cluster** (roles included, from pg_dumpall):',
        '',
        '```sh',
        `zstd -dc ${dir}/dump_<ts>.sql.zst | PGPASSWORD=... psql -h ${d.connection.host} -p ${d.connection.port} -U ${d.connection.user} -d postgres -v ON_ERROR_STOP=0`,
        '```',
        '',
        'Into a freshly initialised cluster, the only expected error is `role "postgres" already exists`.',
      ].join('\n');
    case 'mysql':
      return [
        '**One database:**',
        '',
        '```sh',
        `zstd -dc ${dir}/per-db/<db>/dump_<ts>.sql.zst | mysql --default-character-set=utf8mb4 -h ${d.connection.host} -P ${d.connection.port} -u ${d.connection.user} -p <db>`,
        '```',
        '',
        '**All databases** (users, routines, triggers and events included):',
        '',
        '```sh',
        `zstd -dc ${dir}/dump_<ts>.sql.zst | mysql --default-character-set=utf8mb4 -h ${d.connection.host} -P ${d.connection.port} -u ${d.connection.user} -p`,
        '```',
      ].join('\n');
    case 'etcd':
      return [
        'Restoring etcd rebuilds the control plane from the snapshot; do it on the control-plane node with the API server stopped.',
        '',
        '```sh',
        `zstd -d -o /tmp/etcd.db ${dir}/snapshot_<ts>.db.zst`,
        'mv /var/lib/etcd /var/lib/etcd.before-restore',
        'ETCDCTL_API=3 etcdctl snapshot restore /tmp/etcd.db --data-dir /var/lib/etcd',
        '# start etcd and the API server again (kubeadm: move the static pod manifests back)',
        '```',
      ].join('\n');
    case 'vault':
      return [
        '```sh',
        `ls ${dir}/                                    # snapshot_<ts>.snap`,
        `VAULT_ADDR=${d.address} vault operator raft snapshot restore ${dir}/snapshot_<ts>.snap`,
        '```',
        '',
        'A snapshot from another cluster needs `-force`; unseal keys are those of the snapshot\'s cluster.',
      ].join('\n');
    case 'redis':
      return [
        '```sh',
        `redis-check-rdb ${dir}/dump_<ts>.rdb             # must end with "RDB looks OK"`,
        `kubectl -n ${service.namespace} scale statefulset/<redis> --replicas=0`,
        '# copy the file into the Redis data volume as dump.rdb (appendonly no), then',
        `kubectl -n ${service.namespace} scale statefulset/<redis> --replicas=1`,
        '```',
      ].join('\n');
    case 'sqlite':
      return [
        'Stop the writer first: a database restored under a running process is overwritten by its WAL.',
        '',
        '```sh',
        `kubectl -n ${service.namespace} scale deployment/${service.id} --replicas=0`,
        `sqlite3 -bail "file:${dir}/db_<ts>.sqlite3?mode=ro" "PRAGMA integrity_check;"   # must print exactly: ok`,
        `# in the ${d.data.claimName} volume: remove ${d.data.database}-wal and ${d.data.database}-shm, then copy the backup over ${d.data.database}`,
        `zstd -dc ${dir}/files_<ts>.tar.zst | tar -x -C <the ${d.data.claimName} volume>   # ${[...d.data.extraPaths, ...d.data.optionalExtraPaths].join(', ') || 'no extra files'}`,
        `kubectl -n ${service.namespace} scale deployment/${service.id} --replicas=1`,
        '```',
      ].join('\n');
  }
}

export function renderRunbook(service: PlannedService, policy: BackupPolicyDeclaration, offsiteNote: string): string {
  const d = service.declaration;
  const main = service.jobs.find((j) => j.kind !== 'integrity') ?? service.jobs[0];
  const integrity = service.jobs.find((j) => j.kind === 'integrity');
  return `# ${d.displayName ?? service.id}: backups and restore

Generated from the backup policy (service \`${service.id}\`, engine \`${service.engine}\`, namespace \`${service.namespace}\`). Do not edit: run \`npm run generate\`.

| CronJob | kind | schedule (${policy.timeZone}) | retention | stale after |
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

${restoreSteps(service, policy)}
`;
}
