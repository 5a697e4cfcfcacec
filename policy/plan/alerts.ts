import { Duration } from '../values/duration';
import type { AlertSettings } from '../parse/policy-schema';
import type { BackupPlan, PlannedDrill, PlannedJob, PlannedService } from './plan';
import type { HostPlan, HostTimerJobName } from './host-plan';

/**
 * Alert rules derived from the plan, never typed by hand: every threshold comes from a schedule
 * (staleness), the policy (size ratio, pool and disk floors) or a fixed rule of the backup
 * contract. One structure feeds both the Prometheus rules and the promtool tests that prove
 * each rule fires just after its threshold and not before.
 */

export type { AlertSettings };
export type Severity = 'critical' | 'warning';

/** The metric family every job pushes (host-scripts/CONTRACT.md). */
export const METRICS = {
  lastSuccess: 'backup_last_success_timestamp_seconds',
  lastAttempt: 'backup_last_attempt_timestamp_seconds',
  lastRunSuccess: 'backup_last_run_success',
  lastSize: 'backup_last_size_bytes',
  lastDuration: 'backup_last_duration_seconds',
  integrityOk: 'backup_integrity_ok',
  thinPoolFree: 'backup_thin_pool_free_percent',
  diskUsage: 'backup_disk_usage_percent',
} as const;

/** What a restore drill pushes (host-scripts/CONTRACT.md, "Restore drills"), under kind="drill-<kind>". */
export const DRILL_METRICS = {
  success: 'backup_restore_drill_success',
  lastSuccess: 'backup_restore_drill_last_success_timestamp_seconds',
  duration: 'backup_restore_drill_duration_seconds',
  copyAge: 'backup_restore_drill_copy_age_seconds',
} as const;

/** A series of runs that report under one {service, kind} label pair. */
export interface MonitoredJob {
  service: string;
  kind: string;
  runner: 'cronjob' | 'host';
  /** Alert name prefix: "PostgreSQLBackup" -> PostgreSQLBackupStale. */
  subject: string;
  /** Human name for summaries. */
  title: string;
  staleAfter: Duration;
  longestGap: Duration;
  /** 0 disables the size rule (jobs whose output size says nothing, such as a check). */
  minSizeRatio: number;
  severity: Severity;
  runbook: string;
}

/** A threshold on a gauge that is not a run status, e.g. free space. */
export interface GaugeThreshold {
  alert: string;
  service: string;
  kind?: string;
  metric: string;
  comparison: '<' | '>' | '==';
  threshold: number;
  for: Duration | undefined;
  severity: Severity;
  summary: string;
  description: string;
  runbook: string;
}

export type RuleType = 'stale' | 'failing' | 'never-succeeded' | 'too-small' | 'gauge';

export interface AlertRule {
  alert: string;
  type: RuleType;
  expr: string;
  for?: Duration;
  labels: Record<string, string>;
  annotations: { summary: string; description: string; runbook_url: string };
  /** What the promtool tests need to know; not rendered. */
  test: { selector: Record<string, string>; metric: string; threshold?: number; comparison?: GaugeThreshold['comparison']; job?: MonitoredJob };
}

export interface AlertGroup {
  name: string;
  rules: AlertRule[];
}

export function selector(labels: Record<string, string>): string {
  return `{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`;
}

/** The size window: enough recent runs to compare against, at least a week. */
function sizeWindow(job: MonitoredJob): Duration {
  return job.longestGap.times(4).compare(Duration.days(7)) > 0 ? job.longestGap.times(4) : Duration.days(7);
}

