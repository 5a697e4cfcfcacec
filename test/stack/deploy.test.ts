import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../policy/io/scripts';

/**
 * Deploying as a user would: the project config tells `backup-policy synth` and `cdktf` which
 * policy and which state; the state survives one deploy after another; an old state inside the
 * output is rescued; a mistyped stack is refused. Terraform is the real 1.11 binary: it cannot
 * reach the provider registry here, so the applies run a probe configuration in the synthesized
 * stack's folder with the stack's own backend block and Terraform's built-in terraform_data.
 */
const root = packageRoot();
const cli = join(root, 'dist/cli/main.js');
const tfEnv = { ...process.env, TF_IN_AUTOMATION: '1', TF_CLI_CONFIG_FILE: '/dev/null', CHECKPOINT_DISABLE: '1' };

let project: string;
beforeEach(() => {
  project = mkdtempSync(join(tmpdir(), 'bp-deploy-'));
});
afterEach(() => rmSync(project, { recursive: true, force: true }));

function synth(args: string[] = [], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [cli, 'synth', ...args], { cwd: project, encoding: 'utf8', env: { ...process.env, ...env } });
}

function stackJson(stack = 'homelab', out = 'cdktf.out'): any {
  return JSON.parse(readFileSync(join(project, out, 'stacks', stack, 'cdk.tf.json'), 'utf8'));
}

/** terraform init + apply (or plan) of a probe with the synthesized backend, in the stack's folder. */
function terraformProbe(command: 'apply' | 'plan', stack = 'homelab'): number {
  const dir = join(project, 'cdktf.out', 'stacks', stack);
  const backend = stackJson(stack).terraform.backend;
  renameSync(join(dir, 'cdk.tf.json'), join(dir, 'cdk.tf.json.synthesized'));
  writeFileSync(join(dir, 'probe.tf.json'), JSON.stringify({ terraform: { backend }, resource: { terraform_data: { probe: { input: 'deployed' } } } }));
  execFileSync('terraform', ['init', '-input=false', '-no-color'], { cwd: dir, env: tfEnv, stdio: 'pipe', maxBuffer: 1 << 30 });
  const args = command === 'apply' ? ['apply', '-auto-approve', '-input=false', '-no-color'] : ['plan', '-detailed-exitcode', '-input=false', '-no-color'];
  return spawnSync('terraform', args, { cwd: dir, env: tfEnv, stdio: 'pipe', maxBuffer: 1 << 30 }).status ?? -1;
}

test('the Terraform state lives outside the synth output and survives a second deploy', () => {
  expect(synth().status).toBe(0);
  expect(stackJson().terraform.backend).toEqual({ local: { path: '../../../terraform-state/homelab.tfstate' } });
  expect(terraformProbe('apply')).toBe(0);
  const state = join(project, 'terraform-state', 'homelab.tfstate');
  expect(JSON.parse(readFileSync(state, 'utf8')).resources.map((r: any) => r.type)).toEqual(['terraform_data']);
  // cdktf diff/deploy synthesize first: the output is replaced, the state is not.
  expect(synth().status).toBe(0);
  expect(existsSync(state)).toBe(true);
  expect(terraformProbe('plan')).toBe(0); // 0: nothing to create, the first deploy is remembered
});

test('a state an older version left inside the output is moved out before the output is replaced', () => {
  const legacyDir = join(project, 'cdktf.out', 'stacks', 'homelab');
  mkdirSync(legacyDir, { recursive: true });
  writeFileSync(join(project, 'cdktf.out', 'manifest.json'), '{}');
  writeFileSync(join(legacyDir, 'terraform.homelab.tfstate'), '{"serial": 7}');
  writeFileSync(join(legacyDir, 'terraform.homelab.tfstate.backup'), '{"serial": 6}');
  const r = synth();
  expect(r.status).toBe(0);
  expect(r.stderr).toContain('moved the Terraform state of stack homelab out of the synth output');
  expect(readFileSync(join(project, 'terraform-state', 'homelab.tfstate'), 'utf8')).toBe('{"serial": 7}');
  expect(readFileSync(join(project, 'terraform-state', 'homelab.tfstate.backup'), 'utf8')).toBe('{"serial": 6}');
  expect(existsSync(join(legacyDir, 'terraform.homelab.tfstate'))).toBe(false);
});

