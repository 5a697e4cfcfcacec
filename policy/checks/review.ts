import { Duration } from '../values/duration';
import type { BackupPlan, PlannedService } from '../plan/plan';
import type { HostPlan } from '../plan/host-plan';
import { LAYER_TITLES, bestRpo } from '../plan/protection';

/**
 * A pull request's change to protection, in words: what a reviewer must see is "postgresql:
 * retention 14 days -> 3 days", not a Terraform diff of an env var. Risky changes (protection
 * lost, shorter retention, worse RPO, laxer alerts) are listed first.
 */
interface Change {
  risky: boolean;
  text: string;
}

function human(seconds: number): string {
  return Duration.seconds(seconds).toHuman();
}

function serviceChanges(id: string, base: PlannedService, head: PlannedService): Change[] {
  const changes: Change[] = [];
  const baseJobs = new Map(base.jobs.map((j) => [j.kind, j]));
  const headJobs = new Map(head.jobs.map((j) => [j.kind, j]));
  for (const [kind, job] of baseJobs) {
    const now = headJobs.get(kind);
    if (!now) {
      changes.push({ risky: true, text: `${id}: ${kind} job removed (${job.schedule.toHuman()})` });
      continue;
    }
    if (now.schedule.cron !== job.schedule.cron) {
      const worse = now.schedule.longestGap.totalSeconds > job.schedule.longestGap.totalSeconds;
      changes.push({ risky: worse, text: `${id}: ${kind} schedule "${job.schedule.toHuman()}" -> "${now.schedule.toHuman()}" (longest gap ${job.schedule.longestGap.toHuman()} -> ${now.schedule.longestGap.toHuman()})` });
    }
    if (job.retention && now.retention) {
      if (now.retention.keepWithin.totalSeconds !== job.retention.keepWithin.totalSeconds) {
        changes.push({ risky: now.retention.keepWithin.totalSeconds < job.retention.keepWithin.totalSeconds, text: `${id}: ${kind} retention ${job.retention.keepWithin.toHuman()} -> ${now.retention.keepWithin.toHuman()}` });
      }
      if (now.retention.keepLast !== job.retention.keepLast) {
        changes.push({ risky: now.retention.keepLast < job.retention.keepLast, text: `${id}: ${kind} keeps at least the newest ${job.retention.keepLast} -> ${now.retention.keepLast}` });
      }
    }
    if (now.staleAfter.totalSeconds !== job.staleAfter.totalSeconds) {
      changes.push({ risky: now.staleAfter.totalSeconds > job.staleAfter.totalSeconds, text: `${id}: ${kind} alert threshold (stale after) ${job.staleAfter.toHuman()} -> ${now.staleAfter.toHuman()}` });
    }
  }
  for (const [kind, job] of headJobs) {
    if (!baseJobs.has(kind)) changes.push({ risky: false, text: `${id}: ${kind} job added (${job.schedule.toHuman()})` });
  }
  const baseLayers = new Map(base.protection.map((p) => [p.layer, p]));
  const headLayers = new Map(head.protection.map((p) => [p.layer, p]));
  for (const [layer] of baseLayers) {
    if (!headLayers.has(layer)) changes.push({ risky: true, text: `${id}: ${LAYER_TITLES[layer].toLowerCase()} copy removed` });
  }
  for (const [layer] of headLayers) {
    if (!baseLayers.has(layer)) changes.push({ risky: false, text: `${id}: ${LAYER_TITLES[layer].toLowerCase()} copy added` });
  }
  const rpoBefore = bestRpo(base.protection).rpo.totalSeconds;
  const rpoAfter = bestRpo(head.protection).rpo.totalSeconds;
  if (rpoBefore !== rpoAfter) changes.push({ risky: rpoAfter > rpoBefore, text: `${id}: RPO ${human(rpoBefore)} -> ${human(rpoAfter)}` });
  if (base.critical !== head.critical) {
    changes.push({ risky: !head.critical, text: `${id}: ${head.critical ? 'now' : 'no longer'} critical (alert severity)` });
  }
  if (base.volume.path !== head.volume.path || base.volume.server !== head.volume.server) {
    changes.push({ risky: true, text: `${id}: backup directory ${base.volume.server}:${base.volume.path} -> ${head.volume.server}:${head.volume.path} (the old copies stay behind; retention starts over)` });
  }
  return changes;
}