export function jobRules(job: MonitoredJob, settings: AlertSettings): AlertRule[] {
  const labelsOf = { service: job.service, kind: job.kind };
  const sel = selector(labelsOf);
  // service and kind repeat the series' own labels: two jobs of one service share alert names
  // (PostgreSQLBackupStale for full and per-database), and identical rule labels would be duplicates.
  const common = (severity: Severity) => ({ severity, channel: settings.channels[severity], service: job.service, kind: job.kind, runner: job.runner });
  const annotations = (summary: string, description: string) => ({ summary, description, runbook_url: job.runbook });
  const stale = job.staleAfter;
  const rules: AlertRule[] = [
    {
      alert: `${job.subject}Stale`,
      type: 'stale',
      expr: `time() - ${METRICS.lastSuccess}${sel} > ${stale.totalSeconds}`,
      labels: common(job.severity),
      annotations: annotations(
        `${job.title}: no success for ${stale.toHuman()}`,
        `The ${job.title} of {{ $labels.service }} has not succeeded for more than ${stale.toHuman()}: at least one scheduled run (at most ${job.longestGap.toHuman()} apart) was missed or failed, plus grace.`,
      ),
      test: { selector: labelsOf, metric: METRICS.lastSuccess, threshold: stale.totalSeconds, job },
    },
    {
      alert: `${job.subject}Failing`,
      type: 'failing',
      expr: `${METRICS.lastRunSuccess}${sel} == 0`,
      // Long enough for the Job's one retry to finish, short against any schedule's grace.
      for: Duration.minutes(15),
      labels: common(job.severity),
      annotations: annotations(
        `${job.title}: the last run failed`,
        'The last run of {{ $labels.service }} ({{ $labels.kind }}) exited non-zero; the previous copies are intact and retention did not run. Check the failed Job or the unit journal.',
      ),
      test: { selector: labelsOf, metric: METRICS.lastRunSuccess, job },
    },
    {
      alert: `${job.subject}NeverSucceeded`,
      type: 'never-succeeded',
      expr: `absent(${METRICS.lastSuccess}${sel})`,
      // A new job gets one full staleness window to report its first success.
      for: stale,
      labels: common(job.severity),
      annotations: annotations(
        `${job.title}: no success has ever been reported`,
        `No ${METRICS.lastSuccess} series exists for ${job.service} (${job.kind}) for ${stale.toHuman()}: the job never succeeded, never ran, or cannot reach the Pushgateway.`,
      ),
      test: { selector: labelsOf, metric: METRICS.lastSuccess, job },
    },
  ];
  if (job.minSizeRatio > 0) {
    const window = sizeWindow(job).toPrometheus();
    rules.push({
      alert: `${job.subject}TooSmall`,
      type: 'too-small',
      expr: `(${METRICS.lastSize}${sel} < ${job.minSizeRatio} * max_over_time(${METRICS.lastSize}${sel}[${window}])) and on(service, kind) ${METRICS.lastRunSuccess}${sel} == 1`,
      labels: common(job.severity),
      annotations: annotations(
        `${job.title}: the newest backup is much smaller than recent ones`,
        `The newest copy from the ${job.title} of {{ $labels.service }} is smaller than ${job.minSizeRatio} of the largest one in the last ${window}: an empty or schema-only dump looks exactly like this.`,
      ),
      test: { selector: labelsOf, metric: METRICS.lastSize, threshold: job.minSizeRatio, job },
    });
  }
  return rules;
}

/**
 * A restore drill's rules: its own metric family, so no backup rule watches it and it watches no
 * backup (every selector names the exact kind, "drill-<kind>" here). No size rule: a drill keeps
 * no copy. Stale comes from the drill's own schedule; the never-succeeded companion gives a new
 * drill one staleness window to report its first success.
 */
export function drillRules(drill: MonitoredJob, settings: AlertSettings): AlertRule[] {
  const labelsOf = { service: drill.service, kind: drill.kind };
  const sel = selector(labelsOf);
  const common = (severity: Severity) => ({ severity, channel: settings.channels[severity], service: drill.service, kind: drill.kind, runner: drill.runner });
  const annotations = (summary: string, description: string) => ({ summary, description, runbook_url: drill.runbook });
  const stale = drill.staleAfter;
  return [
    {
      alert: `${drill.subject}Stale`,
      type: 'stale',
      expr: `time() - ${DRILL_METRICS.lastSuccess}${sel} > ${stale.totalSeconds}`,
      labels: common(drill.severity),
      annotations: annotations(
        `${drill.title}: no successful drill for ${stale.toHuman()}`,
        `No restore drill of {{ $labels.service }} ({{ $labels.kind }}) has succeeded for more than ${stale.toHuman()}: at least one scheduled drill (at most ${drill.longestGap.toHuman()} apart) was missed or failed, so nothing has proven lately that its newest copy restores.`,
      ),
      test: { selector: labelsOf, metric: DRILL_METRICS.lastSuccess, threshold: stale.totalSeconds, job: drill },
    },
    {
      alert: `${drill.subject}Failing`,
      type: 'failing',
      expr: `${DRILL_METRICS.success}${sel} == 0`,
      // As for the backups: long enough for the Job's one retry, short against any schedule's grace.
      for: Duration.minutes(15),
      labels: common(drill.severity),
      annotations: annotations(
        `${drill.title}: the last drill failed`,
        'The newest copy of {{ $labels.service }} ({{ $labels.kind }}) did not restore into a throwaway server, or the restored data failed a check (manifest counts or a declared query). The copy may be unusable: read the drill Job\'s log before relying on it.',
      ),
      test: { selector: labelsOf, metric: DRILL_METRICS.success, job: drill },
    },
    {
      alert: `${drill.subject}NeverSucceeded`,
      type: 'never-succeeded',
      expr: `absent(${DRILL_METRICS.lastSuccess}${sel})`,
      for: stale,
      labels: common(drill.severity),
      annotations: annotations(
        `${drill.title}: no drill has ever succeeded`,
        `No ${DRILL_METRICS.lastSuccess} series exists for ${drill.service} (${drill.kind}) for ${stale.toHuman()}: the drill never succeeded, never ran, or cannot reach the Pushgateway.`,
      ),
      test: { selector: labelsOf, metric: DRILL_METRICS.lastSuccess, job: drill },
    },
  ];
}

