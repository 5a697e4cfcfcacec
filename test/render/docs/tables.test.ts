/**
 * The table documents (protection matrix, RPO/RTO, alerts) on two-service plans, as whole
 * Markdown strings: one service inside the snapshot layers, one in an excluded namespace.
 */
import { planPolicy } from '../../../policy/plan/plan';
import { renderAlertTable, renderProtectionMatrix, renderRpoRto } from '../../../policy/render/docs/tables';
import type { MeasuredRestoreTimes } from '../../../policy/values/restore-times';
import { pgService, policyOf, redisService, smallHost } from '../small-policies';

// The cache names its data PVC: the host layers reach only PVCs a service declares.
const withHost = planPolicy(policyOf({ pg: pgService, cache: { ...redisService, dataClaims: ['redis-data'] } }, { host: smallHost() }));

describe('renderProtectionMatrix', () => {
  test('with a host: snapshot and file layers only outside the excluded namespace, offsite via NFS and the backup disk', () => {
    expect(renderProtectionMatrix(withHost)).toBe(`# Protection matrix

Generated from the backup policy. Do not edit: run \`npm run generate\`. Times are in Europe/London.

Snapshots and file backups cover every PVC LV matching \`vm-*-pvc-*\` outside \`db\`; a service gets those layers only for the PVCs it names as its data (\`dataClaims\`), so a service without a PVC (a static pod) shows none. The offsite sync mirrors the backup disk and \`/srv/nfs\`.

| service | engine | namespace | LVM snapshot | File backup | App-level dump | Offsite | Restore drill |
|---|---|---|---|---|---|---|---|
| cache | redis | cache | At 03:00; keeps 7 days; RPO 24 hours | At 05:00; keeps 4 weekly generations; RPO 24 hours | snapshot: At 03:00, only on Sunday; keeps 30 days, at least the newest 4; RPO 7 days | At 06:00; the dumps via /srv/nfs: RPO 8 days; the file backup via /mnt/backup: RPO 2 days; keeps what its sources keep | not drilled |
| pg | postgres | db | — | — | full: At 00:00; keeps 14 days, at least the newest 7; RPO 24 hours | At 06:00; the dumps via /srv/nfs: RPO 2 days; keeps what its sources keep | not drilled |

RPO in each cell is the longest gap between two runs of that layer (for offsite: the source's gap plus the sync's), the most data lost if the live copy dies just before the next run. Restore drill: how often the newest copy of each kind is restored into a throwaway server and checked (no copy of its own, so no RPO); each service's runbook names its drill CronJobs.
`);
  });

  test('without a host: only the dump column is filled; two dump jobs share one cell', () => {
    const plan = planPolicy(policyOf({ pg: { ...pgService, perDatabase: { schedule: 'every 6h' } } }));
    expect(renderProtectionMatrix(plan)).toBe(`# Protection matrix

Generated from the backup policy. Do not edit: run \`npm run generate\`. Times are in Europe/London.

The policy declares no host section: only the app-level dumps below exist.

| service | engine | namespace | LVM snapshot | File backup | App-level dump | Offsite | Restore drill |
|---|---|---|---|---|---|---|---|
| pg | postgres | db | — | — | full: At 00:00; per-database: On the hour, every 6 hours; keeps 14 days, at least the newest 7; RPO 6 hours | — | not drilled |

RPO in each cell is the longest gap between two runs of that layer (for offsite: the source's gap plus the sync's), the most data lost if the live copy dies just before the next run. Restore drill: how often the newest copy of each kind is restored into a throwaway server and checked (no copy of its own, so no RPO); each service's runbook names its drill CronJobs.
`);
  });

  test('a service exported outside every offsite source and excluded from snapshots has no offsite cell', () => {
    const plan = planPolicy(policyOf({ pg: { ...pgService, nfsPath: '/exports/pg' } }, { host: smallHost() }));
    expect(renderProtectionMatrix(plan).split('\n')[8]).toBe('| pg | postgres | db | — | — | full: At 00:00; keeps 14 days, at least the newest 7; RPO 24 hours | — | not drilled |');
  });
});

