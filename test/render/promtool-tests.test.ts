/**
 * The generated promtool tests for one service, as objects and as the exact test file. The
 * timings matter: each case sits one 5-minute step either side of a threshold, so these
 * expectations spell out the arithmetic (36 h = 432 steps; `for: 15m` = 3 steps).
 * test/alerts/rules.test.ts runs the generated files through the real promtool.
 */
import { planPolicy } from '../../policy/plan/plan';
import { promtoolTests, renderPromtoolTestFile } from '../../policy/render/promtool-tests';
import { pgService, policyOf, smallHost } from './small-policies';

const pgPlan = planPolicy(policyOf({ pg: pgService }));

const SERIES_LABELS = '{job="backup",service="pg",kind="full",engine="test",runner="cronjob"}';
const FIRED_LABELS = { job: 'backup', service: 'pg', kind: 'full', engine: 'test', runner: 'cronjob', severity: 'warning', channel: 'infra-alerts' };
const none = (eval_time: string, alertname: string) => ({ eval_time, alertname, exp_alerts: [] });

describe('promtoolTests', () => {
  test('a daily full dump: stale after 36 h, failing after 15 min, never-succeeded, too small', () => {
    expect(promtoolTests(pgPlan.alerts[0])).toEqual([
      {
        name: 'PgBackupStale {service="pg",kind="full"}',
        interval: '5m',
        // Success at t=0, then a fresh one at 130200 s (one step after the alert fired).
        input_series: [{ series: `backup_last_success_timestamp_seconds${SERIES_LABELS}`, values: '0x433 130200x2' }],
        alert_rule_test: [
          none('2155m', 'PgBackupStale'),
          // 2160m is exactly 36 h: "> 129600" is still false there, so the first firing step is 2165m.
          {
            eval_time: '2165m',
            alertname: 'PgBackupStale',
            exp_alerts: [
              {
                exp_labels: FIRED_LABELS,
                exp_annotations: {
                  summary: 'Pg full backup: no success for 36 hours',
                  description: 'The Pg full backup of pg has not succeeded for more than 36 hours: at least one scheduled run (at most 24 hours apart) was missed or failed, plus grace.',
                  runbook_url: 'docs/runbooks/pg.md',
                },
              },
            ],
          },
          none('2175m', 'PgBackupStale'),
        ],
      },
      {
        name: 'PgBackupFailing {service="pg",kind="full"}',
        interval: '5m',
        input_series: [{ series: `backup_last_run_success${SERIES_LABELS}`, values: '1x11 0x4 1x2' }],
        alert_rule_test: [
          none('55m', 'PgBackupFailing'),
          // Failed from 60m: still pending one step before the 15 minutes are up.
          none('70m', 'PgBackupFailing'),
          {
            eval_time: '75m',
            alertname: 'PgBackupFailing',
            exp_alerts: [
              {
                exp_labels: FIRED_LABELS,
                exp_annotations: {
                  summary: 'Pg full backup: the last run failed',
                  description: 'The last run of pg (full) exited non-zero; the previous copies are intact and retention did not run. Check the failed Job or the unit journal.',
                  runbook_url: 'docs/runbooks/pg.md',
                },
              },
            ],
          },
          none('90m', 'PgBackupFailing'),
        ],
      },
      {
        name: 'PgBackupNeverSucceeded {service="pg",kind="full"}',
        interval: '5m',
        input_series: [{ series: `backup_last_success_timestamp_seconds${SERIES_LABELS}`, values: '_x434 130200x2' }],
        alert_rule_test: [
          none('2155m', 'PgBackupNeverSucceeded'),
          {
            eval_time: '2165m',
            alertname: 'PgBackupNeverSucceeded',
            exp_alerts: [
              {
                // absent() yields only the selector's labels, never the pushed job's.
                exp_labels: { service: 'pg', kind: 'full', severity: 'warning', channel: 'infra-alerts', runner: 'cronjob' },
                exp_annotations: {
                  summary: 'Pg full backup: no success has ever been reported',
                  description: 'No backup_last_success_timestamp_seconds series exists for pg (full) for 36 hours: the job never succeeded, never ran, or cannot reach the Pushgateway.',
                  runbook_url: 'docs/runbooks/pg.md',
                },
              },
            ],
          },
          none('2175m', 'PgBackupNeverSucceeded'),
        ],
      },
      {
        name: 'PgBackupTooSmall {service="pg",kind="full"}',
        interval: '5m',
        input_series: [
          // A quarter of the largest copy (half of the 0.5 ratio), for three steps.
          { series: `backup_last_size_bytes${SERIES_LABELS}`, values: '1000000x11 250000x2 1000000x2' },
          { series: `backup_last_run_success${SERIES_LABELS}`, values: '1x17' },
        ],
        alert_rule_test: [
          none('55m', 'PgBackupTooSmall'),
          {
            eval_time: '60m',
            alertname: 'PgBackupTooSmall',
            exp_alerts: [
              {
                exp_labels: FIRED_LABELS,
                exp_annotations: {
                  summary: 'Pg full backup: the newest backup is much smaller than recent ones',
                  description: 'The newest copy from the Pg full backup of pg is smaller than 0.5 of the largest one in the last 7d: an empty or schema-only dump looks exactly like this.',
                  runbook_url: 'docs/runbooks/pg.md',
                },
              },
            ],
          },
          none('80m', 'PgBackupTooSmall'),
        ],
      },
    ]);
  });

  test('never-succeeded with a sibling job: the other job of the service did report', () => {
    const plan = planPolicy(policyOf({ pg: { ...pgService, perDatabase: { schedule: 'daily at 00:15' } } }));
    const neverSucceededFull = promtoolTests(plan.alerts[0])[2];
    expect(neverSucceededFull.input_series).toEqual([
      { series: `backup_last_success_timestamp_seconds${SERIES_LABELS}`, values: '_x434 130200x2' },
      { series: 'backup_last_success_timestamp_seconds{job="backup",service="pg",kind="per-database",engine="test",runner="cronjob"}', values: '0x436' },
    ]);
  });

  test('gauges below and above a threshold: the host capacity rules', () => {
    const plan = planPolicy(policyOf({ pg: pgService }, { host: smallHost() }));
    const capacity = plan.alerts.find((g) => g.name === 'backup-policy.host.capacity')!;
    const fired = (eval_time: string, alertname: string, exp_labels: object, exp_annotations: object) => ({ eval_time, alertname, exp_alerts: [{ exp_labels, exp_annotations }] });
    expect(promtoolTests(capacity)).toEqual([
      {
        name: 'LVMThinPoolLow {service="lvm-pvc-snapshot",kind="snapshot"}',
        interval: '5m',
        // "< 15": 16 is good, 14 is bad.
        input_series: [{ series: 'backup_thin_pool_free_percent{job="backup",service="lvm-pvc-snapshot",kind="snapshot"}', values: '16x11 14x4 16x2' }],
        alert_rule_test: [
          none('55m', 'LVMThinPoolLow'),
          none('70m', 'LVMThinPoolLow'),
          fired(
            '75m',
            'LVMThinPoolLow',
            { job: 'backup', service: 'lvm-pvc-snapshot', kind: 'snapshot', severity: 'warning', channel: 'infra-alerts' },
            {
              summary: 'Thin pool pve/data below 15% free',
              description: 'The thin pool holding the PVC volumes has less than 15% free space (data or metadata); snapshots are refused below that floor, and a full pool stops every VM on it.',
              runbook_url: 'docs/runbooks/lvm-pvc-snapshot.md',
            },
          ),
          none('90m', 'LVMThinPoolLow'),
        ],
      },
      {
        name: 'BackupDiskFull {service="daily-backup",kind="files"}',
        interval: '5m',
        // "> 85": 84 is good, 86 is bad.
        input_series: [{ series: 'backup_disk_usage_percent{job="backup",service="daily-backup",kind="files"}', values: '84x11 86x4 84x2' }],
        alert_rule_test: [
          none('55m', 'BackupDiskFull'),
          none('70m', 'BackupDiskFull'),
          fired(
            '75m',
            'BackupDiskFull',
            { job: 'backup', service: 'daily-backup', kind: 'files', severity: 'warning', channel: 'infra-alerts' },
            {
              summary: 'Backup disk /mnt/backup above 85% used',
              description: 'The backup disk is more than 85% full; the next weekly generation may not fit.',
              runbook_url: 'docs/runbooks/daily-backup.md',
            },
          ),
          none('90m', 'BackupDiskFull'),
        ],
      },
    ]);
  });

  test('an "== 0" gauge without `for`: the integrity check fires at the first bad sample', () => {
    const plan = planPolicy(
      policyOf({
        vw: {
          engine: 'sqlite',
          namespace: 'vaultwarden',
          schedule: 'every 6h',
          data: { claimName: 'vw-data', database: 'db.sqlite3' },
          integrityCheck: { schedule: 'hourly' },
          retention: { keepWithin: '30d', keepLast: 8 },
        },
      }),
    );
    const tests = promtoolTests(plan.alerts[0]);
    expect(tests[tests.length - 1]).toEqual({
      name: 'VwIntegrityFail {service="vw",kind="integrity"}',
      interval: '5m',
      input_series: [{ series: 'backup_integrity_ok{job="backup",service="vw",kind="integrity"}', values: '1x11 0x1 1x2' }],
      alert_rule_test: [
        none('55m', 'VwIntegrityFail'),
        {
          eval_time: '60m',
          alertname: 'VwIntegrityFail',
          exp_alerts: [
            {
              exp_labels: { job: 'backup', service: 'vw', kind: 'integrity', severity: 'critical', channel: 'infra-critical' },
              exp_annotations: {
                summary: 'Vw: the live SQLite database failed its integrity check',
                description: 'PRAGMA integrity_check on the live database of vw did not answer exactly "ok". Stop writes and restore from the newest verified backup.',
                runbook_url: 'docs/runbooks/vw.md',
              },
            },
          ],
        },
        none('75m', 'VwIntegrityFail'),
      ],
    });
  });
});

