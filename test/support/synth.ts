import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthPolicy } from '../../stacks/synth';
import type { BackupPolicyInput } from '../../policy/parse/policy-schema';

/** Synthesizes through the same path as `backup-policy synth` and returns the stack's Terraform JSON. */
export function synthStack(policy: BackupPolicyInput, stackId = 'homelab'): any {
  const dir = mkdtempSync(join(tmpdir(), 'bp-synth-'));
  try {
    synthPolicy({ policy, outDir: join(dir, 'out'), stackId });
    return JSON.parse(readFileSync(join(dir, 'out', 'stacks', stackId, 'cdk.tf.json'), 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every string in a JSON value, with its path. */
export function* strings(value: unknown, path = ''): Generator<[string, string]> {
  if (typeof value === 'string') yield [path, value];
  else if (Array.isArray(value)) for (const [i, v] of value.entries()) yield* strings(v, `${path}[${i}]`);
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) yield* strings(v, path ? `${path}.${k}` : k);
}
