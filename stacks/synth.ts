import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { App } from 'cdktf';
import type { BackupPolicyInput } from '../policy/parse/policy-schema';
import { BackupStack } from './backup-stack';

export interface SynthOptions {
  policy: BackupPolicyInput;
  outDir: string;
  stackId?: string;
}

/**
 * Synthesizes into a sibling temp folder and swaps it in only when complete: a failure at any
 * point leaves the previous cdktf.out untouched, never half-written. The stack parses the policy
 * so an invalid one fails before anything is created.
 */
export function synthPolicy(options: SynthOptions): string {
  const outDir = resolve(options.outDir);
  const staging = `${outDir}.staging-${process.pid}`;
  const previous = `${outDir}.previous-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  try {
    const app = new App({ outdir: staging });
    // Parses the policy (once): an invalid one throws here, before anything is created.
    new BackupStack(app, options.stackId ?? 'homelab', { policy: options.policy });
    mkdirSync(dirname(outDir), { recursive: true });
    app.synth();
    if (existsSync(outDir)) renameSync(outDir, previous);
    renameSync(staging, outDir);
    rmSync(previous, { recursive: true, force: true });
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(outDir) && existsSync(previous)) renameSync(previous, outDir);
    throw error;
  }
  return outDir;
}
