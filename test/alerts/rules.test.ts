import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { readRestoreTimes } from '../../policy/io/restore-times';
import { generatedFiles } from '../../policy/render/generated-files';
import { planPolicy } from '../../policy/plan/plan';

const planAlerts = (policy: unknown) => planPolicy(policy).alerts;
import type { AlertGroup } from '../../policy/plan/alerts';
import { renderRulesFile } from '../../policy/render/prometheus-rules';
import { promtoolTests } from '../../policy/render/promtool-tests';
import { packageRoot } from '../../policy/io/scripts';
import { homelabPolicy } from '../../stacks/homelab-policy';
import { policyWith, samplePolicy } from '../support/policies';

const run = promisify(execFile);
const root = packageRoot();
const groups = planAlerts(homelabPolicy);

/**
 * Runs the generated promtool tests one alert group at a time: promtool evaluates every rule
 * of its rule file at every step, so a per-group file keeps an 8-day weekly test to seconds.
 */
async function promtoolTestGroups(ruleGroups: AlertGroup[], testGroups: AlertGroup[] = ruleGroups): Promise<{ group: string; ok: boolean; output: string }[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bp-promtool-'));
  try {
    const jobs = ruleGroups.map((group, i) => async () => {
      writeFileSync(join(dir, `${i}.rules.yaml`), renderRulesFile([group]));
      writeFileSync(join(dir, `${i}.test.yaml`), stringify({ rule_files: [`${i}.rules.yaml`], evaluation_interval: '5m', tests: promtoolTests(testGroups[i]) }));
      try {
        const { stdout } = await run('promtool', ['test', 'rules', `${i}.test.yaml`], { cwd: dir });
        return { group: group.name, ok: true, output: stdout };
      } catch (error) {
        const e = error as { stdout?: string; stderr?: string };
        return { group: group.name, ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
      }
    });
    // Two at a time: one per core.
    const results: { group: string; ok: boolean; output: string }[] = [];
    for (let i = 0; i < jobs.length; i += 2) results.push(...(await Promise.all(jobs.slice(i, i + 2).map((job) => job()))));
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the committed rules', () => {
  test('alerts/ equals what the generator produces from the bundled policy', () => {
    for (const [path, text] of Object.entries(generatedFiles(planPolicy(homelabPolicy), readRestoreTimes()))) {
      expect({ path, fresh: readFileSync(join(root, path), 'utf8') === text }).toEqual({ path, fresh: true });
    }
  });

  test('promtool check rules accepts the file', async () => {
    const { stdout } = await run('promtool', ['check', 'rules', join(root, 'alerts/backup-alerts.yaml')]);
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
  });
});

describe('the spec alert table', () => {
  test.each([
    'PostgreSQLBackupStale', 'MySQLBackupStale', 'EtcdBackupStale', 'VaultBackupStale', 'VaultwardenBackupStale', 'RedisBackupStale', 'VaultwardenIntegrityFail',
    'LVMSnapshotStale', 'LVMSnapshotFailing', 'LVMThinPoolLow', 'WeeklyBackupStale', 'WeeklyBackupFailing', 'PfsenseBackupStale', 'OffsiteBackupSyncStale', 'OffsiteBackupSyncFailing', 'BackupDiskFull',
  ])(
    '%s exists with severity, summary, templated description and runbook',
    (name) => {
      const rules = groups.flatMap((g) => g.rules).filter((r) => r.alert === name);
      expect(rules.length).toBeGreaterThan(0);
      for (const rule of rules) {
        expect(rule.labels.severity).toMatch(/^(critical|warning)$/);
        expect(rule.annotations.summary).not.toContain('{{');
        // Templated where a rule covers several series; the capacity gauges name their one target.
        if (rule.type !== 'gauge') expect(rule.annotations.description).toContain('{{ $labels.service }}');
        expect(rule.annotations.runbook_url).toMatch(/^https:\/\/.+\/[a-z0-9-]+\.md$/);
      }
    },
  );

  test('thresholds are derived from the schedules: daily 36 h, weekly 8 d, 6-hourly 9 h', () => {
    const threshold = (alert: string, kind: string) => groups.flatMap((g) => g.rules).find((r) => r.alert === alert && r.labels.kind === kind)!.expr.split(' > ')[1];
    expect(threshold('PostgreSQLBackupStale', 'full')).toBe(String(36 * 3600));
    expect(threshold('MySQLBackupStale', 'per-database')).toBe(String(36 * 3600));
    expect(threshold('EtcdBackupStale', 'snapshot')).toBe(String(8 * 86400));
    expect(threshold('VaultwardenBackupStale', 'snapshot')).toBe(String(9 * 3600));
    expect(threshold('LVMSnapshotStale', 'snapshot')).toBe(String(36 * 3600));
    expect(threshold('OffsiteBackupSyncStale', 'sync')).toBe(String(36 * 3600));
  });

  test('capacity thresholds come from the policy', () => {
    const all = groups.flatMap((g) => g.rules);
    expect(all.find((r) => r.alert === 'LVMThinPoolLow')!.expr).toBe('backup_thin_pool_free_percent{service="lvm-pvc-snapshot",kind="snapshot"} < 15');
    expect(all.find((r) => r.alert === 'BackupDiskFull')!.expr).toBe('backup_disk_usage_percent{service="daily-backup",kind="files"} > 85');
  });

  test('routing: warnings to the warning channel, integrity failure to the critical one', () => {
    const all = groups.flatMap((g) => g.rules);
    expect(all.find((r) => r.alert === 'VaultwardenIntegrityFail')!.labels).toEqual(expect.objectContaining({ severity: 'critical', channel: 'infra-critical' }));
    expect(all.find((r) => r.alert === 'RedisBackupStale')!.labels).toEqual(expect.objectContaining({ severity: 'warning', channel: 'infra-alerts' }));
  });

  test('every stale rule has a never-succeeded companion on the same series', () => {
    for (const rule of groups.flatMap((g) => g.rules).filter((r) => r.type === 'stale')) {
      const companion = groups.flatMap((g) => g.rules).find((r) => r.type === 'never-succeeded' && r.expr.includes(rule.expr.split(' > ')[0].replace('time() - ', '')));
      expect({ alert: rule.alert, companion: companion?.alert }).toEqual({ alert: rule.alert, companion: rule.alert.replace(/Stale$/, 'NeverSucceeded') });
    }
  });
});

describe('adding or removing a service adds or removes its rules', () => {
  test('a removed service leaves no rule behind', () => {
    const without = planAlerts(policyWith((p) => delete p.services.vw));
    const text = renderRulesFile(without);
    expect(renderRulesFile(planAlerts(samplePolicy()))).toContain('service="vw"');
    expect(text).not.toMatch(/service="vw"|vw\.md|\bVw[A-Z]/);
  });

  test('an added service gets its group', () => {
    const more = planAlerts(policyWith((p) => (p.services.notes = { ...p.services.cache, namespace: 'notes', displayName: 'Notes' })));
    expect(more.map((g) => g.name)).toContain('backup-policy.notes');
    expect(more.find((g) => g.name === 'backup-policy.notes')!.rules.map((r) => r.alert)).toEqual(['NotesBackupStale', 'NotesBackupFailing', 'NotesBackupNeverSucceeded', 'NotesBackupTooSmall']);
  });
});

describe('promtool test rules', () => {
  test('every alert fires just after its threshold, not before, clears after recovery, and absent companions fire', async () => {
    const results = await promtoolTestGroups(groups);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results).toHaveLength(groups.length);
  }, 300000);

  test('the generated tests catch a threshold that drifted from the plan', async () => {
    // Rules one hour laxer than the plan, tested with the plan's expectations: must fail.
    const pg = groups.filter((g) => g.name === 'backup-policy.postgresql');
    const drifted = pg.map((g) => ({ ...g, rules: g.rules.map((r) => (r.type === 'stale' ? { ...r, expr: r.expr.replace(/> (\d+)$/, (_m, n) => `> ${Number(n) + 3600}`) } : r)) }));
    const [result] = await promtoolTestGroups(drifted, pg);
    expect(result.ok).toBe(false);
    expect(result.output).toContain('PostgreSQLBackupStale');
  }, 120000);
});

