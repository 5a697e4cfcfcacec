import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot, scriptsDir } from '../../policy/io/scripts';
import { planPolicy } from '../../policy/plan/plan';
import { homelabPolicy } from '../../stacks/homelab-policy';

/**
 * The escape hatch from archived CDKTF: `cdktf synth --hcl` writes plain Terraform HCL. Script
 * text goes into heredocs there, which Terraform also interpolates; this proves the HCL still
 * hands the pod the script bytes (plus one trailing newline, see below).
 */
const root = packageRoot();
const env = { ...process.env, TF_CLI_CONFIG_FILE: '/dev/null', CHECKPOINT_DISABLE: '1', CDKTF_DISABLE_PLUGIN_CACHE_ENV: '1', CI: '1' };

test('cdktf synth --hcl output carries every script unchanged', () => {
  const out = mkdtempSync(join(tmpdir(), 'bp-hcl-'));
  try {
    execFileSync(join(root, 'node_modules/.bin/cdktf'), ['synth', '--hcl', '--output', out], {
      cwd: root,
      env: { ...env, CDKTF_APP: undefined } as NodeJS.ProcessEnv,
      stdio: 'pipe',
    });
    const hcl = readFileSync(join(out, 'stacks/homelab/cdk.tf'), 'utf8');
    // The plan's backup jobs and drills; every script of every ConfigMap, as the plan lists them.
    const plan = planPolicy(homelabPolicy);
    expect((hcl.match(/^resource "kubernetes_cron_job_v1"/gm) ?? []).length).toBe(plan.services.reduce((n, s) => n + s.jobs.length + s.drills.length, 0));
    const heredocs = [...hcl.matchAll(/"([\w.-]+\.sh)"\s*=\s*<<EOF\n([\s\S]*?)\nEOF\n/g)];
    expect(heredocs.length).toBe(plan.services.reduce((n, s) => n + s.scripts.files.length, 0));
    // Evaluate the same heredocs as Terraform outputs, offline, and compare with the files.
    const tf = mkdtempSync(join(tmpdir(), 'bp-hcl-tf-'));
    try {
      writeFileSync(join(tf, 'main.tf'), heredocs.map(([, , body], i) => `output "s${i}" {\n  value = <<EOF\n${body}\nEOF\n}\n`).join('\n'));
      execFileSync('terraform', ['init', '-input=false', '-no-color'], { cwd: tf, env, stdio: 'pipe', maxBuffer: 1 << 30 });
      execFileSync('terraform', ['apply', '-auto-approve', '-input=false', '-no-color'], { cwd: tf, env, stdio: 'pipe', maxBuffer: 1 << 30 });
      const outputs = JSON.parse(execFileSync('terraform', ['output', '-json'], { cwd: tf, env, maxBuffer: 1 << 30 }).toString());
      heredocs.forEach(([, file], i) => {
        // cdktf's HCL writer closes each heredoc after the text's own final newline plus one
        // more, so Terraform yields exactly one extra trailing newline (harmless to bash).
        // Anything else different would be an escaping bug.
        const expected = `${readFileSync(join(scriptsDir(), file), 'utf8')}\n`;
        expect({ file, equal: outputs[`s${i}`].value === expected }).toEqual({ file, equal: true });
      });
    } finally {
      rmSync(tf, { recursive: true, force: true });
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 180000);
