import { Duration } from '../values/duration';
import { Retention } from '../values/retention';
import { Schedule } from '../values/schedule';
import type { BackupPlan, PlannedService } from '../plan/plan';
import type { HostPlan } from '../plan/host-plan';
import { LAYERS, LAYER_TITLES, alertThresholdsOf, bestRpo, drillsOf, type AlertThreshold, type Copy, type DrillProtection, type Layer, type Protection } from '../plan/protection';

/**
 * A pull request's change to protection, in words. Both sides are the protection models the plan
 * computes (the same ones the protection matrix, the RPO table and lint read): per service and
 * per layer the copies kept, where, for how long and how much each can lose, plus every alert
 * rule's trigger. Risky changes (a copy, layer, retention, RPO or alert lost or weakened) come
 * first and the headline counts every one of them. Settings the model does not interpret are
 * still listed, field by field, so nothing changes protection unseen.
 */
export interface Change {
  risky: boolean;
  text: string;
}

const risky = (text: string): Change => ({ risky: true, text });
const other = (text: string): Change => ({ risky: false, text });

function layerName(layer: Layer): string {
  return LAYER_TITLES[layer].toLowerCase();
}

function describeCopy(copy: Copy): string {
  return `${copy.where} (${copy.of}, keeps ${copy.retention.text}, RPO ${copy.rpo.toHuman()})`;
}

function copyChanges(id: string, layer: Layer, before: Copy, after: Copy): Change[] {
  const changes: Change[] = [];
  const label = `${id}: ${layerName(layer)} copy at ${after.where}`;
  const b = before.retention;
  const a = after.retention;
  // A mirror's retention is its source's, already compared on the source's layer.
  if (b.text !== a.text && !after.mirrorOf) {
    const shorter = a.keepsFor.totalSeconds < b.keepsFor.totalSeconds || (a.keepLast ?? 0) < (b.keepLast ?? 0);
    changes.push({ risky: shorter, text: `${label}: retention ${b.text} -> ${a.text}` });
  }
  if (before.of !== after.of) changes.push(other(`${label}: copies ${before.of} -> ${after.of}`));
  return changes;
}

function rpoChange(id: string, layer: Layer, before: Protection, after: Protection): Change[] {
  const pairs = after.copies
    .map((copy) => ({ copy, was: before.copies.find((c) => c.where === copy.where) }))
    .filter((p): p is { copy: Copy; was: Copy } => p.was !== undefined && p.was.rpo.totalSeconds !== p.copy.rpo.totalSeconds);
  if (before.rpo.totalSeconds === after.rpo.totalSeconds && pairs.length === 0) return [];
  const worse = after.rpo.totalSeconds > before.rpo.totalSeconds || pairs.some((p) => p.copy.rpo.totalSeconds > p.was.rpo.totalSeconds);
  const perCopy = pairs.map((p) => `copy of ${p.copy.of}: ${p.was.rpo.toHuman()} -> ${p.copy.rpo.toHuman()}`).join('; ');
  if (before.rpo.totalSeconds === after.rpo.totalSeconds) return [{ risky: worse, text: `${id}: ${layerName(layer)} RPO stays ${after.rpo.toHuman()}; ${perCopy}` }];
  const detail = after.copies.length > 1 && pairs.length > 0 ? ` (${perCopy})` : '';
  return [{ risky: worse, text: `${id}: ${layerName(layer)} RPO ${before.rpo.toHuman()} -> ${after.rpo.toHuman()}${detail}` }];
}

