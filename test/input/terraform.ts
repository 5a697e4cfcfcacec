import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * What the real Terraform makes of JSON strings: each becomes an output of a provider-less
 * configuration, which applies offline (the provider registry is unreachable here).
 */
export function terraformEvaluate(values: Record<string, string>): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'bp-tf-'));
  const env = { ...process.env, TF_IN_AUTOMATION: '1', TF_CLI_CONFIG_FILE: '/dev/null', CHECKPOINT_DISABLE: '1' };
  try {
    const output = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { value: v }]));
    writeFileSync(join(dir, 'main.tf.json'), JSON.stringify({ output }));
    execFileSync('terraform', ['init', '-input=false', '-no-color'], { cwd: dir, env, stdio: 'pipe', maxBuffer: 1 << 30 });
    execFileSync('terraform', ['apply', '-auto-approve', '-input=false', '-no-color'], { cwd: dir, env, stdio: 'pipe', maxBuffer: 1 << 30 });
    const outputs = JSON.parse(execFileSync('terraform', ['output', '-json'], { cwd: dir, env, maxBuffer: 1 << 30 }).toString());
    return Object.fromEntries(Object.entries<{ value: string }>(outputs).map(([k, v]) => [k, v.value]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
