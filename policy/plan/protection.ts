import { Duration } from '../values/duration';
import { isWithin } from '../values/path';
import type { AlertGroup } from './alerts';
import type { HostPlan } from './host-plan';
import type { PlannedService } from './plan';
import type { Schedule } from '../values/schedule';
import { DRILL_METRICS } from './alerts';

/**
 * The protection model: for each service, every layer that protects it and every copy each layer
 * keeps (where, of what, how long, how much can be lost). Computed once in the plan; the
 * protection matrix, the RPO table, lint, the PVC coverage report and the plan review all read
 * it, so a reviewer sees exactly what the documents claim.
 */
export type Layer = 'snapshot' | 'file' | 'dump' | 'offsite' | 'drill';

/**
 * Document order. "drill" (a restore actually tried) keeps no copy, so protectionsOf never
 * produces it: its column comes from drillsOf, and no RPO ever counts it.
 */
export const LAYERS: readonly Layer[] = ['snapshot', 'file', 'dump', 'offsite', 'drill'];

export const LAYER_TITLES: Record<Layer, string> = {
  snapshot: 'LVM snapshot',
  file: 'File backup',
  dump: 'App-level dump',
  offsite: 'Offsite',
  drill: 'Restore drill',
};

/** How long a copy stays: in words for people, in numbers for the review's "shorter" test. */
export interface CopyRetention {
  text: string;
  /** The age below which no copy is removed. */
  keepsFor: Duration;
  /** At least this many newest copies stay whatever their age (undefined: no such floor). */
  keepLast?: number;
}

/** One copy of a service's data. */
export interface Copy {
  /** Where the copy lives; stable across plans, so the review matches copies by it. */
  where: string;
  /** What is copied, in words. */
  of: string;
  retention: CopyRetention;
  /** Set on a mirror (the offsite copies): it keeps what its source keeps, so retention follows the source's. */
  mirrorOf?: Layer;
  /** End to end: the most data lost if everything newer than this copy is gone. */
  rpo: Duration;
}

/** One layer's protection of one service: what runs, how long copies live, how much can be lost. */
export interface Protection {
  layer: Layer;
  what: string;
  /** When the layer runs, in words (its job's schedule). */
  when: string;
  retention: string;
  /** The layer's best copy: the most data lost if the live copy dies just before the next run. */
  rpo: Duration;
  copies: Copy[];
}

/** The claims the host's snapshot layer reaches: declared data claims outside the excluded namespaces. */
export function snapshottedClaims(service: Pick<PlannedService, 'dataClaims'>, host: HostPlan | undefined): string[] {
  if (!host) return [];
  return service.dataClaims.filter((c) => !host.snapshots.excludeNamespaces.includes(c.namespace)).map((c) => `${c.namespace}/${c.claim}`);
}

function layer(layerName: Layer, what: string, when: string, copies: Copy[]): Protection {
  const best = copies.reduce((a, b) => (b.rpo.totalSeconds < a.rpo.totalSeconds ? b : a));
  return { layer: layerName, what, when, retention: [...new Set(copies.map((c) => c.retention.text))].join('; '), rpo: best.rpo, copies };
}

/**
 * Every layer that protects a service, derived from the plan: nothing here is declared twice.
 * Snapshots and the file backup protect only PVCs the service names as its data (a static pod
 * such as kubeadm's etcd has none, so it gets neither); the offsite layer keeps one copy per
 * source that reaches the NAS (the NFS tree holding the dumps, the backup disk holding the file
 * backup), each lagging its source by up to one sync gap.
 */
export function protectionsOf(service: Omit<PlannedService, 'protection'>, host: HostPlan | undefined): Protection[] {
  const result: Protection[] = [];
  const job = (name: string) => host?.jobs.find((j) => j.name === name);
  const snapshotJob = job('lvm-pvc-snapshot');
  const fileJob = job('daily-backup');
  const offsiteJob = job('offsite-sync-backup');
  const claims = snapshottedClaims(service, host);
  const snapshotted = host !== undefined && claims.length > 0 && snapshotJob !== undefined && fileJob !== undefined;
  if (host && snapshotted) {
    const of = claims.join(', ');
    result.push(
      layer('snapshot', snapshotJob!.schedule.toHuman(), snapshotJob!.schedule.toHuman(), [
        {
          where: `thin pool ${host.snapshots.volumeGroup}/${host.snapshots.thinPool} on ${host.name}`,
          of,
          retention: { text: host.snapshots.retention.toHuman(), keepsFor: host.snapshots.retention },
          rpo: snapshotJob!.schedule.longestGap,
        },
      ]),
    );
    result.push(
      layer('file', fileJob!.schedule.toHuman(), fileJob!.schedule.toHuman(), [
        {
          where: `${host.name}:${host.fileBackup.mountPoint}`,
          of,
          retention: { text: `${host.fileBackup.weeklyGenerations} weekly generations`, keepsFor: Duration.weeks(host.fileBackup.weeklyGenerations) },
          rpo: fileJob!.schedule.longestGap,
        },
      ]),
    );
  }
  const dumps = service.jobs.filter((j) => j.retention);
  const dumpGap = Duration.seconds(Math.min(...dumps.map((j) => j.schedule.longestGap.totalSeconds)));
  const dumpRetention: CopyRetention = { text: dumps[0].retention!.toHuman(), keepsFor: dumps[0].retention!.keepWithin, keepLast: dumps[0].retention!.keepLast };
  result.push(
    layer('dump', dumps.map((j) => `${j.kind}: ${j.schedule.toHuman()}`).join('; '), dumps.map((j) => j.schedule.toHuman()).join('; '), [
      { where: `${service.volume.server}:${service.volume.path}`, of: dumps.map((j) => `${j.kind} dumps`).join(' and '), retention: dumpRetention, rpo: dumpGap },
    ]),
  );
  if (host && offsiteJob) {
    const syncGap = offsiteJob.schedule.longestGap.totalSeconds;
    const copies: Copy[] = [];
    const source = host.offsite.sources.find((s) => isWithin(service.volume.path, s.path));
    if (source) {
      const below = service.volume.path.slice(source.path.length);
      copies.push({
        where: `${host.offsite.nas.host}:${source.target}${below}`,
        of: `the dumps via ${source.path}`,
        mirrorOf: 'dump',
        retention: { ...dumpRetention, text: 'as the dumps' },
        rpo: Duration.seconds(dumpGap.totalSeconds + syncGap),
      });
    }
    if (snapshotted) {
      copies.push({
        where: `${host.offsite.nas.host}:${host.offsite.backupDiskTarget}`,
        of: `the file backup via ${host.fileBackup.mountPoint}`,
        mirrorOf: 'file',
        retention: { text: 'as the file backup', keepsFor: Duration.weeks(host.fileBackup.weeklyGenerations) },
        rpo: Duration.seconds(fileJob!.schedule.longestGap.totalSeconds + syncGap),
      });
    }
    if (copies.length > 0) result.push(layer('offsite', `${offsiteJob.schedule.toHuman()} (${copies.map((c) => c.of).join(', ')})`, offsiteJob.schedule.toHuman(), copies));
  }
  return result;
}

