/**
 * renderRunbook for one service, as the whole Markdown page: the job table, where the copies
 * are, the commands with this service's names, and the engine's restore steps.
 */
import { planPolicy } from '../../../policy/plan/plan';
import { renderRunbook } from '../../../policy/render/docs/runbooks';
import { pgService, policyOf, redisService } from '../small-policies';

describe('renderRunbook', () => {
  test('a weekly Redis service: every section with its names, paths and restore steps', () => {
    const [service] = planPolicy(policyOf({ cache: redisService })).services;
    expect(renderRunbook(service, 'Europe/London', 'No offsite copy is declared for these files.')).toBe(`# cache: backups and restore

Generated from the backup policy (service \`cache\`, engine \`redis\`, namespace \`cache\`). Do not edit: run \`npm run generate\`.

| CronJob | kind | schedule (Europe/London) | retention | stale after |
|---|---|---|---|---|
| \`cache-backup\` | snapshot | \`0 3 * * 0\` (At 03:00, only on Sunday) | 30 days, at least the newest 4 | 8 days |

Copies: \`10.0.0.5:/srv/nfs/cache-backup\` (PersistentVolume \`cache-backup\`, claim \`cache/cache-backup\`, reclaim Retain). No offsite copy is declared for these files.

## Meaning

An alert about \`cache\` means its newest verified copy is older than the schedule allows (\`*Stale\`), its last run failed (\`*Failing\`), it never reported a success (\`*NeverSucceeded\`), or its newest copy is much smaller than recent ones (\`*TooSmall\`).

## Impact

Until a run succeeds, the data written since the newest verified copy exists only on the live volume. Older copies are never deleted while runs fail: retention runs only after a verified success and keeps the newest 4 copies whatever their age.

## Diagnosis

\`\`\`sh
kubectl -n cache get cronjob cache-backup
kubectl -n cache get jobs -l backup-policy/service=cache --sort-by=.metadata.creationTimestamp
kubectl -n cache logs job/<the newest cache-backup job>
kubectl -n cache get events --field-selector involvedObject.kind=Job
\`\`\`

The job log names the failing step (\`ERROR: ...\`). Metrics: \`backup_last_run_success{service="cache"}\`, \`backup_last_success_timestamp_seconds{service="cache"}\`, \`backup_last_size_bytes{service="cache"}\`. A copy refused as too small is kept as \`*.rejected\` beside the others: inspect it, and rename it to drop the suffix if the shrink is real.

## Mitigation

Run the job now, once the cause is fixed:

\`\`\`sh
kubectl -n cache create job --from=cronjob/cache-backup cache-backup-manual-$(date +%s)
\`\`\`

### Restore

No restore Job: the policy does not declare this service's \`data\` (Redis's data volume and workload); declare it to get one. By hand:

Run the file commands where the copies are: on the NFS server, or any machine that mounts the export (\`/srv/nfs/cache-backup\`); the \`kubectl\` ones where you reach the cluster.

\`\`\`sh
redis-check-rdb /srv/nfs/cache-backup/dump_<ts>.rdb             # must end with "RDB looks OK"
kubectl -n cache scale statefulset/<redis> --replicas=0   # Redis rewrites dump.rdb on shutdown: stop it first
# copy the file into the Redis data volume as dump.rdb. The copies are 0600 (the jobs write under
# umask 077) and Redis refuses to load a file it cannot read: hand it to its user.
cp <the copy> <data volume>/dump.rdb && chown <redis uid>:<redis gid> <data volume>/dump.rdb && chmod 0640 <data volume>/dump.rdb
# appendonly yes: Redis ignores dump.rdb while append-only files exist, and starts EMPTY when they are
# missing. Move the old ones aside and make the copy the base of a new set:
mv <data volume>/appendonlydir <data volume>/appendonlydir.before-restore
mkdir <data volume>/appendonlydir && cp <the copy> <data volume>/appendonlydir/appendonly.aof.1.base.rdb
printf 'file appendonly.aof.1.base.rdb seq 1 type b\\n' > <data volume>/appendonlydir/appendonly.aof.manifest   # then chown -R as above
kubectl -n cache scale statefulset/<redis> --replicas=1
\`\`\`

## Restore drill

No restore drill is declared for \`cache\`: nothing restores its copies on a schedule, so the first restore is the first proof. Declare \`drill\` (or the policy's \`drills\`) to have one.
`);
  });

  test('an integrity-checked SQLite service: both jobs in the table, the IntegrityFail meaning, the backup job in the commands, the restore Job between stopping and starting the writer', () => {
    const [service] = planPolicy(
      policyOf({
        vw: {
          engine: 'sqlite',
          namespace: 'vaultwarden',
          displayName: 'Vaultwarden',
          schedule: 'every 6h',
          data: { claimName: 'vw-data', database: 'db.sqlite3', extraPaths: ['rsa_key.pem'], workload: 'deployment/vw' },
          integrityCheck: { schedule: 'hourly' },
          retention: { keepWithin: '30d', keepLast: 8 },
        },
      }),
    ).services;
    const page = renderRunbook(service, 'America/New_York', 'An offsite copy follows: nightly.');
    const lines = page.split('\n');
    expect(lines.slice(0, 10)).toEqual([
      // The title is the declared display name; the id stays in the generated-from line.
      '# Vaultwarden: backups and restore',
      '',
      'Generated from the backup policy (service `vw`, engine `sqlite`, namespace `vaultwarden`). Do not edit: run `npm run generate`.',
      '',
      '| CronJob | kind | schedule (America/New_York) | retention | stale after |',
      '|---|---|---|---|---|',
      '| `vw-backup` | snapshot | `0 */6 * * *` (On the hour, every 6 hours) | 30 days, at least the newest 8 | 9 hours |',
      '| `vw-integrity-check` | integrity | `0 * * * *` (Every hour) | keeps no copies | 1 hour 30 minutes |',
      '',
      'Copies: `10.0.0.5:/srv/nfs/vw-backup` (PersistentVolume `vw-backup`, claim `vaultwarden/vw-backup`, reclaim Retain). An offsite copy follows: nightly.',
    ]);
    expect(lines[13]).toBe(
      'An alert about `vw` means its newest verified copy is older than the schedule allows (`*Stale`), its last run failed (`*Failing`), it never reported a success (`*NeverSucceeded`), or its newest copy is much smaller than recent ones (`*TooSmall`). `*IntegrityFail` means the live database failed `PRAGMA integrity_check`: treat it as data corruption in progress.',
    );
    expect(page.slice(page.indexOf('### Restore'), page.indexOf('## Restore drill'))).toBe(`### Restore

A restore Job (\`backup-policy restore\`, the backup job's image and user, the backup volume \`/srv/nfs/vw-backup\` read-only) copies \`db_<ts>.sqlite3\` into the claim \`vw-data\` as \`db.sqlite3\` (a temporary name, checked with \`PRAGMA integrity_check\`, then renamed) and unpacks \`rsa_key.pem\` from \`files_<ts>.tar.zst\` of the same run. It refuses while \`db.sqlite3-wal\` is not empty (a writer is running), and refuses to replace an existing database or extra path unless given \`--yes\`; what it replaces is renamed \`<name>.before-restore-<ts>\`, never deleted.

1. Stop the writer, where you reach the cluster: a database restored under a running process is overwritten by its WAL.

   \`\`\`sh
   kubectl -n vaultwarden scale deployment/vw --replicas=0
   \`\`\`

2. Run the restore Job, from a checkout of the policy where \`kubectl\` reaches the cluster (the Job itself runs in the cluster). \`latest\` is the newest verified copy; name another with \`--copy\`, as \`ls /srv/nfs/vw-backup\` shows it; add \`--yes\` to replace the live database:

   \`\`\`sh
   npx backup-policy restore vw [--copy db_<YYYYmmddTHHMMSSZ>.sqlite3] [--yes] | kubectl apply -f -
   kubectl -n vaultwarden logs -f -l backup-policy/service=vw,app.kubernetes.io/component=restore-job
   \`\`\`

   The log lists every table's rows and every file restored (checked against the copy's manifest when there is one). It pushes \`backup_restore_last_run_success{service="vw"}\` and \`backup_restore_duration_seconds\`. \`--print-commands\` prints the same Job as shell commands; \`--target <claim>\` restores into another PVC.

3. Start the writer again, where you reach the cluster:

   \`\`\`sh
   kubectl -n vaultwarden scale deployment/vw --replicas=1
   \`\`\`

`);
    // The manual run starts the job that keeps copies, not the integrity check.
    expect(page.slice(page.indexOf('## Mitigation'), page.indexOf('### Restore'))).toBe(`## Mitigation

Run the job now, once the cause is fixed:

\`\`\`sh
kubectl -n vaultwarden create job --from=cronjob/vw-backup vw-backup-manual-$(date +%s)
\`\`\`

`);
  });
  test('a drilled PostgreSQL service: the drill CronJobs, what a failing drill means, where its log is', () => {
    const [service] = planPolicy(
      policyOf(
        { pg: { ...pgService, perDatabase: { schedule: 'daily at 00:15' }, drill: { queries: [{ sql: 'select count(*) from users', min: 1 }] } } },
        { drills: { schedule: 'weekly on sunday at 04:00' } },
      ),
    ).services;
    const page = renderRunbook(service, 'Europe/London', 'No offsite copy is declared for these files.');
    expect(page).toContain(' `*RestoreDrill*` alerts are about the restore drills below.');
    expect(page.slice(page.indexOf('## Restore drill'))).toBe(`## Restore drill

| CronJob | restores | schedule | deadline | stale after |
|---|---|---|---|---|
| \`pg-full-drill\` | newest full copy | \`0 4 * * 0\` (At 04:00, only on Sunday) | 2 hours | 8 days |
| \`pg-per-db-drill\` | newest per-database copy | \`0 4 * * 0\` (At 04:00, only on Sunday) | 2 hours | 8 days |

Each drill restores the newest verified copy inside its own pod (image \`ghcr.io/backup-policy/backup-drill:0.3.0\`; a throwaway server where the engine has one), checks it against the manifest written beside the copy when there is one (databases, tables and rows, keys) and 1 declared query, and throws everything away. It mounts the backup volume read-only and never connects to the production server.

\`*RestoreDrillFailing\` means the newest copy did not restore or the restored data failed a check: treat that copy as unusable until the log says otherwise, and make sure an older copy restores. \`*RestoreDrillStale\` and \`*RestoreDrillNeverSucceeded\` mean no drill has proven a copy lately (missed, failed or not reporting).

\`\`\`sh
kubectl -n db get jobs -l backup-policy/service=pg,app.kubernetes.io/component=restore-drill --sort-by=.metadata.creationTimestamp
kubectl -n db logs job/<the newest pg-full-drill job>
kubectl -n db logs job/<the newest pg-per-db-drill job>
kubectl -n db create job --from=cronjob/pg-full-drill pg-full-drill-manual-$(date +%s)
\`\`\`

The log names the failing check (\`ERROR: ...\`, e.g. a table whose rows differ from the manifest, expected vs got). Metrics: \`backup_restore_drill_success{service="pg"}\`, \`backup_restore_drill_last_success_timestamp_seconds{service="pg"}\`, \`backup_restore_drill_duration_seconds{service="pg"}\` (the measured restore time: this service's RTO as production sees it) and \`backup_restore_drill_copy_age_seconds{service="pg"}\`.
`);
  });
});
