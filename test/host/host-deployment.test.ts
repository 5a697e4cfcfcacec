/**
 * The null-provider deployment of the host bundle: content-hash triggers, provisioners, a
 * connection from Terraform variables only, and a round trip through the real Terraform binary
 * (offline: provider-less outputs) proving the host receives each file byte for byte and the
 * connection expressions evaluate as intended.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planPolicy } from '../../policy/plan/plan';
import { renderHostBundle } from '../../policy/render/host-bundle';
import { readScript } from '../../policy/io/scripts';
import { Testing } from 'cdktf';
import { BackupStack } from '../../stacks/backup-stack';
import { homelabPolicy } from '../../stacks/homelab-policy';
import { samplePolicy } from '../support/policies';
import { strings, synthStack } from '../support/synth';

const stack = synthStack(homelabPolicy);
const bundle = renderHostBundle(planPolicy(homelabPolicy).host!, readScript);
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const nullResources = (s: any) => Object.values<any>(s.resource?.null_resource ?? {});

function terraformEvaluate(config: Record<string, unknown> | string, vars: Record<string, string> = {}): Record<string, unknown> {
  const dir = mkdtempSync(join(tmpdir(), 'bp-tf-host-'));
  const env = { ...process.env, TF_IN_AUTOMATION: '1', TF_CLI_CONFIG_FILE: '/dev/null', CHECKPOINT_DISABLE: '1' };
  try {
    if (typeof config === 'string') writeFileSync(join(dir, 'main.tf'), config);
    else writeFileSync(join(dir, 'main.tf.json'), JSON.stringify(config));
    execFileSync('terraform', ['init', '-input=false', '-no-color'], { cwd: dir, env, stdio: 'pipe', maxBuffer: 1 << 30 });
    const varArgs = Object.entries(vars).flatMap(([k, v]) => ['-var', `${k}=${v}`]);
    execFileSync('terraform', ['apply', '-auto-approve', '-input=false', '-no-color', ...varArgs], { cwd: dir, env, stdio: 'pipe', maxBuffer: 1 << 30 });
    const outputs = JSON.parse(execFileSync('terraform', ['output', '-json'], { cwd: dir, env, maxBuffer: 1 << 30 }).toString());
    return Object.fromEntries(Object.entries<any>(outputs).map(([k, v]) => [k, v.value]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the host deployment', () => {
  test('a policy without a host section adds no null provider, resource or variable', () => {
    const plain = synthStack(samplePolicy(), 'plain');
    expect(plain.provider.null).toBeUndefined();
    expect(nullResources(plain)).toEqual([]);
    expect(plain.variable).toBeUndefined();
  });

  test('one null_resource whose triggers are the sha256 of every bundle file', () => {
    expect(stack.provider.null).toEqual([{}]);
    const [resource] = nullResources(stack);
    expect(nullResources(stack).length).toBe(1);
    const expected: Record<string, string> = {};
    for (const file of bundle) expected[`sha256_${file.name}`] = sha(file.content);
    expect(resource.triggers).toEqual(expect.objectContaining(expected));
    expect(resource.triggers.bundle_sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  test('provisioners: a fresh staging folder, every file uploaded, then install.sh', () => {
    const [resource] = nullResources(stack);
    const steps = resource.provisioner.map((p: any) => Object.keys(p)[0]);
    expect(steps).toEqual(['remote-exec', ...bundle.map(() => 'file'), 'remote-exec']);
    expect(resource.provisioner[0]['remote-exec'].inline).toEqual(['rm -rf /root/.backup-policy-bundle && mkdir -m 0700 -p /root/.backup-policy-bundle']);
    expect(resource.provisioner.slice(1, -1).map((p: any) => p.file.destination)).toEqual(bundle.map((f) => `/root/.backup-policy-bundle/${f.name}`));
    expect(resource.provisioner.at(-1)['remote-exec'].inline).toEqual(['bash /root/.backup-policy-bundle/install.sh']);
  });

  test('the connection comes from Terraform variables, with no secret and no key in the output', () => {
    const [resource] = nullResources(stack);
    expect(resource.connection).toEqual(
      expect.objectContaining({ type: 'ssh', host: '${var.host_ssh_host}', user: '${var.host_ssh_user}', port: '${var.host_ssh_port}' }),
    );
    expect(resource.connection.private_key).toContain('file(var.host_ssh_private_key_path)');
    expect(Object.fromEntries(Object.entries<any>(stack.variable).map(([k, v]) => [k, v.default]))).toEqual({
      host_ssh_host: '192.168.1.127',
      host_ssh_port: 22,
      host_ssh_user: 'root',
      host_ssh_private_key_path: '',
      host_ssh_host_key: '',
    });
    const keyShaped = /-----BEGIN [A-Z ]*PRIVATE KEY-----|ssh-ed25519 AAAA|ssh-rsa AAAA/;
    expect([...strings(stack.variable)].filter(([, v]) => keyShaped.test(v))).toEqual([]);
    expect([...strings(resource.connection)].filter(([, v]) => keyShaped.test(v))).toEqual([]);
  });

  test('a policy change re-triggers the deployment through the files it changes, and only those', () => {
    const changed = synthStack({ ...homelabPolicy, host: { ...homelabPolicy.host!, snapshots: { ...homelabPolicy.host!.snapshots, retention: '10d' } } }, 'changed');
    const [before] = nullResources(stack);
    const [after] = nullResources(changed);
    const differing = Object.keys(before.triggers).filter((k) => before.triggers[k] !== after.triggers[k]);
    expect(differing.sort()).toEqual(['bundle_sha256', 'sha256_host.env']);
  });

  test('Terraform hands the host every file byte for byte', () => {
    const [resource] = nullResources(stack);
    const output: Record<string, { value: string }> = {};
    resource.provisioner.slice(1, -1).forEach((p: any, i: number) => (output[`f${i}`] = { value: p.file.content }));
    const evaluated = terraformEvaluate({ output });
    bundle.forEach((file, i) => expect({ file: file.name, equal: evaluated[`f${i}`] === file.content }).toEqual({ file: file.name, equal: true }));
  });

  test('the HCL escape hatch (cdktf synth --hcl) carries every file byte for byte too', () => {
    const hcl: string = Testing.synthHcl(new BackupStack(Testing.app(), 'homelab', { policy: homelabPolicy }));
    const contents = [...hcl.matchAll(/^\s*content\s*=\s*(".*")$/gm)].map((m) => m[1]);
    expect(contents.length).toBe(bundle.length);
    const evaluated = terraformEvaluate(contents.map((c, i) => `output "f${i}" {\n  value = ${c}\n}\n`).join('\n'));
    bundle.forEach((file, i) => expect({ file: file.name, equal: evaluated[`f${i}`] === file.content }).toEqual({ file: file.name, equal: true }));
  });

  test('the connection expressions: a host key is required, ssh-agent without a key path, the key file when given', () => {
    const [resource] = nullResources(stack);
    const c = resource.connection;
    const config = {
      variable: stack.variable,
      output: { agent: { value: c.agent }, private_key: { value: c.private_key }, host_key: { value: c.host_key }, host: { value: c.host }, port: { value: c.port } },
    };
    // No host key pinned: Terraform refuses before it would connect (install.sh runs as root).
    expect(() => terraformEvaluate(config)).toThrow(/No SSH host key is pinned for 192\.168\.1\.127/);
    expect(terraformEvaluate(config, { host_ssh_host_key: 'ssh-ed25519 AAAApinned' })).toEqual({ agent: true, host_key: 'ssh-ed25519 AAAApinned', host: '192.168.1.127', port: 22 });
    const dir = mkdtempSync(join(tmpdir(), 'bp-key-'));
    try {
      writeFileSync(join(dir, 'id'), 'test key material\n');
      const given = terraformEvaluate(config, { host_ssh_private_key_path: join(dir, 'id'), host_ssh_host_key: 'ssh-ed25519 AAAAtest', host_ssh_host: 'pve.lan' });
      expect(given).toEqual({ agent: false, private_key: 'test key material\n', host_key: 'ssh-ed25519 AAAAtest', host: 'pve.lan', port: 22 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the SSH host key', () => {
  const withHost = (edit: (host: any) => void) => {
    const policy = structuredClone(homelabPolicy) as any;
    edit(policy.host);
    return synthStack(policy, 'keyed');
  };
  const evaluate = (synthesized: any, vars: Record<string, string> = {}) =>
    terraformEvaluate({ variable: synthesized.variable, output: { host_key: { value: nullResources(synthesized)[0].connection.host_key } } }, vars);

  test('a key pinned in the policy is the default Terraform checks against', () => {
    const pinned = withHost((h) => (h.hostKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPinnedKeyOfTheHost'));
    expect(pinned.variable.host_ssh_host_key.default).toBe('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPinnedKeyOfTheHost');
    expect(evaluate(pinned)).toEqual({ host_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPinnedKeyOfTheHost' });
  });

  test('deploying unchecked needs the policy to say so, and then nothing is checked', () => {
    const unchecked = withHost((h) => (h.acceptUnknownHostKey = true));
    expect(unchecked.variable.host_ssh_host_key.validation).toBeUndefined();
    expect(evaluate(unchecked)).toEqual({});
  });

  test('a malformed key, or a key together with acceptUnknownHostKey, is refused with its path', () => {
    expect(() => withHost((h) => (h.hostKey = 'not a key'))).toThrow(/host\.hostKey: not an SSH public host key/);
    expect(() => withHost((h) => Object.assign(h, { hostKey: 'ssh-ed25519 AAAAx', acceptUnknownHostKey: true }))).toThrow(/host\.acceptUnknownHostKey: a pinned hostKey and acceptUnknownHostKey contradict/);
  });
});
