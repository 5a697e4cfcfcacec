import type { BackupPlan } from '../../plan/plan';
import type { MeasuredRestoreTimes } from '../../values/restore-times';
import { hostTimelineJobs, renderHostRunbooks } from './host-runbooks';
import { renderRunbook } from './runbooks';
import { renderAlertTable, renderProtectionMatrix, renderRpoRto } from './tables';
import { clusterTimelineJobs, renderTimeline } from './timeline';

/**
 * Every document under docs/, by path. Pure: the same plan (and measurements) always gives the
 * same bytes. `measured`: the restore benchmark's figures for the RPO/RTO document (read by the
 * caller through policy/io/restore-times.ts).
 */
export function renderDocs(plan: BackupPlan, measured?: MeasuredRestoreTimes): Record<string, string> {
  const files: Record<string, string> = {
    'docs/protection-matrix.md': renderProtectionMatrix(plan),
    'docs/schedule.md': renderTimeline([...clusterTimelineJobs(plan), ...(plan.host ? hostTimelineJobs(plan.host) : [])], plan.timeZone),
    'docs/alerts.md': renderAlertTable(plan.alerts),
    'docs/rpo-rto.md': renderRpoRto(plan, measured),
  };
  for (const service of plan.services) {
    const offsite = service.protection.find((p) => p.layer === 'offsite');
    const note = offsite ? `An offsite copy follows: ${offsite.what}.` : 'No offsite copy is declared for these files.';
    files[`docs/runbooks/${service.id}.md`] = renderRunbook(service, plan.timeZone, note);
  }
  for (const [name, text] of Object.entries(plan.host ? renderHostRunbooks(plan.host) : {})) files[`docs/runbooks/${name}`] = text;
  const runbooks = Object.keys(files).filter((p) => p.startsWith('docs/runbooks/')).sort();
  files['docs/README.md'] = `# Backup documentation

Generated from the backup policy. Do not edit: run \`npm run generate\`.

- [Protection matrix](protection-matrix.md): every service against every layer, with retention and RPO
- [Schedule timeline](schedule.md): a day and a week of jobs in ${plan.timeZone}
- [Alerts](alerts.md): every rule, its threshold, severity and runbook
- [RPO and RTO](rpo-rto.md)
- Runbooks: ${runbooks.map((p) => `[${p.replace('docs/runbooks/', '').replace(/\.md$/, '')}](${p.replace('docs/', '')})`).join(', ')}
`;
  return files;
}
