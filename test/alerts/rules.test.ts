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
