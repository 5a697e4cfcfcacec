import type { BackupPlan } from '../plan/plan';
import type { MeasuredRestoreTimes } from '../values/restore-times';
import { renderPolicyJsonSchema } from '../parse/json-schema';
import { renderDocs } from './docs/index';
import { renderRulesFile } from './prometheus-rules';
import { renderPromtoolTestFile } from './promtool-tests';

/**
 * The files committed to the repository for the bundled policy, by path, from its plan.
 * `npm run generate` writes them; a test fails when the committed copies differ from this.
 * `measured`: the restore benchmark's figures (bench/restore-times.json), shown in docs/rpo-rto.md.
 */
export function generatedFiles(plan: BackupPlan, measured?: MeasuredRestoreTimes): Record<string, string> {
  return {
    ...renderDocs(plan, measured),
    'alerts/backup-alerts.yaml': renderRulesFile(plan.alerts),
    'alerts/backup-alerts.test.yaml': renderPromtoolTestFile(plan.alerts, 'backup-alerts.yaml'),
    'backup-policy.schema.json': renderPolicyJsonSchema(),
  };
}
