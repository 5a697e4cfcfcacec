import type { AlertGroup } from '../../plan/alerts';
import type { BackupPlan } from '../../plan/plan';
import { LAYERS, LAYER_TITLES, bestRpo, drillsOf } from '../../plan/protection';
import type { MeasuredRestore, MeasuredRestoreTimes, TimingSummary } from '../../values/restore-times';

/** The drill column: what a drill restores and how often, or why the cell is empty. */
function drillCell(service: BackupPlan['services'][number]): string {
  const drills = drillsOf(service);
  if (drills.length === 0) return 'not drilled';
  return drills.map((d) => `${d.of} copies: ${d.schedule.toHuman()}`).join('; ');
}

export function renderProtectionMatrix(plan: BackupPlan): string {
  const layers = LAYERS;
  const rows = plan.services.map((service) => {
    const byLayer = new Map(service.protection.map((p) => [p.layer, p]));
    const cells = layers.map((layer) => {
      if (layer === 'drill') return drillCell(service);
      const p = byLayer.get(layer);
      if (!p) return '—';
      // Mirrors (offsite) keep what their sources keep; each lags its own source, so each has its RPO.
      if (p.copies.some((c) => c.mirrorOf)) return `${p.when}; ${p.copies.map((c) => `${c.of}: RPO ${c.rpo.toHuman()}`).join('; ')}; keeps what its sources keep`;
      return `${p.what}; keeps ${p.retention}; RPO ${p.rpo.toHuman()}`;
    });
    return `| ${service.id} | ${service.engine} | ${service.namespace} | ${cells.join(' | ')} |`;
  });
  const host = plan.host;
  const hostNote = host
    ? `Snapshots and file backups cover every PVC LV matching \`${host.snapshots.lvPattern}\` outside ${host.snapshots.excludeNamespaces.map((n) => `\`${n}\``).join(', ') || 'no excluded namespace'}; a service gets those layers only for the PVCs it names as its data (\`dataClaims\`), so a service without a PVC (a static pod) shows none. The offsite sync mirrors the backup disk and ${host.offsite.sources.map((s) => `\`${s.path}\``).join(', ')}.`
    : 'The policy declares no host section: only the app-level dumps below exist.';
  return `# Protection matrix

Generated from the backup policy. Do not edit: run \`npm run generate\`. Times are in ${plan.timeZone}.

${hostNote}

| service | engine | namespace | ${layers.map((l) => LAYER_TITLES[l]).join(' | ')} |
|---|---|---|${layers.map(() => '---').join('|')}|
${rows.join('\n')}

RPO in each cell is the longest gap between two runs of that layer (for offsite: the source's gap plus the sync's), the most data lost if the live copy dies just before the next run. ${LAYER_TITLES.drill}: how often the newest copy of each kind is restored into a throwaway server and checked (no copy of its own, so no RPO); each service's runbook names its drill CronJobs.
`;
}

/** The restore target of the pipeline benchmark (issue "Restore is code"): the script's wall time at most this times the tool's own. */
const RESTORE_RATIO_TARGET = 1.2;

function seconds(t: TimingSummary): string {
  return `${t.medianSeconds.toFixed(1)} s (${t.minSeconds.toFixed(1)}–${t.maxSeconds.toFixed(1)})`;
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(0)} MiB`;
}

const ENGINE_SCRIPTS: Record<MeasuredRestore['engine'], string> = { postgres: 'postgres-restore.sh', mysql: 'mysql-restore.sh' };

/** The measured restore figures and where they came from; a sentence saying so when there are none. */
function renderMeasuredRestores(plan: BackupPlan, measured: MeasuredRestoreTimes | undefined): string {
  if (!measured) {
    return `## Measured restore times

No measurement is recorded (\`bench/restore-times.json\` is missing): the RTO column above is the declared or typical figure only. The restore benchmark (\`node dist/bench/pipeline/run.js --only-restores\`) writes it.
`;
  }
  const rows = measured.restores.map((r) => {
    const ratio = r.script.medianSeconds / r.tool.medianSeconds;
    const services = plan.services.filter((s) => s.engine === r.engine).map((s) => s.id);
    const data = `${mib(r.dumpBytes)} of dump (${r.databases.length} ${r.databases.length === 1 ? 'database' : 'databases'}), ${mib(r.copyBytes)} compressed`;
    return `| ${r.engine} (${r.server}) | ${r.mode} | ${data} | \`${ENGINE_SCRIPTS[r.engine]} ${r.mode}\`: ${seconds(r.script)} | \`${r.tool.command}\`: ${seconds(r.tool)} | ${ratio.toFixed(2)}× | ${ratio <= RESTORE_RATIO_TARGET ? 'yes' : 'no'} | ${services.join(', ') || '—'} |`;
  });
  return `## Measured restore times

The restore scripts the restore Jobs run (\`backup-policy restore\`), timed on realistic text-heavy data beside the engine's own tool restoring an uncompressed copy of the same dump into the same server: median wall time of ${measured.restores[0].script.runs} alternated runs, range in brackets. Target: at most ${RESTORE_RATIO_TARGET}× the tool's own time.

| engine (server) | mode | data | restore script | engine's tool, uncompressed copy | ratio | ≤ ${RESTORE_RATIO_TARGET}× | services here |
|---|---|---|---|---|--:|---|---|
${rows.join('\n')}

Where these come from: measured ${measured.measuredAt} on ${measured.machine} (1-minute load average ${measured.loadAverage.start} at the start, ${measured.loadAverage.end} at the end) by \`${measured.command}\`, recorded in \`bench/restore-times.json\`; every variant and command in ${measured.source}. Restore time grows with the data: scale these by a service's own dump size for its RTO.
`;
}

