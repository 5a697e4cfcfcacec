/**
 * renderRuleGroups and renderRulesFile on one-service plans: the Prometheus rules-file shape as
 * objects and as the exact YAML text. test/alerts/rules.test.ts runs the homelab's rules through
 * the real promtool; here a changed expression, label or annotation is a short diff.
 */
import { planPolicy } from '../../policy/plan/plan';
import { GENERATED_HEADER, renderRuleGroups, renderRulesFile } from '../../policy/render/prometheus-rules';
import { pgService, policyOf } from './small-policies';

const pgPlan = planPolicy(policyOf({ pg: pgService }));

const PG_LABELS = { severity: 'warning', channel: 'infra-alerts', service: 'pg', kind: 'full', runner: 'cronjob' };

describe('renderRuleGroups', () => {
  test('one group per service with its four rules, `for` only where the rule has one', () => {
    expect(renderRuleGroups(pgPlan.alerts)).toEqual([
      {
        name: 'backup-policy.pg',
        rules: [
          {
            alert: 'PgBackupStale',
            expr: 'time() - backup_last_success_timestamp_seconds{service="pg",kind="full"} > 129600',
            labels: PG_LABELS,
            annotations: {
              summary: 'Pg full backup: no success for 36 hours',
              description: 'The Pg full backup of {{ $labels.service }} has not succeeded for more than 36 hours: at least one scheduled run (at most 24 hours apart) was missed or failed, plus grace.',
              runbook_url: 'docs/runbooks/pg.md',
            },
          },
          {
            alert: 'PgBackupFailing',
            expr: 'backup_last_run_success{service="pg",kind="full"} == 0',
            for: '15m',
            labels: PG_LABELS,
            annotations: {
              summary: 'Pg full backup: the last run failed',
              description: 'The last run of {{ $labels.service }} ({{ $labels.kind }}) exited non-zero; the previous copies are intact and retention did not run. Check the failed Job or the unit journal.',
              runbook_url: 'docs/runbooks/pg.md',
            },
          },
          {
            alert: 'PgBackupNeverSucceeded',
            expr: 'absent(backup_last_success_timestamp_seconds{service="pg",kind="full"})',
            for: '1d12h',
            labels: PG_LABELS,
            annotations: {
              summary: 'Pg full backup: no success has ever been reported',
              description: 'No backup_last_success_timestamp_seconds series exists for pg (full) for 36 hours: the job never succeeded, never ran, or cannot reach the Pushgateway.',
              runbook_url: 'docs/runbooks/pg.md',
            },
          },
          {
            alert: 'PgBackupTooSmall',
            expr: '(backup_last_size_bytes{service="pg",kind="full"} < 0.5 * max_over_time(backup_last_size_bytes{service="pg",kind="full"}[7d])) and on(service, kind) backup_last_run_success{service="pg",kind="full"} == 1',
            labels: PG_LABELS,
            annotations: {
              summary: 'Pg full backup: the newest backup is much smaller than recent ones',
              description: 'The newest copy from the Pg full backup of {{ $labels.service }} is smaller than 0.5 of the largest one in the last 7d: an empty or schema-only dump looks exactly like this.',
              runbook_url: 'docs/runbooks/pg.md',
            },
          },
        ],
      },
    ]);
  });

  test('the integrity gauge of a critical SQLite service: critical, no `for`, no runner label', () => {
    const plan = planPolicy(
      policyOf(
        {
          vw: {
            engine: 'sqlite',
            namespace: 'vaultwarden',
            displayName: 'Vaultwarden',
            critical: true,
            schedule: 'every 6h',
            data: { claimName: 'vw-data', database: 'db.sqlite3' },
            integrityCheck: { schedule: 'hourly' },
            retention: { keepWithin: '30d', keepLast: 8 },
          },
        },
        { alerts: { runbookBaseUrl: 'https://runbooks.lan/backup/' } },
      ),
    );
    const [group] = renderRuleGroups(plan.alerts);
    expect(group.rules.map((r) => r.alert)).toEqual([
      'VaultwardenBackupStale',
      'VaultwardenBackupFailing',
      'VaultwardenBackupNeverSucceeded',
      'VaultwardenBackupTooSmall',
      'VaultwardenIntegrityCheckStale',
      'VaultwardenIntegrityCheckFailing',
      'VaultwardenIntegrityCheckNeverSucceeded',
      'VaultwardenIntegrityFail',
    ]);
    expect(group.rules[7]).toEqual({
      alert: 'VaultwardenIntegrityFail',
      expr: 'backup_integrity_ok{service="vw",kind="integrity"} == 0',
      labels: { severity: 'critical', channel: 'infra-critical', service: 'vw', kind: 'integrity' },
      annotations: {
        summary: 'Vaultwarden: the live SQLite database failed its integrity check',
        description: 'PRAGMA integrity_check on the live database of {{ $labels.service }} did not answer exactly "ok". Stop writes and restore from the newest verified backup.',
        // The base URL's trailing slash is not doubled.
        runbook_url: 'https://runbooks.lan/backup/vw.md',
      },
    });
    expect(group.rules[4]).toEqual({
      alert: 'VaultwardenIntegrityCheckStale',
      expr: 'time() - backup_last_success_timestamp_seconds{service="vw",kind="integrity"} > 5400',
      labels: { severity: 'critical', channel: 'infra-critical', service: 'vw', kind: 'integrity', runner: 'cronjob' },
      annotations: {
        summary: 'Vaultwarden integrity check: no success for 1 hour 30 minutes',
        description: 'The Vaultwarden integrity check of {{ $labels.service }} has not succeeded for more than 1 hour 30 minutes: at least one scheduled run (at most 1 hour apart) was missed or failed, plus grace.',
        runbook_url: 'https://runbooks.lan/backup/vw.md',
      },
    });
  });
});