function protectionChanges(id: string, base: Protection[], head: Protection[]): Change[] {
  const changes: Change[] = [];
  for (const layer of LAYERS) {
    const before = base.find((p) => p.layer === layer);
    const after = head.find((p) => p.layer === layer);
    if (before && !after) {
      changes.push(risky(`${id}: ${layerName(layer)} layer lost: ${before.copies.map(describeCopy).join('; ')} -> no ${layerName(layer)} copy`));
      continue;
    }
    if (!before && after) {
      changes.push(other(`${id}: ${layerName(layer)} layer added: ${after.copies.map(describeCopy).join('; ')}`));
      continue;
    }
    if (!before || !after) continue;
    for (const copy of before.copies) {
      const now = after.copies.find((c) => c.where === copy.where);
      if (!now) changes.push(risky(`${id}: ${layerName(layer)} copy lost: ${describeCopy(copy)} -> none`));
      else changes.push(...copyChanges(id, layer, copy, now));
    }
    for (const copy of after.copies) {
      if (!before.copies.some((c) => c.where === copy.where)) changes.push(other(`${id}: ${layerName(layer)} copy added: ${describeCopy(copy)}`));
    }
    changes.push(...rpoChange(id, layer, before, after));
  }
  const rpoBefore = bestRpo(base);
  const rpoAfter = bestRpo(head);
  if (rpoBefore.rpo.totalSeconds !== rpoAfter.rpo.totalSeconds) {
    changes.push({ risky: rpoAfter.rpo.totalSeconds > rpoBefore.rpo.totalSeconds, text: `${id}: best RPO over all layers ${rpoBefore.rpo.toHuman()} (${layerName(rpoBefore.layer)}) -> ${rpoAfter.rpo.toHuman()} (${layerName(rpoAfter.layer)})` });
  }
  return changes;
}

/**
 * Drills, matched by the kind of copy they restore: one removed (or a service opted out) means
 * nothing proves those copies any more; a rarer drill proves them later.
 */
function drillChanges(id: string, base: DrillProtection[], head: DrillProtection[]): Change[] {
  const changes: Change[] = [];
  for (const drill of base) {
    const now = head.find((d) => d.of === drill.of);
    if (!now) {
      changes.push(risky(`${id}: restore drill of ${drill.of} copies ("${drill.schedule.toHuman()}") -> none (nothing proves these copies restore)`));
    } else if (now.schedule.cron !== drill.schedule.cron) {
      const worse = now.schedule.longestGap.totalSeconds > drill.schedule.longestGap.totalSeconds;
      changes.push({ risky: worse, text: `${id}: restore drill of ${drill.of} copies "${drill.schedule.toHuman()}" -> "${now.schedule.toHuman()}" (longest gap ${drill.schedule.longestGap.toHuman()} -> ${now.schedule.longestGap.toHuman()})` });
    }
  }
  for (const drill of head) {
    if (!base.some((d) => d.of === drill.of)) changes.push(other(`${id}: restore drill of ${drill.of} copies added ("${drill.schedule.toHuman()}")`));
  }
  return changes;
}

/** A value of the plan in words, for the field-by-field part of the review. */
function words(value: unknown): string {
  if (value === undefined) return 'not set';
  if (value instanceof Duration) return value.toHuman();
  if (value instanceof Retention) return value.toHuman();
  if (value instanceof Schedule) return `"${value.toHuman()}"`;
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.map(words).join(', ');
  if (value !== null && typeof value === 'object') return `{ ${Object.entries(value).map(([k, v]) => `${k}: ${words(v)}`).join(', ')} }`;
  return JSON.stringify(value);
}

/** Leaves of a settings object, keyed by dotted path; values (Duration, Schedule, ...) are leaves. */
function leaves(value: unknown, path: string, out: Map<string, unknown>): Map<string, unknown> {
  const isValue = value instanceof Duration || value instanceof Retention || value instanceof Schedule;
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && !isValue) {
    for (const [key, child] of Object.entries(value)) leaves(child, path ? `${path}.${key}` : key, out);
  } else {
    out.set(path, value);
  }
  return out;
}

/**
 * Settings whose move in one direction keeps fewer copies or guards less: fewer generations,
 * shorter retention, a lower free-space floor for snapshots, a fuller backup disk before alerting.
 */
const RISKY_DIRECTION: [RegExp, 'down' | 'up'][] = [
  [/retention|keepLast$|keepWithin$|weeklyGenerations$/, 'down'],
  [/minFreePercent$/, 'down'],
  [/diskFullPercent$/, 'up'],
];

/** Comparable numbers of a leaf: a Retention weakens when either of its two bounds does. */
function magnitudes(value: unknown): number[] | undefined {
  if (value instanceof Duration) return [value.totalSeconds];
  if (value instanceof Retention) return [value.keepWithin.totalSeconds, value.keepLast];
  if (typeof value === 'number') return [value];
  return undefined;
}

