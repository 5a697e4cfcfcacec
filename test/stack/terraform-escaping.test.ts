import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { homelabPolicy } from '../../stacks/homelab-policy';
import { planPolicy } from '../../policy/plan/plan';
import { scriptsDir } from '../../policy/io/scripts';
import { escapeTerraformTemplate } from '../../policy/render/terraform-escape';
import { synthStack } from '../support/synth';

/**
 * Terraform interpolates `${...}` and `%{...}` in every JSON string. These tests hand the
 * synthesized ConfigMap data to the real Terraform binary (as outputs of a provider-less
 * configuration, which applies offline) and compare what comes back with the script files.
 */
function terraformEvaluate(values: Record<string, string>): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'bp-tf-'));
  const env = { ...process.env, TF_IN_AUTOMATION: '1', TF_CLI_CONFIG_FILE: '/dev/null', CHECKPOINT_DISABLE: '1' };
  try {
    const output = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { value: v }]));
    writeFileSync(join(dir, 'main.tf.json'), JSON.stringify({ output }));
    execFileSync('terraform', ['init', '-input=false', '-no-color'], { cwd: dir, env, stdio: 'pipe', maxBuffer: 1 << 30 });
    execFileSync('terraform', ['apply', '-auto-approve', '-input=false', '-no-color'], { cwd: dir, env, stdio: 'pipe', maxBuffer: 1 << 30 });
    const outputs = JSON.parse(execFileSync('terraform', ['output', '-json'], { cwd: dir, env, maxBuffer: 1 << 30 }).toString());
    return Object.fromEntries(Object.entries<any>(outputs).map(([k, v]) => [k, v.value]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the Terraform binary is installed (these tests must not be skipped)', () => {
  expect(execFileSync('terraform', ['version', '-json']).toString()).toContain('terraform_version');
});

test('what Terraform hands the pod equals each .sh file byte for byte', () => {
  const stack = synthStack(homelabPolicy);
  const rendered: Record<string, string> = {};
  for (const map of Object.values<any>(stack.resource.kubernetes_config_map_v1)) {
    for (const [file, text] of Object.entries<string>(map.data)) rendered[`${map.metadata.name}__${file.replace(/\W/g, '_')}`] = text;
  }
  const evaluated = terraformEvaluate(rendered);
  let compared = 0;
  for (const map of Object.values<any>(stack.resource.kubernetes_config_map_v1)) {
    for (const file of Object.keys(map.data)) {
      const key = `${map.metadata.name}__${file.replace(/\W/g, '_')}`;
      expect({ file, equal: evaluated[key] === readFileSync(join(scriptsDir(), file), 'utf8') }).toEqual({ file, equal: true });
      compared += 1;
    }
  }
  // Every script of every service's ConfigMap, as the plan lists them (jobs, restores, drills, libraries).
  expect(compared).toBe(planPolicy(homelabPolicy).services.reduce((n, s) => n + s.scripts.files.length, 0));
  expect(compared).toBeGreaterThan(30);
});

test('the escape survives the sequences that broke the old system', () => {
  const tricky = ['$$result', '${HOME}', '$${HOME}', '$$${x}', '%{ if a }b%{ endif }', '%%{', 'x=$((1+2))', '${#arr[@]}', 'ends with $', 'ends with %', '100%{', 'a${'];
  const values = Object.fromEntries(tricky.map((t, i) => [`t${i}`, escapeTerraformTemplate(t)]));
  const evaluated = terraformEvaluate(values);
  expect(tricky.map((t, i) => evaluated[`t${i}`])).toEqual(tricky);
});
