/**
 * renderRunbook for one service, as the whole Markdown page: the job table, where the copies
 * are, the commands with this service's names, and the engine's restore steps.
 */
import { planPolicy } from '../../../policy/plan/plan';
import { renderRunbook } from '../../../policy/render/docs/runbooks';
import { policyOf, redisService } from '../small-policies';

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

\`\`\`sh
redis-check-rdb /srv/nfs/cache-backup/dump_<ts>.rdb             # must end with "RDB looks OK"
kubectl -n cache scale statefulset/<redis> --replicas=0
# copy the file into the Redis data volume as dump.rdb (appendonly no), then
kubectl -n cache scale statefulset/<redis> --replicas=1
\`\`\`
`);
  });

  test('an integrity-checked SQLite service: both jobs in the table, the IntegrityFail meaning, the backup job in the commands', () => {
    const [service] = planPolicy(
      policyOf({
        vw: {
          engine: 'sqlite',
          namespace: 'vaultwarden',
          displayName: 'Vaultwarden',
          schedule: 'every 6h',
          data: { claimName: 'vw-data', database: 'db.sqlite3', extraPaths: ['rsa_key.pem'] },
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
    expect(page.slice(page.indexOf('### Restore'))).toBe(`### Restore

Stop the writer first: a database restored under a running process is overwritten by its WAL.

\`\`\`sh
kubectl -n vaultwarden scale deployment/vw --replicas=0
sqlite3 -bail "file:/srv/nfs/vw-backup/db_<ts>.sqlite3?mode=ro" "PRAGMA integrity_check;"   # must print exactly: ok
# in the vw-data volume: remove db.sqlite3-wal and db.sqlite3-shm, then copy the backup over db.sqlite3
zstd -dc /srv/nfs/vw-backup/files_<ts>.tar.zst | tar -x -C <the vw-data volume>   # rsa_key.pem
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
});