describe('drills in the matrix and the RPO/RTO page', () => {
  const drilled = planPolicy(
    policyOf(
      { pg: { ...pgService, perDatabase: { schedule: 'daily at 00:15' } }, cache: { ...redisService, drill: { enabled: false } } },
      { drills: { schedule: 'weekly on sunday at 04:00' } },
    ),
  );

  test('the drill column names each drilled kind and how often; an opted-out service says so', () => {
    const rows = renderProtectionMatrix(drilled).split('\n').filter((l) => /^\| (pg|cache) /.test(l));
    expect(rows.map((r) => r.split(' | ').at(-1))).toEqual(['not drilled |', 'full copies: At 04:00, only on Sunday; per-database copies: At 04:00, only on Sunday |']);
  });

  test('the alert table words drill rules as drills', () => {
    const rows = renderAlertTable(drilled.alerts).split('\n').filter((l) => l.includes('RestoreDrill') && l.includes('drill-full'));
    expect(rows.map((r) => r.split(' | ').slice(0, 3).join(' | '))).toEqual([
      '| PgRestoreDrillStale | `service="pg", kind="drill-full"` | no successful drill for 8 days',
      '| PgRestoreDrillFailing | `service="pg", kind="drill-full"` | last drill failed, for 15 minutes',
      '| PgRestoreDrillNeverSucceeded | `service="pg", kind="drill-full"` | no successful drill ever reported, for 8 days',
    ]);
  });

  test('the measured restore time of each drill is the RTO source', () => {
    const page = renderRpoRto(drilled);
    expect(page.slice(page.indexOf('## Restore drills'))).toBe(`## Restore drills: the measured RTO

A drill restores the newest copy into a throwaway server and checks it; the time that restore took is pushed as the RTO measured in production.

| service | drilled | alert when no success for | measured restore time (RTO source) |
|---|---|---|---|
| cache | not drilled | — | none: only the RTO above |
| pg | full copies, At 04:00, only on Sunday | 8 days | \`backup_restore_drill_duration_seconds{service="pg",kind="drill-full"}\` |
| pg | per-database copies, At 04:00, only on Sunday | 8 days | \`backup_restore_drill_duration_seconds{service="pg",kind="drill-per-database"}\` |
`);
  });
});

describe('renderRpoRto', () => {
  test('achieved against declared RPO (met, not met, none) and declared or typical RTO', () => {
    const plan = planPolicy(
      policyOf(
        {
          pg: { ...pgService, rpo: '12h' },
          cache: { ...redisService, rpo: '2d', rto: '30m', dataClaims: ['redis-data'] },
          etcd: { engine: 'etcd', namespace: 'kube-system', schedule: 'daily at 01:00', endpoints: ['http://127.0.0.1:2379'], retention: { keepWithin: '30d', keepLast: 4 } },
        },
        { host: smallHost() },
      ),
    );
    expect(renderRpoRto(plan)).toBe(`# RPO and RTO

Generated from the backup policy. Do not edit: run \`npm run generate\`.

| service | achieved RPO (best layer) | declared RPO | RPO | RTO |
|---|---|---|---|---|
| cache | 24 hours (LVM snapshot) | 2 days | met | 30 minutes (declared) |
| etcd | 24 hours (App-level dump) | — | none declared | 20 minutes (typical for etcd) |
| pg | 24 hours (App-level dump) | 12 hours | **not met** | 5 minutes (typical for postgres) |

## Measured restore times

No measurement is recorded (\`bench/restore-times.json\` is missing): the RTO column above is the declared or typical figure only. The restore benchmark (\`node dist/bench/pipeline/run.js --only-restores\`) writes it.
`);
  });

  test('the measured restore times: per engine and mode, the script beside the tool, the ratio against 1.2x, the services of that engine, and where they came from', () => {
    const plan = planPolicy(policyOf({ pg: pgService, cache: redisService }));
    const timing = (median: number, min: number, max: number) => ({ medianSeconds: median, minSeconds: min, maxSeconds: max, runs: 3 });
    const measured: MeasuredRestoreTimes = {
      measuredAt: '2026-11-29 15:20 UTC',
      machine: 'node v20; a CPU, 2 cores',
      loadAverage: { start: 1.5, end: 2.25 },
      source: 'bench/results.md, section "Restores"',
      command: 'node dist/bench/pipeline/run.js --only-restores',
      restores: [
        { engine: 'postgres', mode: 'full', server: 'PostgreSQL 15', databases: ['app', 'postgres'], dumpBytes: 450 * 1048576, copyBytes: 130 * 1048576, script: timing(22, 21.5, 25), tool: { command: 'psql -f', ...timing(20, 19, 21) } },
        { engine: 'mysql', mode: 'per-database', server: 'MariaDB 10.11', databases: ['app'], dumpBytes: 100 * 1048576, copyBytes: 30 * 1048576, script: timing(15, 14, 16), tool: { command: 'mariadb <', ...timing(10, 9.5, 10.25) } },
      ],
    };
    expect(renderRpoRto(plan, measured).split('## Measured restore times')[1]).toBe(`

The restore scripts the restore Jobs run (\`backup-policy restore\`), timed on realistic text-heavy data beside the engine's own tool restoring an uncompressed copy of the same dump into the same server: median wall time of 3 alternated runs, range in brackets. Target: at most 1.2× the tool's own time.

| engine (server) | mode | data | restore script | engine's tool, uncompressed copy | ratio | ≤ 1.2× | services here |
|---|---|---|---|---|--:|---|---|
| postgres (PostgreSQL 15) | full | 450 MiB of dump (2 databases), 130 MiB compressed | \`postgres-restore.sh full\`: 22.0 s (21.5–25.0) | \`psql -f\`: 20.0 s (19.0–21.0) | 1.10× | yes | pg |
| mysql (MariaDB 10.11) | per-database | 100 MiB of dump (1 database), 30 MiB compressed | \`mysql-restore.sh per-database\`: 15.0 s (14.0–16.0) | \`mariadb <\`: 10.0 s (9.5–10.3) | 1.50× | no | — |

Where these come from: measured 2026-11-29 15:20 UTC on node v20; a CPU, 2 cores (1-minute load average 1.5 at the start, 2.25 at the end) by \`node dist/bench/pipeline/run.js --only-restores\`, recorded in \`bench/restore-times.json\`; every variant and command in bench/results.md, section "Restores". Restore time grows with the data: scale these by a service's own dump size for its RTO.
`);
  });

  test('an RPO equal to the achieved gap is met', () => {
    const plan = planPolicy(policyOf({ pg: { ...pgService, rpo: '24h' } }));
    expect(renderRpoRto(plan).split('\n')[6]).toBe('| pg | 24 hours (App-level dump) | 24 hours | met | 5 minutes (typical for postgres) |');
  });
});

