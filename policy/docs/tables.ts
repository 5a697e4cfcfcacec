import { Duration } from '../duration';
import { Schedule } from '../schedule';
import type { AlertGroup } from '../alerts';
import type { BackupPlan, PlannedService } from '../plan';
import type { BackupPolicyDeclaration } from '../schema';

/** One layer's protection of one service: what runs, how long copies live, how much can be lost. */
export interface Protection {
  layer: 'snapshot' | 'file' | 'dump' | 'offsite';
  what: string;
  retention: string;
  /** The most data lost if the live copy dies just before the next run. */
  rpo: Duration;
}

export const LAYER_TITLES: Record<Protection['layer'], string> = {
  snapshot: 'LVM snapshot',
  file: 'File backup',
  dump: 'App-level dump',
  offsite: 'Offsite',
};

/** Typical restore times from the spec, used where a service declares no `rto`. */
const ENGINE_RTO: Record<PlannedService['engine'], Duration> = {
  postgres: Duration.minutes(5),
  mysql: Duration.minutes(15),
  etcd: Duration.minutes(20),
  vault: Duration.minutes(10),
  redis: Duration.minutes(10),
  sqlite: Duration.minutes(5),
};

function under(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir.replace(/\/$/, '')}/`);
}

/** Every layer that protects a service, derived from the policy: nothing here is declared twice. */
export function protections(service: PlannedService, policy: BackupPolicyDeclaration): Protection[] {
  const host = policy.host;
  const result: Protection[] = [];
  const snapshotted = host !== undefined && !host.snapshots.excludeNamespaces.includes(service.namespace);
  if (host && snapshotted) {
    const schedule = Schedule.parse(host.snapshots.schedule);
    result.push({ layer: 'snapshot', what: schedule.toHuman(), retention: Duration.parse(host.snapshots.retention).toHuman(), rpo: schedule.longestGap });
    const file = Schedule.parse(host.fileBackup.schedule);
    result.push({ layer: 'file', what: file.toHuman(), retention: `${host.fileBackup.weeklyGenerations} weekly generations`, rpo: file.longestGap });
  }
  const dumps = service.jobs.filter((j) => j.retention);
  const dumpGap = Math.min(...dumps.map((j) => j.schedule.longestGap.totalSeconds));
  result.push({
    layer: 'dump',
    what: dumps.map((j) => `${j.kind}: ${j.schedule.toHuman()}`).join('; '),
    retention: dumps[0].retention!.toHuman(),
    rpo: Duration.seconds(dumpGap),
  });
  if (host) {
    const offsite = Schedule.parse(host.offsite.schedule);
    const viaNfs = host.offsite.sources.some((s) => under(service.volume.path, s.path));
    const layerGaps = [...(viaNfs ? [dumpGap] : []), ...(snapshotted ? [Schedule.parse(host.fileBackup.schedule).longestGap.totalSeconds] : [])];
    if (layerGaps.length > 0) {
      // The offsite copy lags its source by up to one offsite gap on top of the source's own gap.
      result.push({
        layer: 'offsite',
        what: `${offsite.toHuman()} (${[viaNfs ? 'dumps via the NFS tree' : '', snapshotted ? 'file backup via the backup disk' : ''].filter(Boolean).join(', ')})`,
        retention: 'mirror of the sources',
        rpo: Duration.seconds(Math.min(...layerGaps) + offsite.longestGap.totalSeconds),
      });
    }
  }
  return result;
}

export function bestRpo(service: PlannedService, policy: BackupPolicyDeclaration): Protection {
  return protections(service, policy).reduce((best, p) => (p.rpo.totalSeconds < best.rpo.totalSeconds ? p : best));
}

export function renderProtectionMatrix(plan: BackupPlan, policy: BackupPolicyDeclaration): string {
  const layers = ['snapshot', 'file', 'dump', 'offsite'] as const;
  const rows = plan.services.map((service) => {
    const byLayer = new Map(protections(service, policy).map((p) => [p.layer, p]));
    const cells = layers.map((layer) => {
      const p = byLayer.get(layer);
      return p ? `${p.what}; keeps ${p.retention}; RPO ${p.rpo.toHuman()}` : '—';
    });
    return `| ${service.id} | ${service.engine} | ${service.namespace} | ${cells.join(' | ')} |`;
  });
  const host = policy.host;
  const hostNote = host
    ? `Snapshots and file backups cover every PVC LV matching \`${host.snapshots.lvPattern}\` outside ${host.snapshots.excludeNamespaces.map((n) => `\`${n}\``).join(', ') || 'no excluded namespace'}; the offsite sync mirrors the backup disk and ${host.offsite.sources.map((s) => `\`${s.path}\``).join(', ')}.`
    : 'The policy declares no host section: only the app-level dumps below exist.';
  return `# Protection matrix