/**
 * One restore drill of a service, as the documents and the review show it: which copies it
 * restores, how often, when it counts as stale, and the series that measures the restore (the
 * production source of the RTO).
 */
export interface DrillProtection {
  /** The backup kind whose newest copy is restored ("full", "per-database", "snapshot"). */
  of: string;
  cronJob: string;
  schedule: Schedule;
  staleAfter: Duration;
  timeout: Duration;
  /** The declared checks beyond the manifest's counts, in words. */
  queries: string[];
  image: string;
  /** The drill's measured restore time: the RTO as production sees it. */
  durationMetric: string;
}

export function drillsOf(service: Pick<PlannedService, 'drills'>): DrillProtection[] {
  return service.drills.map((d) => ({
    of: d.drills,
    cronJob: d.name,
    schedule: d.schedule,
    staleAfter: d.staleAfter,
    timeout: d.timeout,
    queries: d.queries.map((q) => {
      const expect = [q.equals !== undefined ? `= ${q.equals}` : '', q.min !== undefined ? `>= ${q.min}` : '', q.max !== undefined ? `<= ${q.max}` : ''].filter((e) => e !== '').join(', ');
      return `${q.database !== undefined ? `${q.database}: ` : ''}${q.sql} (${expect})`;
    }),
    image: d.image,
    durationMetric: `${DRILL_METRICS.duration}{service="${d.service}",kind="${d.kind}"}`,
  }));
}

/** The layer with the smallest RPO. */
export function bestRpo(protection: Protection[]): Protection {
  return protection.reduce((best, p) => (p.rpo.totalSeconds < best.rpo.totalSeconds ? p : best));
}

/** One alert rule's trigger, as the review compares it. */
export interface AlertThreshold {
  /** Alert name and the series it watches: "OffsiteBackupSyncStale (offsite-sync-backup, sync)". */
  key: string;
  /** The PromQL, so a change no field below describes still shows. */
  expr: string;
  /** The condition in words; equal text means an unchanged trigger. */
  condition: string;
  /** Seconds or percent or ratio the condition compares against, undefined for absent(). */
  threshold?: number;
  /** Which direction of `threshold` makes the alert fire later (laxer). */
  laxerWhen: 'higher' | 'lower' | 'never';
  for?: Duration;
  severity: string;
}

/** Every alert rule's threshold and `for`, from the same alert groups Prometheus gets. */
export function alertThresholdsOf(groups: AlertGroup[]): AlertThreshold[] {
  return groups.flatMap((group) =>
    group.rules.map((rule): AlertThreshold => {
      const key = `${rule.alert} (${Object.values(rule.test.selector).join(', ')})`;
      const base = { key, expr: rule.expr, for: rule.for, severity: rule.labels.severity };
      switch (rule.type) {
        case 'stale': {
          const after = rule.test.job!.staleAfter;
          return { ...base, condition: `no success for ${after.toHuman()}`, threshold: after.totalSeconds, laxerWhen: 'higher' };
        }
        case 'too-small': {
          const window = /\[([^\]]+)\]/.exec(rule.expr)?.[1];
          return { ...base, condition: `newest copy under ${rule.test.threshold} x the largest in the last ${window}`, threshold: rule.test.threshold, laxerWhen: 'lower' };
        }
        case 'gauge': {
          const comparison = rule.test.comparison!;
          // "free < 15" fires later at 2; "used > 85" fires later at 95; "== 0" has no direction.
          const laxerWhen = comparison === '<' ? 'lower' : comparison === '>' ? 'higher' : 'never';
          const unit = rule.test.metric.endsWith('_percent') ? '%' : '';
          return { ...base, condition: `${rule.test.metric} ${comparison} ${rule.test.threshold}${unit}`, threshold: rule.test.threshold, laxerWhen };
        }
        case 'failing':
          return { ...base, condition: 'last run failed', laxerWhen: 'never' };
        case 'never-succeeded':
          return { ...base, condition: 'no success ever reported', laxerWhen: 'never' };
      }
    }),
  );
}
