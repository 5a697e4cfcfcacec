/**
 * The two deployment forms of the rules: a PrometheusRule for kube-prometheus-stack and a
 * ConfigMap holding the rules file for a plain Prometheus. Both hand over plain text: the Terraform
 * escape happens once, at the constructs' boundary (constructs/terraform-boundary.ts, proved in
 * test/input/terraform-boundary.test.ts); the rules file text itself is pinned in
 * prometheus-rules.test.ts.
 */
import { planPolicy } from '../../policy/plan/plan';
import type { AlertGroup } from '../../policy/plan/alerts';
import { renderPrometheusRule, renderRulesConfigMap } from '../../policy/render/alert-objects';
import { GENERATED_HEADER, renderRuleGroups, renderRulesFile } from '../../policy/render/prometheus-rules';
import { pgService, policyOf } from './small-policies';

/**
 * One hand-made group whose text holds both Terraform openers: a label_replace with "${1}" and an
 * annotation with "%{". Real rules rarely contain them: a fixed group pins that the renderer leaves
 * them as they are (escaping here too would escape twice).
 */
const TRICKY: AlertGroup[] = [
  {
    name: 'backup-policy.x',
    rules: [
      {
        alert: 'XBackupStale',
        type: 'stale',
        expr: 'label_replace(up, "host", "${1}", "instance", "(.*):.*") == 0',
        labels: { severity: 'warning', channel: 'infra-alerts', service: 'x' },
        annotations: { summary: 'x is ${down}', description: '100%{ of it }', runbook_url: 'docs/runbooks/x.md' },
        test: { selector: { service: 'x' }, metric: 'up' },
      },
    ],
  },
];

const ALERT_LABELS = {
  'app.kubernetes.io/name': 'backup-policy',
  'app.kubernetes.io/component': 'alert-rules',
  'app.kubernetes.io/managed-by': 'backup-policy',
};

describe('renderPrometheusRule', () => {
  test('the operator manifest: namespace and selector labels from the settings, rules as plain text', () => {
    const plan = planPolicy(policyOf({ pg: pgService }, { alerts: { namespace: 'observability', ruleLabels: { release: 'prom', team: 'infra' } } }));
    expect(renderPrometheusRule(TRICKY, plan.alertSettings)).toEqual({
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: 'backup-policy-alerts', namespace: 'observability', labels: { ...ALERT_LABELS, release: 'prom', team: 'infra' } },
      spec: {
        groups: [
          {
            name: 'backup-policy.x',
            rules: [
              {
                alert: 'XBackupStale',
                expr: 'label_replace(up, "host", "${1}", "instance", "(.*):.*") == 0',
                labels: { severity: 'warning', channel: 'infra-alerts', service: 'x' },
                annotations: { summary: 'x is ${down}', description: '100%{ of it }', runbook_url: 'docs/runbooks/x.md' },
              },
            ],
          },
        ],
      },
    });
  });

  test('with the default settings: monitoring namespace, the kube-prometheus-stack release label', () => {
    const plan = planPolicy(policyOf({ pg: pgService }));
    // Nothing in these rules needs escaping: the spec is exactly the rules-file groups.
    expect(renderPrometheusRule(plan.alerts, plan.alertSettings)).toEqual({
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: 'backup-policy-alerts', namespace: 'monitoring', labels: { ...ALERT_LABELS, release: 'kube-prometheus-stack' } },
      spec: { groups: renderRuleGroups(plan.alerts) },
    });
  });
});

describe('renderRulesConfigMap', () => {
  test('the rules file under backup-alerts.yaml, as plain text', () => {
    const plan = planPolicy(policyOf({ pg: pgService }, { alerts: { deploy: 'configmap', namespace: 'prometheus', ruleLabels: { prometheus: 'main' } } }));
    expect(renderRulesConfigMap(TRICKY, plan.alertSettings)).toEqual({
      metadata: { name: 'backup-policy-alerts', namespace: 'prometheus', labels: { ...ALERT_LABELS, prometheus: 'main' } },
      data: {
        'backup-alerts.yaml': `${GENERATED_HEADER}groups:
  - name: backup-policy.x
    rules:
      - alert: XBackupStale
        expr: label_replace(up, "host", "\${1}", "instance", "(.*):.*") == 0
        labels:
          severity: warning
          channel: infra-alerts
          service: x
        annotations:
          summary: x is \${down}
          description: 100%{ of it }
          runbook_url: docs/runbooks/x.md
`,
      },
    });
  });

  test('a real service\'s rules file is the rules file', () => {
    const plan = planPolicy(policyOf({ pg: pgService }));
    expect(renderRulesConfigMap(plan.alerts, plan.alertSettings)).toEqual({
      metadata: { name: 'backup-policy-alerts', namespace: 'monitoring', labels: { ...ALERT_LABELS, release: 'kube-prometheus-stack' } },
      data: { 'backup-alerts.yaml': renderRulesFile(plan.alerts) },
    });
  });
});
