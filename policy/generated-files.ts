import { planAllAlerts, type AlertGroup } from './alerts';
import { renderPolicyJsonSchema } from './json-schema';
import { renderDocs } from './docs/index';
import { hostTimelineJobs, renderHostRunbooks } from './docs/host-runbooks';
import { planHost } from './host-plan';
import { parsePolicy, planPolicy } from './plan';
import { renderRulesFile } from './render/prometheus-rules';
import { renderPromtoolTestFile } from './render/promtool-tests';

/** Every alert group of a policy, sorted by service id (reordering the declaration changes nothing). */
export function planAlerts(policyInput: unknown): AlertGroup[] {
  const policy = parsePolicy(policyInput);
  return planAllAlerts(planPolicy(policy), policy);
}

/**
 * The files committed to the repository for the bundled policy, by path. `npm run generate`
 * writes them; a test fails when the committed copies differ from this.
 */
export function generatedFiles(policyInput: unknown): Record<string, string> {
  const policy = parsePolicy(policyInput);
  const plan = planPolicy(policy);
  const groups = planAlerts(policyInput);
  const host = planHost(policy);
  return {
    ...renderDocs({
      policy,
      plan,
      alerts: groups,
      hostTimeline: host ? hostTimelineJobs(host) : undefined,
      hostRunbooks: host && policy.host ? renderHostRunbooks(host, policy.host) : undefined,
    }),
    'alerts/backup-alerts.yaml': renderRulesFile(groups),
    'alerts/backup-alerts.test.yaml': renderPromtoolTestFile(groups, 'backup-alerts.yaml'),
    'backup-policy.schema.json': renderPolicyJsonSchema(),
  };
}
