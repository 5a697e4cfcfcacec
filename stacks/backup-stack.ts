import { Construct } from 'constructs';
import { Fn, Op, TerraformStack, TerraformVariable, Token, type SSHProvisionerConnection } from 'cdktf';
import { KubernetesProvider } from '@cdktf/provider-kubernetes/lib/provider';
import { NullProvider } from '@cdktf/provider-null/lib/provider';
import type { BackupPolicyInput } from '../policy/parse/policy-schema';
import type { HostPlan } from '../policy/plan/host-plan';
import { BackupPolicy } from '../constructs/backup-policy';
import type { HostDeployment } from '../constructs/host-deployment';
import { addBackend, type StackBackend } from './state-backend';

/** The default state file, from the stack's working folder: <project>/terraform-state/<id>.tfstate. */
export function defaultStatePath(id: string): string {
  return `../../../terraform-state/${id}.tfstate`;
}

export interface BackupStackProps {
  readonly policy: BackupPolicyInput;
  /**
   * Where the Terraform state lives. A local path is as Terraform sees it from the stack's working
   * folder (cdktf.out/stacks/<id>); synth computes it from backup-policy.config.json.
   * @default local "../../../terraform-state/<id>.tfstate": <project>/terraform-state/, outside the
   * output folder synth replaces (a relative path, so the JSON embeds no absolute path)
   */
  readonly backend?: StackBackend;
}

/**
 * The SSH connection to the Proxmox host, from Terraform variables (TF_VAR_host_ssh_* or -var):
 * no private key or key path in code. An empty key path means ssh-agent. The host key defaults to
 * the policy's host.hostKey; an empty one is refused at plan time unless the policy declares
 * host.acceptUnknownHostKey (then Terraform does not verify the host).
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
    default: plan.hostKey ?? '',
    description: 'Public host key of the Proxmox host ("<type> <base64>", as ssh-keyscan prints it), checked on connect.',
  });
  if (!plan.acceptUnknownHostKey) {
    // install.sh runs as root on whatever answers: refuse before connecting (at plan time) unless
    // a key is pinned. Op.gte with 1: cdktf 0.21 renders a falsy literal operand as undefined.
    hostKey.addValidation({
      condition: Op.gte(Fn.lengthOf(hostKey.stringValue), 1),
      errorMessage: `No SSH host key is pinned for ${plan.address}: set host.hostKey in the policy or TF_VAR_host_ssh_host_key (ssh-keyscan -t ed25519 ${plan.address}), or declare host.acceptUnknownHostKey: true to deploy unchecked.`,
    });
  }
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
    addBackend(this, props.backend ?? { type: 'local', path: defaultStatePath(id) });
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