function settingChanges(prefix: string, base: unknown, head: unknown, skip: (path: string) => boolean = () => false): Change[] {
  const before = leaves(base, '', new Map());
  const after = leaves(head, '', new Map());
  const paths = [...new Set([...before.keys(), ...after.keys()])].filter((p) => !skip(p)).sort();
  return paths.flatMap((path) => {
    const b = before.get(path);
    const a = after.get(path);
    if (words(b) === words(a)) return [];
    const mb = magnitudes(b);
    const ma = magnitudes(a);
    const direction = RISKY_DIRECTION.find(([pattern]) => pattern.test(path))?.[1];
    const weakens =
      mb !== undefined && ma !== undefined && mb.length === ma.length && direction !== undefined && ma.some((n, i) => (direction === 'down' ? n < mb[i] : n > mb[i]));
    // A setting that disappears (a declared RPO, a pfSense backup) stops a check or a copy.
    const dropped = b !== undefined && a === undefined;
    return [{ risky: weakens || dropped, text: `${prefix}${path}: ${words(b)} -> ${words(a)}` }];
  });
}

/** What a service declares beyond its jobs and layers, compared field by field. */
function serviceSettings(service: PlannedService) {
  return {
    critical: service.critical,
    rpo: service.rpo,
    rto: service.rto.duration,
    minSizeRatio: service.minSizeRatio,
    namespace: service.namespace,
    target: service.target,
    dataClaims: service.dataClaims.map((c) => `${c.namespace}/${c.claim}`),
    // Its server and path are the dump copy's "where", compared with the layers.
    backupVolume: { capacity: service.volume.capacity, mountOptions: service.volume.mountOptions },
    jobs: Object.fromEntries(service.jobs.map((j) => [j.kind, { image: j.image, timeout: j.timeout, runAsUser: j.runAsUser }])),
    // Schedules are compared above; what else a drill checks or runs with, field by field.
    drills: Object.fromEntries(
      drillsOf(service).map((d) => {
        const planned = service.drills.find((p) => p.drills === d.of)!;
        const scratch = planned.volumes.find((v) => v.name === 'drill');
        return [d.of, { image: d.image, timeout: d.timeout, queries: d.queries, resources: planned.resources, scratchSize: scratch && 'emptyDir' in scratch ? scratch.emptyDir.sizeLimit : undefined }];
      }),
    ),
  };
}

function serviceChanges(id: string, base: PlannedService, head: PlannedService): Change[] {
  const changes: Change[] = [];
  for (const job of base.jobs) {
    const now = head.jobs.find((j) => j.kind === job.kind);
    if (!now) {
      changes.push(risky(`${id}: ${job.kind} job removed ("${job.schedule.toHuman()}") -> none`));
    } else if (now.schedule.cron !== job.schedule.cron) {
      const worse = now.schedule.longestGap.totalSeconds > job.schedule.longestGap.totalSeconds;
      changes.push({ risky: worse, text: `${id}: ${job.kind} schedule "${job.schedule.toHuman()}" -> "${now.schedule.toHuman()}" (longest gap ${job.schedule.longestGap.toHuman()} -> ${now.schedule.longestGap.toHuman()})` });
    }
  }
  for (const job of head.jobs) {
    if (!base.jobs.some((j) => j.kind === job.kind)) changes.push(other(`${id}: ${job.kind} job added ("${job.schedule.toHuman()}")`));
  }
  changes.push(...protectionChanges(id, base.protection, head.protection));
  changes.push(...drillChanges(id, drillsOf(base), drillsOf(head)));
  if (base.critical && !head.critical) changes.push(risky(`${id}: critical -> not critical (its alerts page no one; lint no longer requires an offsite copy)`));
  const claimsLost = base.dataClaims.filter((c) => !head.dataClaims.some((h) => h.namespace === c.namespace && h.claim === c.claim));
  for (const claim of claimsLost) changes.push(risky(`${id}: data claim ${claim.namespace}/${claim.claim} -> no longer declared (coverage stops counting this service's copies for it)`));
  // A drill added or removed is described above; its settings only when it stays.
  const drillKinds = new Set(head.drills.filter((d) => base.drills.some((b) => b.drills === d.drills)).map((d) => d.drills as string));
  const explained = (path: string) =>
    path === 'dataClaims' || (path === 'critical' && base.critical && !head.critical) || (path.startsWith('drills.') && !drillKinds.has(path.split('.')[1]));
  changes.push(...settingChanges(`${id}: `, serviceSettings(base), serviceSettings(head), explained));
  return changes;
}