describe('restore drill rules', () => {
  // A critical PostgreSQL service with both dumps, drilled weekly, and a Redis service that opts out.
  const drilledPolicy = policyWith((p) => {
    p.drills = { schedule: 'weekly on sunday at 04:00' };
    p.services.pg.critical = true;
    p.services.cache.drill = { enabled: false };
  });
  const drilled = planAlerts(drilledPolicy);
  const pgGroup = drilled.find((g) => g.name === 'backup-policy.pg')!;
  const drillRules = pgGroup.rules.filter((r) => r.labels.kind.startsWith('drill-'));

  test('Failing, Stale and a NeverSucceeded companion per drilled kind, critical like the service, on the drill metrics', () => {
    expect(drillRules.map((r) => `${r.alert} ${r.labels.kind} ${r.labels.severity}: ${r.expr}${r.for ? ` for ${r.for.toPrometheus()}` : ''}`)).toEqual([
      'PgRestoreDrillStale drill-full critical: time() - backup_restore_drill_last_success_timestamp_seconds{service="pg",kind="drill-full"} > 691200',
      'PgRestoreDrillFailing drill-full critical: backup_restore_drill_success{service="pg",kind="drill-full"} == 0 for 15m',
      'PgRestoreDrillNeverSucceeded drill-full critical: absent(backup_restore_drill_last_success_timestamp_seconds{service="pg",kind="drill-full"}) for 8d',
      'PgRestoreDrillStale drill-per-database critical: time() - backup_restore_drill_last_success_timestamp_seconds{service="pg",kind="drill-per-database"} > 691200',
      'PgRestoreDrillFailing drill-per-database critical: backup_restore_drill_success{service="pg",kind="drill-per-database"} == 0 for 15m',
      'PgRestoreDrillNeverSucceeded drill-per-database critical: absent(backup_restore_drill_last_success_timestamp_seconds{service="pg",kind="drill-per-database"}) for 8d',
    ]);
    expect(new Set(drillRules.map((r) => r.annotations.runbook_url))).toEqual(new Set(['docs/runbooks/pg.md']));
    expect(drilled.find((g) => g.name === 'backup-policy.cache')!.rules.some((r) => r.alert.includes('RestoreDrill'))).toBe(false);
  });

  test('promtool: each drill alert fires just after its threshold, not before, and clears', async () => {
    const results = await promtoolTestGroups([{ ...pgGroup, rules: drillRules }]);
    expect(results.filter((r) => !r.ok)).toEqual([]);
  }, 120000);

  test('promtool: no backup rule fires on the series a drill or a restore Job pushes, and no drill rule on a backup', async () => {
    // Every selector names its exact kind. Proven on a real evaluation: the backups healthy, while
    // drill-* and restore-* series of the backup family report failures, tiny sizes and old
    // successes (what backup-lib's push sends for those kinds); drills healthy, backups' own drill
    // metric series absent for other kinds.
    const dir = mkdtempSync(join(tmpdir(), 'bp-promtool-kinds-'));
    try {
      const backupKinds = ['full', 'per-database'];
      const foreignKinds = ['drill-full', 'drill-per-database', 'restore-full', 'restore-per-database'];
      const series = (metric: string, kind: string, values: string) => ({ series: `${metric}{job="backup",service="pg",kind="${kind}",engine="postgres",runner="cronjob"}`, values });
      const input = [
        ...backupKinds.flatMap((kind) => [
          series('backup_last_success_timestamp_seconds', kind, '0x24'),
          series('backup_last_run_success', kind, '1x24'),
          series('backup_last_size_bytes', kind, '1000000x24'),
        ]),
        ...foreignKinds.flatMap((kind) => [
          series('backup_last_success_timestamp_seconds', kind, '-1000000x24'),
          series('backup_last_run_success', kind, '0x24'),
          series('backup_last_size_bytes', kind, '1000000x12 1x12'),
        ]),
        ...['drill-full', 'drill-per-database'].flatMap((kind) => [
          series('backup_restore_drill_success', kind, '1x24'),
          series('backup_restore_drill_last_success_timestamp_seconds', kind, '0x24'),
        ]),
      ];
      const names = [...new Set(pgGroup.rules.map((r) => r.alert))];
      writeFileSync(join(dir, 'rules.yaml'), renderRulesFile([pgGroup]));
      writeFileSync(
        join(dir, 'test.yaml'),
        stringify({ rule_files: ['rules.yaml'], evaluation_interval: '5m', tests: [{ interval: '5m', input_series: input, alert_rule_test: names.map((alertname) => ({ eval_time: '115m', alertname, exp_alerts: [] })) }] }),
      );
      const { stdout } = await run('promtool', ['test', 'rules', 'test.yaml'], { cwd: dir });
      expect(stdout).toContain('SUCCESS');
      expect(names).toEqual(expect.arrayContaining(['PgBackupFailing', 'PgBackupStale', 'PgBackupTooSmall', 'PgRestoreDrillFailing']));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120000);
});