describe('restore drill rules', () => {
  test('a critical drilled service: its drill rules after the backup ones, on the drill metrics, paging', () => {
    const plan = planPolicy(policyOf({ pg: { ...pgService, critical: true } }, { drills: { schedule: 'weekly on sunday at 04:00' } }));
    const labels = { severity: 'critical', channel: 'infra-critical', service: 'pg', kind: 'drill-full', runner: 'cronjob' };
    const [group] = renderRuleGroups(plan.alerts);
    expect(group.rules.map((r) => r.alert)).toEqual(['PgBackupStale', 'PgBackupFailing', 'PgBackupNeverSucceeded', 'PgBackupTooSmall', 'PgRestoreDrillStale', 'PgRestoreDrillFailing', 'PgRestoreDrillNeverSucceeded']);
    expect(group.rules.slice(4)).toEqual([
      {
        alert: 'PgRestoreDrillStale',
        expr: 'time() - backup_restore_drill_last_success_timestamp_seconds{service="pg",kind="drill-full"} > 691200',
        labels,
        annotations: {
          summary: 'Pg full restore drill: no successful drill for 8 days',
          description: 'No restore drill of {{ $labels.service }} ({{ $labels.kind }}) has succeeded for more than 8 days: at least one scheduled drill (at most 7 days apart) was missed or failed, so nothing has proven lately that its newest copy restores.',
          runbook_url: 'docs/runbooks/pg.md',
        },
      },
      {
        alert: 'PgRestoreDrillFailing',
        expr: 'backup_restore_drill_success{service="pg",kind="drill-full"} == 0',
        for: '15m',
        labels,
        annotations: {
          summary: 'Pg full restore drill: the last drill failed',
          description: "The newest copy of {{ $labels.service }} ({{ $labels.kind }}) did not restore into a throwaway server, or the restored data failed a check (manifest counts or a declared query). The copy may be unusable: read the drill Job's log before relying on it.",
          runbook_url: 'docs/runbooks/pg.md',
        },
      },
      {
        alert: 'PgRestoreDrillNeverSucceeded',
        expr: 'absent(backup_restore_drill_last_success_timestamp_seconds{service="pg",kind="drill-full"})',
        for: '8d',
        labels,
        annotations: {
          summary: 'Pg full restore drill: no drill has ever succeeded',
          description: 'No backup_restore_drill_last_success_timestamp_seconds series exists for pg (drill-full) for 8 days: the drill never succeeded, never ran, or cannot reach the Pushgateway.',
          runbook_url: 'docs/runbooks/pg.md',
        },
      },
    ]);
  });
});

describe('renderRulesFile', () => {
  test('the header, then the groups as YAML with no line folding', () => {
    expect(renderRulesFile(pgPlan.alerts)).toBe(`# Generated by backup-policy from the policy declaration. Do not edit: run \`npm run generate\`.
groups:
  - name: backup-policy.pg
    rules:
      - alert: PgBackupStale
        expr: time() - backup_last_success_timestamp_seconds{service="pg",kind="full"} > 129600
        labels:
          severity: warning
          channel: infra-alerts
          service: pg
          kind: full
          runner: cronjob
        annotations:
          summary: "Pg full backup: no success for 36 hours"
          description: "The Pg full backup of {{ $labels.service }} has not succeeded for more than 36 hours: at least one scheduled run (at most 24 hours apart) was missed or failed, plus grace."
          runbook_url: docs/runbooks/pg.md
      - alert: PgBackupFailing
        expr: backup_last_run_success{service="pg",kind="full"} == 0
        for: 15m
        labels:
          severity: warning
          channel: infra-alerts
          service: pg
          kind: full
          runner: cronjob
        annotations:
          summary: "Pg full backup: the last run failed"
          description: The last run of {{ $labels.service }} ({{ $labels.kind }}) exited non-zero; the previous copies are intact and retention did not run. Check the failed Job or the unit journal.
          runbook_url: docs/runbooks/pg.md
      - alert: PgBackupNeverSucceeded
        expr: absent(backup_last_success_timestamp_seconds{service="pg",kind="full"})
        for: 1d12h
        labels:
          severity: warning
          channel: infra-alerts
          service: pg
          kind: full
          runner: cronjob
        annotations:
          summary: "Pg full backup: no success has ever been reported"
          description: "No backup_last_success_timestamp_seconds series exists for pg (full) for 36 hours: the job never succeeded, never ran, or cannot reach the Pushgateway."
          runbook_url: docs/runbooks/pg.md
      - alert: PgBackupTooSmall
        expr: (backup_last_size_bytes{service="pg",kind="full"} < 0.5 * max_over_time(backup_last_size_bytes{service="pg",kind="full"}[7d])) and on(service, kind) backup_last_run_success{service="pg",kind="full"} == 1
        labels:
          severity: warning
          channel: infra-alerts
          service: pg
          kind: full
          runner: cronjob
        annotations:
          summary: "Pg full backup: the newest backup is much smaller than recent ones"
          description: "The newest copy from the Pg full backup of {{ $labels.service }} is smaller than 0.5 of the largest one in the last 7d: an empty or schema-only dump looks exactly like this."
          runbook_url: docs/runbooks/pg.md
`);
  });

  test('no groups: the header and an empty list', () => {
    expect(renderRulesFile([])).toBe(`${GENERATED_HEADER}groups: []\n`);
  });
});