describe('renderPromtoolTestFile', () => {
  test('the header, the rules file it loads, the 5-minute evaluation interval and every test', () => {
    expect(renderPromtoolTestFile(pgPlan.alerts, 'rules.yaml')).toBe(`# Generated by backup-policy from the policy declaration. Do not edit: run \`npm run generate\`.
rule_files:
  - rules.yaml
evaluation_interval: 5m
tests:
  - name: PgBackupStale {service="pg",kind="full"}
    interval: 5m
    input_series:
      - series: backup_last_success_timestamp_seconds{job="backup",service="pg",kind="full",engine="test",runner="cronjob"}
        values: 0x433 130200x2
    alert_rule_test:
      - eval_time: 2155m
        alertname: PgBackupStale
        exp_alerts: []
      - eval_time: 2165m
        alertname: PgBackupStale
        exp_alerts:
          - exp_labels:
              job: backup
              service: pg
              kind: full
              engine: test
              runner: cronjob
              severity: warning
              channel: infra-alerts
            exp_annotations:
              summary: "Pg full backup: no success for 36 hours"
              description: "The Pg full backup of pg has not succeeded for more than 36 hours: at least one scheduled run (at most 24 hours apart) was missed or failed, plus grace."
              runbook_url: docs/runbooks/pg.md
      - eval_time: 2175m
        alertname: PgBackupStale
        exp_alerts: []
  - name: PgBackupFailing {service="pg",kind="full"}
    interval: 5m
    input_series:
      - series: backup_last_run_success{job="backup",service="pg",kind="full",engine="test",runner="cronjob"}
        values: 1x11 0x4 1x2
    alert_rule_test:
      - eval_time: 55m
        alertname: PgBackupFailing
        exp_alerts: []
      - eval_time: 70m
        alertname: PgBackupFailing
        exp_alerts: []
      - eval_time: 75m
        alertname: PgBackupFailing
        exp_alerts:
          - exp_labels:
              job: backup
              service: pg
              kind: full
              engine: test
              runner: cronjob
              severity: warning
              channel: infra-alerts
            exp_annotations:
              summary: "Pg full backup: the last run failed"
              description: The last run of pg (full) exited non-zero; the previous copies are intact and retention did not run. Check the failed Job or the unit journal.
              runbook_url: docs/runbooks/pg.md
      - eval_time: 90m
        alertname: PgBackupFailing
        exp_alerts: []
  - name: PgBackupNeverSucceeded {service="pg",kind="full"}
    interval: 5m
    input_series:
      - series: backup_last_success_timestamp_seconds{job="backup",service="pg",kind="full",engine="test",runner="cronjob"}
        values: _x434 130200x2
    alert_rule_test:
      - eval_time: 2155m
        alertname: PgBackupNeverSucceeded
        exp_alerts: []
      - eval_time: 2165m
        alertname: PgBackupNeverSucceeded
        exp_alerts:
          - exp_labels:
              service: pg
              kind: full
              severity: warning
              channel: infra-alerts
              runner: cronjob
            exp_annotations:
              summary: "Pg full backup: no success has ever been reported"
              description: "No backup_last_success_timestamp_seconds series exists for pg (full) for 36 hours: the job never succeeded, never ran, or cannot reach the Pushgateway."
              runbook_url: docs/runbooks/pg.md
      - eval_time: 2175m
        alertname: PgBackupNeverSucceeded
        exp_alerts: []
  - name: PgBackupTooSmall {service="pg",kind="full"}
    interval: 5m
    input_series:
      - series: backup_last_size_bytes{job="backup",service="pg",kind="full",engine="test",runner="cronjob"}
        values: 1000000x11 250000x2 1000000x2
      - series: backup_last_run_success{job="backup",service="pg",kind="full",engine="test",runner="cronjob"}
        values: 1x17
    alert_rule_test:
      - eval_time: 55m
        alertname: PgBackupTooSmall
        exp_alerts: []
      - eval_time: 60m
        alertname: PgBackupTooSmall
        exp_alerts:
          - exp_labels:
              job: backup
              service: pg
              kind: full
              engine: test
              runner: cronjob
              severity: warning
              channel: infra-alerts
            exp_annotations:
              summary: "Pg full backup: the newest backup is much smaller than recent ones"
              description: "The newest copy from the Pg full backup of pg is smaller than 0.5 of the largest one in the last 7d: an empty or schema-only dump looks exactly like this."
              runbook_url: docs/runbooks/pg.md
      - eval_time: 80m
        alertname: PgBackupTooSmall
        exp_alerts: []
`);
  });
});