export function gaugeRule(gauge: GaugeThreshold, settings: AlertSettings): AlertRule {
  const labelsOf = { service: gauge.service, ...(gauge.kind ? { kind: gauge.kind } : {}) };
  return {
    alert: gauge.alert,
    type: 'gauge',
    expr: `${gauge.metric}${selector(labelsOf)} ${gauge.comparison} ${gauge.threshold}`,
    for: gauge.for,
    labels: { severity: gauge.severity, channel: settings.channels[gauge.severity], ...labelsOf },
    annotations: { summary: gauge.summary, description: gauge.description, runbook_url: gauge.runbook },
    test: { selector: labelsOf, metric: gauge.metric, threshold: gauge.threshold, comparison: gauge.comparison },
  };
}

/** Where the generated runbook is published, or (no base URL declared) its path in the repository. */
export function runbookUrl(settings: AlertSettings, service: string): string {
  return settings.runbookBaseUrl ? `${settings.runbookBaseUrl.replace(/\/$/, '')}/${service}.md` : `docs/runbooks/${service}.md`;
}

function monitoredCronJob(job: PlannedJob, displayName: string, critical: boolean, minSizeRatio: number, settings: AlertSettings): MonitoredJob {
  const integrity = job.checksIntegrity;
  return {
    service: job.service,
    kind: job.kind,
    runner: 'cronjob',
    subject: integrity ? `${displayName}IntegrityCheck` : `${displayName}Backup`,
    title: integrity ? `${displayName} integrity check` : `${displayName} ${job.kind} backup`,
    staleAfter: job.staleAfter,
    longestGap: job.schedule.longestGap,
    minSizeRatio: integrity ? 0 : minSizeRatio,
    severity: critical ? 'critical' : 'warning',
    runbook: runbookUrl(settings, job.service),
  };
}

function monitoredDrill(drill: PlannedDrill, displayName: string, critical: boolean, settings: AlertSettings): MonitoredJob {
  return {
    service: drill.service,
    kind: drill.kind,
    runner: 'cronjob',
    subject: `${displayName}RestoreDrill`,
    title: `${displayName} ${drill.drills} restore drill`,
    staleAfter: drill.staleAfter,
    longestGap: drill.schedule.longestGap,
    minSizeRatio: 0,
    severity: critical ? 'critical' : 'warning',
    runbook: runbookUrl(settings, drill.service),
  };
}

/** One group per service (its backups and its drills), so removing a service removes exactly its group. */
export function planClusterAlerts(services: PlannedService[], settings: AlertSettings): AlertGroup[] {
  return services.map((service) => {
    const { displayName, critical } = service;
    const rules = service.jobs.flatMap((job) => jobRules(monitoredCronJob(job, displayName, critical, service.minSizeRatio, settings), settings));
    for (const job of service.jobs.filter((j) => j.checksIntegrity)) {
      rules.push(
        gaugeRule(
          {
            alert: `${displayName}IntegrityFail`,
            service: job.service,
            kind: job.kind,
            metric: METRICS.integrityOk,
            comparison: '==',
            threshold: 0,
            for: undefined,
            // A corrupt live database spreads into every later backup: act now, whatever the service's default.
            severity: 'critical',
            summary: `${displayName}: the live SQLite database failed its integrity check`,
            description: 'PRAGMA integrity_check on the live database of {{ $labels.service }} did not answer exactly "ok". Stop writes and restore from the newest verified backup.',
            runbook: runbookUrl(settings, job.service),
          },
          settings,
        ),
      );
    }
    rules.push(...service.drills.flatMap((drill) => drillRules(monitoredDrill(drill, displayName, critical, settings), settings)));
    return { name: `backup-policy.${service.id}`, rules };
  });
}

