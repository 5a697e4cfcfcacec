import { Construct } from 'constructs';
import { Fn, type FileProvisioner, type RemoteExecProvisioner, type SSHProvisionerConnection } from 'cdktf';
import { Resource } from '@cdktf/provider-null/lib/resource';
import type { HostPlan } from '../policy/plan/host-plan';
import { bundleHash, renderHostBundle, sha256, type BundleFile } from '../policy/render/host-bundle';
import { readScript } from '../policy/io/scripts';

export interface HostDeploymentProps {
  readonly plan: HostPlan;
  /**
   * How Terraform reaches the host. Built from Terraform variables by the stack: connection
   * details never live in code or in the policy (beyond the host's address as a default).
   */
  readonly connection: SSHProvisionerConnection;
}

/** Root-only staging directory on the host; emptied and refilled on every deployment. */
export const HOST_STAGING_DIR = '/root/.backup-policy-bundle';

/**
 * Deploys the host bundle (scripts, host.env, units, install.sh) with the null provider: one
 * null_resource whose triggers are the content hashes of the bundle, so any change to any file
 * replaces it and re-runs the provisioners (upload, then install.sh: daemon-reload, timers enabled,
 * tracker restarted when its files changed). `cdktf diff` names the files that changed.
 */
export class HostDeployment extends Construct {
  readonly files: BundleFile[];
  readonly resource: Resource;

  constructor(scope: Construct, id: string, props: HostDeploymentProps) {
    super(scope, id);
    this.files = renderHostBundle(props.plan, readScript);
    const triggers: Record<string, string> = { bundle_sha256: bundleHash(this.files) };
    for (const file of this.files) triggers[`sha256_${file.name}`] = sha256(file.content);
    const upload: FileProvisioner[] = this.files.map((file) => ({
      type: 'file',
      // base64, decoded by Terraform: the host gets the exact bytes whatever the text holds
      // (`${`, `%{`), and `cdktf synth --hcl` keeps it on one line (its HCL writer mangles
      // multi-line provisioner strings, which it does not write as heredocs).
      content: Fn.base64decode(Buffer.from(file.content, 'utf8').toString('base64')),
      destination: `${HOST_STAGING_DIR}/${file.name}`,
    }));
    const prepare: RemoteExecProvisioner = {
      type: 'remote-exec',
      inline: [`rm -rf ${HOST_STAGING_DIR} && mkdir -m 0700 -p ${HOST_STAGING_DIR}`],
    };
    const install: RemoteExecProvisioner = { type: 'remote-exec', inline: [`bash ${HOST_STAGING_DIR}/install.sh`] };
    this.resource = new Resource(this, 'bundle', {
      triggers,
      connection: props.connection,
      provisioners: [prepare, ...upload, install],
    });
  }
}
