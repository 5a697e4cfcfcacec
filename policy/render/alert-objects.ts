import type { AlertGroup, AlertSettings } from '../plan/alerts';
import { labels } from './kubernetes';
import { renderRuleGroups, renderRulesFile } from './prometheus-rules';

// Plain text: the constructs' Terraform boundary (constructs/terraform-boundary.ts) escapes it once.
const RULES_NAME = 'backup-policy-alerts';

/** The rules as a PrometheusRule manifest, for kube-prometheus-stack's operator. */
export function renderPrometheusRule(groups: AlertGroup[], settings: AlertSettings) {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: RULES_NAME, namespace: settings.namespace, labels: { ...labels(undefined, 'alert-rules'), ...settings.ruleLabels } },
    spec: { groups: renderRuleGroups(groups) },
  };
}

/** The rules file in a ConfigMap, for a plain Prometheus that loads rule files from a mount. */
export function renderRulesConfigMap(groups: AlertGroup[], settings: AlertSettings) {
  return {
    metadata: { name: RULES_NAME, namespace: settings.namespace, labels: { ...labels(undefined, 'alert-rules'), ...settings.ruleLabels } },
    data: { 'backup-alerts.yaml': renderRulesFile(groups) },
  };
}
