import { Construct } from 'constructs';
import { Lazy } from 'cdktf';
import { ConfigMapV1 } from '@cdktf/provider-kubernetes/lib/config-map-v1';
import { Manifest } from '@cdktf/provider-kubernetes/lib/manifest';
import type { AlertGroup, AlertSettings } from '../policy/plan/alerts';
import { renderPrometheusRule, renderRulesConfigMap } from '../policy/render/alert-objects';

export interface BackupAlertsProps {
  readonly settings: AlertSettings;
  /** Called at synth time, so services added after construction have their rules too. */
  readonly groups: () => AlertGroup[];
}

/**
 * The policy's alert rules, deployed in the form the policy chooses: a PrometheusRule (the
 * operator of kube-prometheus-stack picks it up; kubernetes_manifest needs the CRD to exist at
 * plan time) or a ConfigMap holding the rules file for a plain Prometheus.
 */
export class BackupAlerts extends Construct {
  constructor(scope: Construct, id: string, props: BackupAlertsProps) {
    super(scope, id);
    if (props.settings.deploy === 'configmap') {
      const base = renderRulesConfigMap([], props.settings);
      new ConfigMapV1(this, 'rules', {
        metadata: base.metadata,
        data: { 'backup-alerts.yaml': Lazy.stringValue({ produce: () => renderRulesConfigMap(props.groups(), props.settings).data['backup-alerts.yaml'] }) },
      });
    } else {
      const base = renderPrometheusRule([], props.settings);
      new Manifest(this, 'rules', {
        manifest: { ...base, spec: Lazy.anyValue({ produce: () => renderPrometheusRule(props.groups(), props.settings).spec }) },
      });
    }
  }
}