Generated from the backup policy. Do not edit: run \`npm run generate\`. Times are in ${policy.timeZone}.

${hostNote}

| service | engine | namespace | ${layers.map((l) => LAYER_TITLES[l]).join(' | ')} |
|---|---|---|${layers.map(() => '---').join('|')}|
${rows.join('\n')}

RPO in each cell is the longest gap between two runs of that layer (for offsite: the source's gap plus the sync's), the most data lost if the live copy dies just before the next run.
`;
}

export function renderRpoRto(plan: BackupPlan, policy: BackupPolicyDeclaration): string {
  const rows = plan.services.map((service) => {
    const best = bestRpo(service, policy);
    const declared = service.declaration.rpo ? Duration.parse(service.declaration.rpo) : undefined;
    const rto = service.declaration.rto ? `${Duration.parse(service.declaration.rto).toHuman()} (declared)` : `${ENGINE_RTO[service.engine].toHuman()} (typical for ${service.engine})`;
    const verdict = declared ? (best.rpo.totalSeconds <= declared.totalSeconds ? 'met' : '**not met**') : 'none declared';
    return `| ${service.id} | ${best.rpo.toHuman()} (${LAYER_TITLES[best.layer]}) | ${declared ? declared.toHuman() : '—'} | ${verdict} | ${rto} |`;
  });
  return `# RPO and RTO

Generated from the backup policy. Do not edit: run \`npm run generate\`.

| service | achieved RPO (best layer) | declared RPO | RPO | RTO |
|---|---|---|---|---|
${rows.join('\n')}
`;
}

function describeFor(rule: AlertGroup['rules'][number]): string {
  switch (rule.type) {
    case 'stale':
      return `no success for ${rule.test.job!.staleAfter.toHuman()}`;
    case 'failing':
      return `last run failed, for ${rule.for!.toHuman()}`;
    case 'never-succeeded':
      return `no success ever reported, for ${rule.for!.toHuman()}`;
    case 'too-small':
      return `newest copy under ${rule.test.threshold} x the largest recent one`;
    case 'gauge':
      return `\`${rule.test.metric}\` ${rule.test.comparison} ${rule.test.threshold}${rule.for ? ` for ${rule.for.toHuman()}` : ''}`;
  }
}

export function renderAlertTable(groups: AlertGroup[]): string {
  const rows = groups.flatMap((group) =>
    group.rules.map((rule) => `| ${rule.alert} | \`${Object.entries(rule.test.selector).map(([k, v]) => `${k}="${v}"`).join(', ')}\` | ${describeFor(rule)} | ${rule.labels.severity} (${rule.labels.channel}) | [runbook](${rule.annotations.runbook_url}) |`),
  );
  return `# Alerts

Generated from the backup policy (the same plan as \`alerts/backup-alerts.yaml\`). Do not edit: run \`npm run generate\`.

| alert | watches | fires when | severity (channel) | runbook |
|---|---|---|---|---|
${rows.join('\n')}
`;
}