test('two states (old location and new) stop the synth with the commands, and nothing changes', () => {
  const legacyDir = join(project, 'cdktf.out', 'stacks', 'homelab');
  mkdirSync(legacyDir, { recursive: true });
  mkdirSync(join(project, 'terraform-state'));
  writeFileSync(join(project, 'cdktf.out', 'manifest.json'), '{}');
  writeFileSync(join(legacyDir, 'terraform.homelab.tfstate'), 'old');
  writeFileSync(join(project, 'terraform-state', 'homelab.tfstate'), 'new');
  const r = synth();
  expect(r.status).toBe(1);
  expect(r.stderr).toContain('two Terraform states for stack homelab');
  expect(r.stderr).not.toMatch(/\n\s+at /); // one message, no stack trace
  expect(readFileSync(join(legacyDir, 'terraform.homelab.tfstate'), 'utf8')).toBe('old');
  expect(readFileSync(join(project, 'terraform-state', 'homelab.tfstate'), 'utf8')).toBe('new');
});

test('--stack selects a stack of the project; a typo fails listing them and writes nothing', () => {
  writeFileSync(join(project, 'backup-policy.config.json'), JSON.stringify({ stacks: { homelab: {}, lab: { policy: join(root, 'examples/immich.yaml') } } }));
  const typo = synth(['--stack', 'homelba']);
  expect(typo.status).toBe(1);
  expect(typo.stderr).toContain('--stack: no stack "homelba"');
  expect(typo.stderr).toContain('allowed: homelab, lab');
  expect(existsSync(join(project, 'cdktf.out'))).toBe(false);
  expect(synth(['--stack', 'lab']).status).toBe(0);
  expect(stackJson('lab').terraform.backend).toEqual({ local: { path: '../../../terraform-state/lab.tfstate' } });
  expect(existsSync(join(project, 'cdktf.out', 'stacks', 'homelab'))).toBe(false);
});

test('remote backends carry no credentials: Terraform reads them from its environment', () => {
  const backends = {
    cluster: { backend: { type: 'kubernetes', secretSuffix: 'backup-policy', namespace: 'terraform' } },
    minio: { backend: { type: 's3', bucket: 'tfstate', key: 'backup-policy/minio.tfstate', endpoint: 'https://minio.lan:9000' } },
    postgres: { backend: { type: 'pg' } },
  };
  writeFileSync(join(project, 'backup-policy.config.json'), JSON.stringify({ stacks: backends }));
  expect(synth().status).toBe(0);
  expect(stackJson('cluster').terraform.backend).toEqual({ kubernetes: { secret_suffix: 'backup-policy', namespace: 'terraform' } });
  expect(stackJson('minio').terraform.backend).toEqual({
    s3: {
      bucket: 'tfstate', key: 'backup-policy/minio.tfstate', region: 'us-east-1', endpoints: { s3: 'https://minio.lan:9000' }, use_path_style: true,
      skip_credentials_validation: true, skip_region_validation: true, skip_requesting_account_id: true, skip_s3_checksum: true, use_lockfile: true,
    },
  });
  expect(stackJson('postgres').terraform.backend).toEqual({ pg: { schema_name: 'terraform_remote_state' } });
});

test('a local state path inside the output folder is refused', () => {
  writeFileSync(join(project, 'backup-policy.config.json'), JSON.stringify({ stacks: { homelab: { backend: { type: 'local', path: 'cdktf.out/state.tfstate' } } } }));
  const r = synth();
  expect(r.status).toBe(1);
  expect(r.stderr).toContain('is inside the output folder');
});

test('npx cdktf synth (the real CLI) synthesizes the policy the project config names', () => {
  writeFileSync(join(project, 'backup-policy.config.json'), JSON.stringify({ stacks: { homelab: { policy: join(root, 'examples/immich.yaml') } } }));
  const out = join(project, 'cdktf-cli.out');
  execFileSync('npx', ['--no-install', 'cdktf', 'synth', '--output', out], {
    cwd: root,
    env: { ...process.env, BACKUP_POLICY_CONFIG: join(project, 'backup-policy.config.json'), CI: '1', CHECKPOINT_DISABLE: '1' },
    stdio: 'pipe',
    timeout: 240_000,
  });
  const stack = JSON.parse(readFileSync(join(out, 'stacks', 'homelab', 'cdk.tf.json'), 'utf8'));
  const cronJobs = Object.values<any>(stack.resource.kubernetes_cron_job_v1).map((c) => c.metadata.name);
  // The user's policy, not the bundled homelab (whose postgresql-full-backup would target the author's servers).
  expect(cronJobs.sort()).toEqual(['immich-db-per-db-backup', 'immich-redis-backup']);
  expect(stack.terraform.backend.local.path).toBe(`../../../terraform-state/homelab.tfstate`);
}, 300_000);