function hostSettings(host: HostPlan) {
  return {
    name: host.name,
    address: host.address,
    timeZone: host.timeZone,
    installDir: host.installDir,
    // Where the host jobs report (a wrong one silences every host alert) and how they find PVCs.
    pushgateway: host.config.find(([key]) => key === 'PUSHGATEWAY_URL')?.[1],
    kubeconfig: host.config.find(([key]) => key === 'KUBECONFIG')?.[1],
    randomizedDelay: host.jobs[0].randomizedDelay,
    schedules: Object.fromEntries(host.jobs.map((j) => [j.name, j.schedule])),
    timeouts: Object.fromEntries(host.jobs.map((j) => [j.name, j.timeout])),
    snapshots: host.snapshots,
    fileBackup: host.fileBackup,
    offsite: { ...host.offsite, sources: host.offsite.sources.map((s) => `${s.path} -> ${s.target}`) },
  };
}

function hostChanges(base: HostPlan | undefined, head: HostPlan | undefined): Change[] {
  if (!base && !head) return [];
  if (base && !head) return [risky('host: the host section -> removed (snapshots, file backup and offsite sync are no longer managed)')];
  if (!base && head) return [other('host: a host section was added')];
  const b = base!;
  const h = head!;
  const changes: Change[] = [];
  for (const job of b.jobs) {
    const now = h.jobs.find((j) => j.name === job.name)!;
    if (now.schedule.cron !== job.schedule.cron) {
      const worse = now.schedule.longestGap.totalSeconds > job.schedule.longestGap.totalSeconds;
      changes.push({ risky: worse, text: `host ${job.name}: schedule "${job.schedule.toHuman()}" -> "${now.schedule.toHuman()}" (longest gap ${job.schedule.longestGap.toHuman()} -> ${now.schedule.longestGap.toHuman()})` });
    }
  }
  const added = h.snapshots.excludeNamespaces.filter((n) => !b.snapshots.excludeNamespaces.includes(n));
  if (added.length > 0) changes.push(risky(`host snapshots: namespaces snapshotted -> no longer snapshotted: ${added.join(', ')}`));
  for (const source of b.offsite.sources) {
    if (!h.offsite.sources.some((s) => s.path === source.path && s.target === source.target)) {
      changes.push(risky(`host offsite: ${source.path} synced to ${b.offsite.nas.host}:${source.target} -> not synced`));
    }
  }
  const explained = (path: string) => path.startsWith('schedules.') || path === 'snapshots.excludeNamespaces' || path === 'offsite.sources';
  changes.push(...settingChanges('host ', hostSettings(b), hostSettings(h), explained));
  return changes;
}

function alertChanges(base: BackupPlan, head: BackupPlan): Change[] {
  const before = alertThresholdsOf(base.alerts);
  const after = alertThresholdsOf(head.alerts);
  const changes: Change[] = [];
  const describe = (t: AlertThreshold) => `${t.condition}${t.for ? ` for ${t.for.toHuman()}` : ''}, ${t.severity}`;
  for (const rule of before) {
    const now = after.find((a) => a.key === rule.key);
    if (!now) {
      changes.push(risky(`alert ${rule.key}: ${describe(rule)} -> removed (nothing fires on it any more; routes and silences that name it stop matching)`));
      continue;
    }
    if (describe(rule) === describe(now)) {
      if (rule.expr !== now.expr) changes.push(other(`alert ${rule.key}: expression ${rule.expr} -> ${now.expr}`));
      continue;
    }
    const laxer =
      (rule.threshold !== undefined && now.threshold !== undefined && ((rule.laxerWhen === 'higher' && now.threshold > rule.threshold) || (rule.laxerWhen === 'lower' && now.threshold < rule.threshold))) ||
      (now.for?.totalSeconds ?? 0) > (rule.for?.totalSeconds ?? 0) ||
      (rule.severity === 'critical' && now.severity !== 'critical') ||
      (rule.laxerWhen === 'never' && rule.condition !== now.condition);
    changes.push({ risky: laxer, text: `alert ${rule.key}: ${describe(rule)} -> ${describe(now)}` });
  }
  for (const rule of after) {
    if (!before.some((b) => b.key === rule.key)) changes.push(other(`alert ${rule.key}: added (${describe(rule)})`));
  }
  return changes;
}