function hostChanges(base: HostPlan | undefined, head: HostPlan | undefined): Change[] {
  if (!base && !head) return [];
  if (base && !head) return [{ risky: true, text: 'host: the host section was removed (snapshots, file backup and offsite sync are no longer managed)' }];
  if (!base && head) return [{ risky: false, text: 'host: a host section was added' }];
  const changes: Change[] = [];
  const b = base!;
  const h = head!;
  for (const job of b.jobs) {
    const now = h.jobs.find((j) => j.name === job.name);
    if (now && now.schedule.source !== job.schedule.source) changes.push({ risky: false, text: `host ${job.name}: schedule "${job.schedule.source}" -> "${now.schedule.source}"` });
  }
  if (b.snapshots.retention.totalSeconds !== h.snapshots.retention.totalSeconds) {
    changes.push({ risky: h.snapshots.retention.totalSeconds < b.snapshots.retention.totalSeconds, text: `host snapshots: retention ${b.snapshots.retention.toHuman()} -> ${h.snapshots.retention.toHuman()}` });
  }
  if (b.fileBackup.weeklyGenerations !== h.fileBackup.weeklyGenerations) {
    changes.push({ risky: h.fileBackup.weeklyGenerations < b.fileBackup.weeklyGenerations, text: `host file backup: weekly generations ${b.fileBackup.weeklyGenerations} -> ${h.fileBackup.weeklyGenerations}` });
  }
  const added = h.snapshots.excludeNamespaces.filter((n) => !b.snapshots.excludeNamespaces.includes(n));
  if (added.length > 0) changes.push({ risky: true, text: `host snapshots: namespaces no longer snapshotted: ${added.join(', ')}` });
  return changes;
}

export function reviewPlans(basePlan: BackupPlan, headPlan: BackupPlan, baseLabel: string): string {
  const baseServices = new Map(basePlan.services.map((s) => [s.id, s]));
  const headServices = new Map(headPlan.services.map((s) => [s.id, s]));
  const changes: Change[] = [];
  for (const [id, service] of baseServices) {
    if (!headServices.has(id)) changes.push({ risky: true, text: `${id}: service removed: its ${service.jobs.map((j) => j.name).join(', ')} CronJob(s), volume claim and alerts go away (copies on the NFS server stay)` });
  }
  for (const [id, service] of headServices) {
    if (!baseServices.has(id)) changes.push({ risky: false, text: `${id}: service added (${service.engine}, ${service.jobs.map((j) => `${j.kind} ${j.schedule.toHuman()}`).join('; ')})` });
  }
  for (const [id, service] of headServices) {
    const before = baseServices.get(id);
    if (before) changes.push(...serviceChanges(id, before, service));
  }
  changes.push(...hostChanges(basePlan.host, headPlan.host));
  const alertKey = (r: { alert: string; test: { selector: Record<string, string> } }) => `${r.alert} (${Object.values(r.test.selector).join(', ')})`;
  const alertsBefore = new Set(basePlan.alerts.flatMap((g) => g.rules.map(alertKey)));
  const alertsAfter = new Set(headPlan.alerts.flatMap((g) => g.rules.map(alertKey)));
  const removedAlerts = [...alertsBefore].filter((a) => !alertsAfter.has(a));
  const addedAlerts = [...alertsAfter].filter((a) => !alertsBefore.has(a));
  const risky = changes.filter((c) => c.risky);
  const other = changes.filter((c) => !c.risky);
  const list = (items: Change[]) => items.map((c) => `- ${c.risky ? '⚠️ ' : ''}${c.text}`).join('\n');
  return `## Backup policy review (against ${baseLabel})

${changes.length === 0 ? 'No change to what is protected, how often or for how long.' : `${risky.length} risky change${risky.length === 1 ? '' : 's'}, ${other.length} other${other.length === 1 ? '' : 's'}.`}
${risky.length > 0 ? `\n### Protection lost or weakened\n\n${list(risky)}\n` : ''}${other.length > 0 ? `\n### Other changes\n\n${list(other)}\n` : ''}${removedAlerts.length + addedAlerts.length > 0 ? `\n### Alert rules\n\n${[...removedAlerts.map((a) => `- ⚠️ removed: ${a} (routes and silences that name it stop matching)`), ...addedAlerts.map((a) => `- added: ${a}`)].join('\n')}\n` : ''}`;
}