/** The spec's alert names for the host jobs ("LVMSnapshot" -> LVMSnapshotStale). */
const HOST_SUBJECTS: Record<HostTimerJobName, { subject: string; title: string; kind: string; sizeRatio: number }> = {
  // A thin snapshot has no size of its own (the job pushes 0), so there is no size rule.
  'lvm-pvc-snapshot': { subject: 'LVMSnapshot', title: 'LVM thin snapshots', kind: 'snapshot', sizeRatio: 0 },
  // The spec calls the daily file backup "weekly" (it fills one folder per ISO week).
  'daily-backup': { subject: 'WeeklyBackup', title: 'Daily file backup', kind: 'files', sizeRatio: 0.5 },
  // The offsite size is bytes transferred, which is small on a quiet day by design.
  'offsite-sync-backup': { subject: 'OffsiteBackupSync', title: 'Offsite sync', kind: 'sync', sizeRatio: 0 },
};

/** Host rules: one group per host job, plus the pool and disk gauges. */
export function planHostAlerts(host: HostPlan, settings: AlertSettings): AlertGroup[] {
  const groups = host.jobs.map((job) => {
    const meta = HOST_SUBJECTS[job.name];
    const monitored: MonitoredJob = {
      service: job.name,
      kind: meta.kind,
      runner: 'host',
      subject: meta.subject,
      title: meta.title,
      staleAfter: job.staleAfter,
      longestGap: job.schedule.longestGap,
      minSizeRatio: meta.sizeRatio,
      severity: 'warning',
      runbook: runbookUrl(settings, job.name),
    };
    return { name: `backup-policy.host.${job.name}`, rules: jobRules(monitored, settings) };
  });
  const daily = host.jobs.find((j) => j.name === 'daily-backup')!;
  if (host.fileBackup.pfsense) {
    // pfSense is one step of the daily backup with its own series, so a firewall that stopped
    // answering is visible even while the rest of the run succeeds.
    groups.push({
      name: 'backup-policy.host.pfsense',
      rules: jobRules(
        { service: 'pfsense', kind: 'config', runner: 'host', subject: 'PfsenseBackup', title: 'pfSense backup', staleAfter: daily.staleAfter, longestGap: daily.schedule.longestGap, minSizeRatio: 0.5, severity: 'warning', runbook: runbookUrl(settings, 'daily-backup') },
        settings,
      ),
    });
  }
  groups.push({
    name: 'backup-policy.host.capacity',
    rules: [
      gaugeRule(
        {
          alert: 'LVMThinPoolLow',
          service: 'lvm-pvc-snapshot',
          kind: 'snapshot',
          metric: METRICS.thinPoolFree,
          comparison: '<',
          threshold: host.snapshots.minFreePercent,
          for: Duration.minutes(15),
          severity: 'warning',
          summary: `Thin pool ${host.snapshots.volumeGroup}/${host.snapshots.thinPool} below ${host.snapshots.minFreePercent}% free`,
          description: `The thin pool holding the PVC volumes has less than ${host.snapshots.minFreePercent}% free space (data or metadata); snapshots are refused below that floor, and a full pool stops every VM on it.`,
          runbook: runbookUrl(settings, 'lvm-pvc-snapshot'),
        },
        settings,
      ),
      gaugeRule(
        {
          alert: 'BackupDiskFull',
          service: 'daily-backup',
          kind: 'files',
          metric: METRICS.diskUsage,
          comparison: '>',
          threshold: host.fileBackup.diskFullPercent,
          for: Duration.minutes(15),
          severity: 'warning',
          summary: `Backup disk ${host.fileBackup.mountPoint} above ${host.fileBackup.diskFullPercent}% used`,
          description: `The backup disk is more than ${host.fileBackup.diskFullPercent}% full; the next weekly generation may not fit.`,
          runbook: runbookUrl(settings, 'daily-backup'),
        },
        settings,
      ),
    ],
  });
  return groups;
}

/** Every rule group of a policy: the cluster services' and, with a host section, the host's. */
export function planAlerts(plan: Omit<BackupPlan, 'alerts'>): AlertGroup[] {
  return [...planClusterAlerts(plan.services, plan.alertSettings), ...(plan.host ? planHostAlerts(plan.host, plan.alertSettings) : [])];
}