function settingsOf(plan: BackupPlan) {
  return {
    timeZone: plan.timeZone,
    pushgatewayUrl: plan.pushgatewayUrl,
    alerts: plan.alertSettings,
  };
}

function exclusionChanges(base: BackupPlan, head: BackupPlan): Change[] {
  const key = (e: BackupPlan['coverageExclusions'][number]) => `${e.namespace}${e.claim ? `/${e.claim}` : ' (every PVC)'}`;
  const changes: Change[] = [];
  for (const e of head.coverageExclusions) {
    const was = base.coverageExclusions.find((b) => key(b) === key(e));
    if (!was) changes.push(risky(`coverage: ${key(e)} needs a backup -> excluded ("${e.reason}")`));
    else if (was.reason !== e.reason) changes.push(other(`coverage: ${key(e)} excluded because "${was.reason}" -> "${e.reason}"`));
  }
  for (const e of base.coverageExclusions) {
    if (!head.coverageExclusions.some((h) => key(h) === key(e))) changes.push(other(`coverage: ${key(e)} excluded -> must be covered`));
  }
  return changes;
}

/** Every change from base to head, in review order (risky ones are pulled first by the renderer). */
export function planChanges(basePlan: BackupPlan, headPlan: BackupPlan): Change[] {
  const changes: Change[] = [];
  for (const service of basePlan.services) {
    if (!headPlan.services.some((s) => s.id === service.id)) {
      changes.push(risky(`${service.id}: service -> removed: its ${service.jobs.map((j) => j.name).join(', ')} CronJob(s), volume claim, alerts and every layer below go away (copies on the NFS server stay)`));
      for (const p of service.protection) changes.push(risky(`${service.id}: ${layerName(p.layer)} layer lost: ${p.copies.map(describeCopy).join('; ')} -> none`));
    }
  }
  for (const service of headPlan.services) {
    const before = basePlan.services.find((s) => s.id === service.id);
    if (!before) changes.push(other(`${service.id}: service added (${service.engine}, ${service.jobs.map((j) => `${j.kind} ${j.schedule.toHuman()}`).join('; ')}; layers: ${service.protection.map((p) => layerName(p.layer)).join(', ')}${service.drills.length > 0 ? `; drilled ${service.drills[0].schedule.toHuman()}` : ''})`));
    else changes.push(...serviceChanges(service.id, before, service));
  }
  changes.push(...hostChanges(basePlan.host, headPlan.host));
  changes.push(...settingChanges('', settingsOf(basePlan), settingsOf(headPlan)));
  changes.push(...exclusionChanges(basePlan, headPlan));
  changes.push(...alertChanges(basePlan, headPlan));
  return changes;
}

export function reviewPlans(basePlan: BackupPlan, headPlan: BackupPlan, baseLabel: string): string {
  const changes = planChanges(basePlan, headPlan);
  const riskyOnes = changes.filter((c) => c.risky);
  const others = changes.filter((c) => !c.risky);
  const list = (items: Change[]) => items.map((c) => `- ${c.risky ? '⚠️ ' : ''}${c.text}`).join('\n');
  const headline =
    changes.length === 0
      ? 'No change to what is protected, where, how often, for how long or how it is watched.'
      : `${riskyOnes.length} risky change${riskyOnes.length === 1 ? '' : 's'}, ${others.length} other${others.length === 1 ? '' : 's'}.`;
  return `## Backup policy review (against ${baseLabel})

${headline}
${riskyOnes.length > 0 ? `\n### Protection lost or weakened\n\n${list(riskyOnes)}\n` : ''}${others.length > 0 ? `\n### Other changes\n\n${list(others)}\n` : ''}`;
}