export function renderRpoRto(plan: BackupPlan, measured?: MeasuredRestoreTimes): string {
  const rows = plan.services.map((service) => {
    const best = bestRpo(service.protection);
    const declared = service.rpo;
    const rto = service.rto.declared ? `${service.rto.duration.toHuman()} (declared)` : `${service.rto.duration.toHuman()} (typical for ${service.engine})`;
    const verdict = declared ? (best.rpo.totalSeconds <= declared.totalSeconds ? 'met' : '**not met**') : 'none declared';
    return `| ${service.id} | ${best.rpo.toHuman()} (${LAYER_TITLES[best.layer]}) | ${declared ? declared.toHuman() : '—'} | ${verdict} | ${rto} |`;
  });
  return `# RPO and RTO

Generated from the backup policy. Do not edit: run \`npm run generate\`.

| service | achieved RPO (best layer) | declared RPO | RPO | RTO |
|---|---|---|---|---|
${rows.join('\n')}

${renderMeasuredRestores(plan, measured)}${renderDrillRto(plan)}`;
}

/**
 * Which services are drilled: each drill's measured restore time is the RTO production reports,
 * beside the declared or typical one above. Absent while the policy drills nothing.
 */
function renderDrillRto(plan: BackupPlan): string {
  if (plan.services.every((s) => s.drills.length === 0)) return '';
  const rows = plan.services.flatMap((service) => {
    const drills = drillsOf(service);
    if (drills.length === 0) return [`| ${service.id} | not drilled | — | none: only the RTO above |`];
    return drills.map((d) => `| ${service.id} | ${d.of} copies, ${d.schedule.toHuman()} | ${d.staleAfter.toHuman()} | \`${d.durationMetric}\` |`);
  });
  return `
## Restore drills: the measured RTO

A drill restores the newest copy into a throwaway server and checks it; the time that restore took is pushed as the RTO measured in production.

| service | drilled | alert when no success for | measured restore time (RTO source) |
|---|---|---|---|
${rows.join('\n')}
`;
}

function describeFor(rule: AlertGroup['rules'][number]): string {
  // A drill's rules watch drills, not backup runs: say so in the words.
  const what = rule.labels.kind?.startsWith('drill-') ? 'drill' : 'run';
  switch (rule.type) {
    case 'stale':
      return `no ${what === 'drill' ? 'successful drill' : 'success'} for ${rule.test.job!.staleAfter.toHuman()}`;
    case 'failing':
      return `last ${what} failed, for ${rule.for!.toHuman()}`;
    case 'never-succeeded':
      return `no ${what === 'drill' ? 'successful drill' : 'success'} ever reported, for ${rule.for!.toHuman()}`;
    case 'too-small':
      return `newest copy under ${rule.test.threshold} x the largest recent one`;
    case 'gauge':
      return `\`${rule.test.metric}\` ${rule.test.comparison} ${rule.test.threshold}${rule.for ? ` for ${rule.for.toHuman()}` : ''}`;
  }
}

/** A repository path (docs/runbooks/x.md, used when no base URL is declared) as seen from docs/alerts.md. */
function linkFromDocs(url: string): string {
  return url.startsWith('docs/') ? url.slice('docs/'.length) : url;
}

export function renderAlertTable(groups: AlertGroup[]): string {
  const rows = groups.flatMap((group) =>
    group.rules.map((rule) => `| ${rule.alert} | \`${Object.entries(rule.test.selector).map(([k, v]) => `${k}="${v}"`).join(', ')}\` | ${describeFor(rule)} | ${rule.labels.severity} (${rule.labels.channel}) | [runbook](${linkFromDocs(rule.annotations.runbook_url)}) |`),
  );
  return `# Alerts

Generated from the backup policy (the same plan as \`alerts/backup-alerts.yaml\`). Do not edit: run \`npm run generate\`.

| alert | watches | fires when | severity (channel) | runbook |
|---|---|---|---|---|
${rows.join('\n')}
`;
}
