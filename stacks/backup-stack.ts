import { Construct } from 'constructs';
import { LocalBackend, TerraformStack } from 'cdktf';
import { KubernetesProvider } from '@cdktf/provider-kubernetes/lib/provider';
import type { BackupPolicyInput } from '../policy/schema';
import { BackupPolicy } from '../constructs/backup-policy';

export interface BackupStackProps {
  readonly policy: BackupPolicyInput;
  /**
   * Terraform state file, relative to the stack's output directory.
   * @default "terraform.<stack id>.tfstate" (a relative path, so the synthesized JSON does not
   * embed the checkout's absolute path)
   */
  readonly statePath?: string;
}

/**
 * Composition only: providers, backend and the policy. The kubernetes provider is configured
 * from the environment (KUBE_CONFIG_PATH, KUBE_CTX, ...), never from code.
 */
export class BackupStack extends TerraformStack {
  readonly policy: BackupPolicy;

  constructor(scope: Construct, id: string, props: BackupStackProps) {
    super(scope, id);
    new LocalBackend(this, { path: props.statePath ?? `terraform.${id}.tfstate` });
    new KubernetesProvider(this, 'kubernetes', {});
    this.policy = new BackupPolicy(this, 'policy', { policy: props.policy });
  }
}