describe('renderAlertTable', () => {
  test('one row per rule: selector, threshold in words, severity and channel, runbook link', () => {
    const plan = planPolicy(policyOf({ pg: { ...pgService, critical: true } }, { alerts: { runbookBaseUrl: 'https://runbooks.lan/backup' } }));
    expect(renderAlertTable(plan.alerts)).toBe(`# Alerts

Generated from the backup policy (the same plan as \`alerts/backup-alerts.yaml\`). Do not edit: run \`npm run generate\`.

| alert | watches | fires when | severity (channel) | runbook |
|---|---|---|---|---|
| PgBackupStale | \`service="pg", kind="full"\` | no success for 36 hours | critical (infra-critical) | [runbook](https://runbooks.lan/backup/pg.md) |
| PgBackupFailing | \`service="pg", kind="full"\` | last run failed, for 15 minutes | critical (infra-critical) | [runbook](https://runbooks.lan/backup/pg.md) |
| PgBackupNeverSucceeded | \`service="pg", kind="full"\` | no success ever reported, for 36 hours | critical (infra-critical) | [runbook](https://runbooks.lan/backup/pg.md) |
| PgBackupTooSmall | \`service="pg", kind="full"\` | newest copy under 0.5 x the largest recent one | critical (infra-critical) | [runbook](https://runbooks.lan/backup/pg.md) |
`);
  });

  test('gauge rows name the metric, comparison and threshold', () => {
    const host = planPolicy(policyOf({ pg: pgService }, { host: smallHost(), alerts: { runbookBaseUrl: 'https://runbooks.lan' } }));
    const rows = renderAlertTable(host.alerts).trimEnd().split('\n').slice(-2);
    expect(rows).toEqual([
      '| LVMThinPoolLow | `service="lvm-pvc-snapshot", kind="snapshot"` | `backup_thin_pool_free_percent` < 15 for 15 minutes | warning (infra-alerts) | [runbook](https://runbooks.lan/lvm-pvc-snapshot.md) |',
      '| BackupDiskFull | `service="daily-backup", kind="files"` | `backup_disk_usage_percent` > 85 for 15 minutes | warning (infra-alerts) | [runbook](https://runbooks.lan/daily-backup.md) |',
    ]);
  });

  test('without a runbook base URL the links are relative to docs/, where this page lives', () => {
    // runbook_url then holds the repository path docs/runbooks/pg.md; written as is into
    // docs/alerts.md, Markdown would resolve it to docs/docs/runbooks/pg.md. docs/README.md
    // links runbooks/pg.md the same way.
    const plan = planPolicy(policyOf({ pg: pgService }));
    const links = [...renderAlertTable(plan.alerts).matchAll(/\[runbook\]\(([^)]*)\)/g)].map((m) => m[1]);
    expect(links).toEqual(['runbooks/pg.md', 'runbooks/pg.md', 'runbooks/pg.md', 'runbooks/pg.md']);
  });
});
