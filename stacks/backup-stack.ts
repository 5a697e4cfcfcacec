import { Construct } from 'constructs';
import { Fn, LocalBackend, Op, TerraformStack, TerraformVariable, Token, type SSHProvisionerConnection } from 'cdktf';
import { KubernetesProvider } from '@cdktf/provider-kubernetes/lib/provider';
import { NullProvider } from '@cdktf/provider-null/lib/provider';
import type { BackupPolicyInput } from '../policy/parse/policy-schema';
import type { HostPlan } from '../policy/plan/host-plan';
import { BackupPolicy } from '../constructs/backup-policy';
import type { HostDeployment } from '../constructs/host-deployment';

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
 * The SSH connection to the Proxmox host, from Terraform variables (TF_VAR_host_ssh_* or -var):
 * no key, key path or host key in code. An empty key path means ssh-agent; an empty host key means
 * Terraform does not verify the host (set it: `ssh-keyscan -t ed25519 <host>`, the key part).
 */
function hostConnection(scope: Construct, plan: HostPlan): SSHProvisionerConnection {
  const host = new TerraformVariable(scope, 'host_ssh_host', { type: 'string', default: plan.address, description: 'Address of the Proxmox host.' });
  const port = new TerraformVariable(scope, 'host_ssh_port', { type: 'number', default: 22, description: 'SSH port of the Proxmox host.' });
  const user = new TerraformVariable(scope, 'host_ssh_user', { type: 'string', default: 'root', description: 'SSH user (installs into /usr/local and /etc: root).' });
  const keyPath = new TerraformVariable(scope, 'host_ssh_private_key_path', {
    type: 'string',
    default: '',
    description: 'Path of the SSH private key on the machine running Terraform; empty: use ssh-agent.',
  });
  const hostKey = new TerraformVariable(scope, 'host_ssh_host_key', {
    type: 'string',
    default: '',
    description: 'Public host key of the Proxmox host ("<type> <base64>", as ssh-keyscan prints it), checked on connect; empty: not checked.',
  });
  // length() < 1 rather than == "" or == 0: cdktf 0.21 renders a falsy literal operand as
  // `undefined`, which Terraform rejects.
  const empty = (v: TerraformVariable) => Op.lt(Fn.lengthOf(v.stringValue), 1);
  const noKeyPath = empty(keyPath);
  return {
    type: 'ssh',
    host: host.stringValue,
    port: port.numberValue,
    user: user.stringValue,
    // Read by Terraform at apply time; the key never enters the synthesized JSON or the state.
    privateKey: Token.asString(Fn.conditional(noKeyPath, Token.nullValue(), Fn.file(keyPath.stringValue))),
    agent: Token.asString(noKeyPath),
    hostKey: Token.asString(Fn.conditional(empty(hostKey), Token.nullValue(), hostKey.stringValue)),
  };
}

/**
 * Composition only: providers, backend and the policy. The kubernetes provider is configured
 * from the environment (KUBE_CONFIG_PATH, KUBE_CTX, ...), never from code. With a host section the
 * null provider deploys the host bundle over SSH.
 */
export class BackupStack extends TerraformStack {
  readonly policy: BackupPolicy;

  constructor(scope: Construct, id: string, props: BackupStackProps) {
    super(scope, id);
    new LocalBackend(this, { path: props.statePath ?? `terraform.${id}.tfstate` });
    new KubernetesProvider(this, 'kubernetes', {});
    this.policy = new BackupPolicy(this, 'policy', {
      policy: props.policy,
      hostConnection: (host) => {
        new NullProvider(this, 'null', {});
        return hostConnection(this, host);
      },
    });
  }

  /** The host layers' deployment; undefined for a policy without a host section. */
  get host(): HostDeployment | undefined {
    return this.policy.host;
  }
}
