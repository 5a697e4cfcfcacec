import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { App } from 'cdktf';
import { packageRoot } from '../policy/io/scripts';
import type { BackupPolicyInput } from '../policy/parse/policy-schema';
import { BackupStack } from './backup-stack';

export interface SynthOptions {
  policy: BackupPolicyInput;
  outDir: string;
  stackId?: string;
}

/**
 * Synthesizes into a sibling temp folder and swaps it in only when complete: a failure at any
 * point leaves the previous cdktf.out untouched, never half-written. The stack parses the policy,
 * so an invalid one fails before the output folder is looked at.
 */
export function synthPolicy(options: SynthOptions): string {
  const outDir = resolve(options.outDir);
  withStaging(outDir, (staging) => {
    const app = new App({ outdir: staging });
    // Parses the policy (once): an invalid one throws here, and only the staging folder goes.
    new BackupStack(app, options.stackId ?? 'homelab', { policy: options.policy });
    app.synth();
  });
  return outDir;
}

/**
 * Every output folder synth writes holds this file. Synth replaces its output folder as a whole,
 * so it only ever replaces a folder carrying the marker: `--out .` once deleted the user's policy
 * file sitting next to the output.
 */
export const SYNTH_MARKER = '.backup-policy-synth';
const MARKER_TEXT = 'Written by backup-policy synth. The next synth replaces this whole folder: keep nothing of your own in it.\n';

/**
 * The output folder holds something synth did not write; nothing was changed. Recognisable by
 * name, so the CLI can report it without loading this module (and cdktf) up front.
 */
export class OutputFolderError extends Error {
  override name = 'OutputFolderError';
}

/**
 * Resolves the output folder and checks synth may replace it: missing, empty, or an earlier
 * synth's output (the marker). Leftovers of crashed synths beside it are cleaned up first.
 */
export function prepareOutDir(dir: string): string {
  const outDir = resolve(dir);
  const fromOut = relative(outDir, process.cwd());
  if (fromOut === '' || (!fromOut.startsWith('..') && !isAbsolute(fromOut))) {
    throw new OutputFolderError(`${outDir} is the current folder or one above it; synth replaces its output folder as a whole. Pass --out a folder of its own, such as cdktf.out.`);
  }
  mkdirSync(dirname(outDir), { recursive: true });
  removeStaleSiblings(outDir);
  if (!existsSync(outDir)) return outDir;
  if (!lstatSync(outDir).isDirectory()) {
    throw new OutputFolderError(`${outDir} exists and is not a folder; synth writes a folder there. Pass --out a new folder, or move ${outDir} away.`);
  }
  const entries = readdirSync(outDir);
  if (entries.length === 0 || entries.includes(SYNTH_MARKER)) return outDir;
  const shown = entries.slice(0, 3).join(', ') + (entries.length > 3 ? ', ...' : '');
  let message =
    `${outDir} holds files synth did not write (${shown}) and no ${SYNTH_MARKER}. Synth replaces its output folder as a whole, ` +
    'so it writes only into a new or empty folder or its own earlier output. Nothing was changed: pass --out a new folder, or move these files away.';
  if (entries.includes('manifest.json') && entries.includes('stacks')) {
    message +=
      ` If it is the output of a synth older than the marker, check it holds nothing to keep (a terraform.*.tfstate under stacks/ is ` +
      `Terraform state: move it out first), then mark it: touch ${join(outDir, SYNTH_MARKER)}`;
  }
  throw new OutputFolderError(message);
}

let stagingSerial = 0;

/**
 * Runs `write` on a fresh staging folder beside `outDir` (created with the marker), checks that
 * `outDir` may be replaced (prepareOutDir), then swaps the staging folder in (the old output moved
 * aside, the new one renamed in, the old one removed). On an exception, a refused output folder
 * included, the staging folder goes and the old output stays. A signal kills this process in the
 * middle of synchronous code, where no handler of its own can run, so a guard process
 * (stacks/synth-guard.sh) started first waits for this one to end and removes what it left; names
 * carry pid and a serial so a guard never touches a later synth's folders.
 */
export function withStaging(outDir: string, write: (staging: string) => void): void {
  const suffix = `${process.pid}-${++stagingSerial}`;
  const staging = `${outDir}.staging-${suffix}`;
  const previous = `${outDir}.previous-${suffix}`;
  mkdirSync(dirname(outDir), { recursive: true });
  const guard = spawn('bash', [join(packageRoot(), 'stacks/synth-guard.sh'), staging, previous, outDir], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  // Without bash the guard is missing, and the next synth's stale-sibling cleanup still applies.
  guard.on('error', () => undefined);
  guard.unref();
  try {
    mkdirSync(staging);
    writeFileSync(join(staging, SYNTH_MARKER), MARKER_TEXT);
    write(staging);
    prepareOutDir(outDir);
    if (existsSync(outDir)) renameSync(outDir, previous);
    renameSync(staging, outDir);
    rmSync(previous, { recursive: true, force: true });
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(outDir) && existsSync(previous)) renameSync(previous, outDir);
    throw error;
  } finally {
    // Closing the guard's stdin ends it at once (nothing left to clean); a guard per synth would
    // otherwise live as long as a long-running caller such as a test runner.
    guard.stdin?.destroy();
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, owned by someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * `<out>.staging-<pid>[-<n>]` and `<out>.previous-<pid>[-<n>]` of a synth that is gone (SIGKILL
 * of it and its guard, a reboot). Removed only when the pid is not alive and the folder is one
 * synth wrote (marker, or cdktf's manifest.json from before the marker, or empty); a previous
 * output whose swap never finished goes back into place when the output is missing.
 */
function removeStaleSiblings(outDir: string): void {
  const parent = dirname(outDir);
  const pattern = /^\.(staging|previous)-(\d+)(?:-\d+)?$/;
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(`${basename(outDir)}.`)) continue;
    const match = pattern.exec(name.slice(basename(outDir).length));
    if (!match || pidAlive(Number(match[2]))) continue;
    const path = join(parent, name);
    if (!lstatSync(path).isDirectory()) continue;
    const entries = readdirSync(path);
    if (entries.length > 0 && !entries.includes(SYNTH_MARKER) && !entries.includes('manifest.json')) continue;
    if (match[1] === 'previous' && !existsSync(outDir)) renameSync(path, outDir);
    else rmSync(path, { recursive: true, force: true });
  }
}
