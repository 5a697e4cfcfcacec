import type { AlertGroup, AlertSettings } from '../plan/alerts';
import { escapeTerraformTemplate } from './terraform-escape';
import { labels } from './kubernetes';
import { renderRuleGroups, renderRulesFile } from './prometheus-rules';

/** Every string in a value, escaped for Terraform's template syntax. */
function escapeDeep<T>(value: T): T {
  if (typeof value === 'string') return escapeTerraformTemplate(value) as T;
  if (Array.isArray(value)) return value.map(escapeDeep) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escapeDeep(v)])) as T;
  return value;
}

const RULES_NAME = 'backup-policy-alerts';

/** The rules as a PrometheusRule manifest, for kube-prometheus-stack's operator. */
export function renderPrometheusRule(groups: AlertGroup[], settings: AlertSettings) {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: RULES_NAME, namespace: settings.namespace, labels: { ...labels(undefined, 'alert-rules'), ...settings.ruleLabels } },
    spec: { groups: escapeDeep(renderRuleGroups(groups)) },
  };
}

/** The rules file in a ConfigMap, for a plain Prometheus that loads rule files from a mount. */
export function renderRulesConfigMap(groups: AlertGroup[], settings: AlertSettings) {
  return {
    metadata: { name: RULES_NAME, namespace: settings.namespace, labels: { ...labels(undefined, 'alert-rules'), ...settings.ruleLabels } },
    data: { 'backup-alerts.yaml': escapeTerraformTemplate(renderRulesFile(groups)) },
  };
}
