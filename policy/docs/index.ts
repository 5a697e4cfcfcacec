import type { AlertGroup } from '../alerts';
import type { BackupPlan } from '../plan';
import type { BackupPolicyDeclaration } from '../schema';
import { renderRunbook } from './runbooks';
import { protections, renderAlertTable, renderProtectionMatrix, renderRpoRto } from './tables';
import { clusterTimelineJobs, renderTimeline, type TimelineJob } from './timeline';

export interface DocsInput {
  policy: BackupPolicyDeclaration;
  plan: BackupPlan;
  alerts: AlertGroup[];
  /** Host timers for the timeline, when the policy has a host section. */
  hostTimeline?: TimelineJob[];
  /** Host runbooks by file name, when the policy has a host section. */
  hostRunbooks?: Record<string, string>;
}

/** Every document under docs/, by path. Pure: the same plan always gives the same bytes. */
export function renderDocs(input: DocsInput): Record<string, string> {
  const { policy, plan, alerts } = input;
  const files: Record<string, string> = {
    'docs/protection-matrix.md': renderProtectionMatrix(plan, policy),
    'docs/schedule.md': renderTimeline([...clusterTimelineJobs(plan), ...(input.hostTimeline ?? [])], policy.timeZone),
    'docs/alerts.md': renderAlertTable(alerts),
    'docs/rpo-rto.md': renderRpoRto(plan, policy),
  };
  for (const service of plan.services) {
    const offsite = protections(service, policy).find((p) => p.layer === 'offsite');
    const note = offsite ? `An offsite copy follows: ${offsite.what}.` : 'No offsite copy is declared for these files.';
    files[`docs/runbooks/${service.id}.md`] = renderRunbook(service, policy, note);
  }
  for (const [name, text] of Object.entries(input.hostRunbooks ?? {})) files[`docs/runbooks/${name}`] = text;
  const runbooks = Object.keys(files).filter((p) => p.startsWith('docs/runbooks/')).sort();
  files['docs/README.md'] = `# Backup documentation

Generated from the backup policy. Do not edit: run \`npm run generate\`.

- [Protection matrix](protection-matrix.md): every service against every layer, with retention and RPO
- [Schedule timeline](schedule.md): a day and a week of jobs in ${policy.timeZone}
- [Alerts](alerts.md): every rule, its threshold, severity and runbook
- [RPO and RTO](rpo-rto.md)
- Runbooks: ${runbooks.map((p) => `[${p.replace('docs/runbooks/', '').replace(/\.md$/, '')}](${p.replace('docs/', '')})`).join(', ')}
`;
  return files;
}
