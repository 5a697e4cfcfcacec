import { Construct } from 'constructs';
import { LocalBackend, TerraformBackend, type TerraformRemoteState } from 'cdktf';

/**
 * Where a stack keeps its Terraform state, as Terraform sees it from the stack's working folder
 * (cdktf.out/stacks/<id>). Never inside that folder: synth replaces it, and `cdktf diff/deploy`
 * synthesize first, so a state kept there was deleted by every deploy.
 */
export type StackBackend =
  | { type: 'local'; path: string }
  | { type: 'kubernetes'; secretSuffix: string; namespace: string }
  | { type: 's3'; bucket: string; key: string; region: string; endpoint?: string }
  | { type: 'pg'; schemaName: string };

/**
 * A backend whose settings are written as Terraform takes them. Credentials are never among them:
 * Terraform reads them from its environment (KUBE_CONFIG_PATH, AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY, PG_CONN_STR), so they stay out of the synthesized JSON and the PR diff.
 */
class PlainBackend extends TerraformBackend {
  constructor(
    scope: Construct,
    name: string,
    private readonly attributes: Record<string, unknown>,
  ) {
    super(scope, 'backend', name);
  }

  protected override synthesizeAttributes(): Record<string, unknown> {
    return this.attributes;
  }

  protected override synthesizeHclAttributes(): Record<string, unknown> {
    return this.attributes;
  }

  getRemoteStateDataSource(): TerraformRemoteState {
    throw new Error(`reading another stack's ${this.name} state is not supported by backup-policy stacks`);
  }
}

export function addBackend(scope: Construct, backend: StackBackend): void {
  switch (backend.type) {
    case 'local':
      new LocalBackend(scope, { path: backend.path });
      return;
    case 'kubernetes':
      new PlainBackend(scope, 'kubernetes', { secret_suffix: backend.secretSuffix, namespace: backend.namespace });
      return;
    case 's3':
      new PlainBackend(scope, 's3', {
        bucket: backend.bucket,
        key: backend.key,
        region: backend.region,
        // S3-compatible servers (MinIO, Garage, a NAS) have no AWS account, region or checksums.
        ...(backend.endpoint
          ? { endpoints: { s3: backend.endpoint }, use_path_style: true, skip_credentials_validation: true, skip_region_validation: true, skip_requesting_account_id: true, skip_s3_checksum: true }
          : {}),
        use_lockfile: true,
      });
      return;
    case 'pg':
      new PlainBackend(scope, 'pg', { schema_name: backend.schemaName });
      return;
  }
}
