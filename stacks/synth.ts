import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { App } from 'cdktf';
import { packageRoot } from '../policy/io/scripts';
import type { BackupPolicyInput } from '../policy/parse/policy-schema';
import { BackupStack } from './backup-stack';
import { localStatePath, selectStacks, type ProjectConfig, type StackConfig } from './project-config';
import type { StackBackend } from './state-backend';

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

export interface ProjectSynthOptions {
  config: ProjectConfig;
  outDir: string;
  /** One stack of the config; @default every stack */
  stackId?: string;
  /** Reads a stack's policy file (undefined: the bundled policy). */
  loadPolicy: (file: string | undefined) => BackupPolicyInput;
  /** A policy that replaces the config's for this synth only (`synth --policy`). */
  policyOverride?: BackupPolicyInput;
  log?: (line: string) => void;
}

/**
 * Synthesizes the stacks of backup-policy.config.json (what `cdktf diff/deploy` run through
 * stacks/main.ts, and `backup-policy synth`): every policy is loaded and parsed before anything is
 * written, a Terraform state found where older versions kept it (inside the output folder, which
 * every synth replaced) is moved to the stack's backend location first, and the output swaps in
 * whole.
 */
export function synthProject(options: ProjectSynthOptions): { outDir: string; stacks: string[] } {
  const outDir = refuseEnclosingFolder(options.outDir);
  const stacks = selectStacks(options.config, options.stackId);
  const policies = stacks.map((stack) => options.policyOverride ?? options.loadPolicy(stack.policyFile));
  withStaging(outDir, (staging) => {
    const app = new App({ outdir: staging });
    stacks.forEach((stack, i) => new BackupStack(app, stack.id, { policy: policies[i], backend: stackBackend(options.config, stack, outDir) }));
    // Only a valid project gets here: the state is moved out before the swap can delete it.
    for (const stack of stacks) rescueLegacyState(options.config, stack, outDir, options.log ?? (() => undefined));
    app.synth();
  });
  return { outDir, stacks: stacks.map((s) => s.id) };
}

/** The backend as Terraform sees it from the stack's working folder <out>/stacks/<id>. */
export function stackBackend(config: ProjectConfig, stack: StackConfig, outDir: string): StackBackend {
  const backend = stack.backend;
  if (backend.type !== 'local') return backend;
  const state = localStatePath(config, stack)!;
  const stackDir = join(outDir, 'stacks', stack.id);
  if (isWithin(state, outDir)) {
    throw new StateLocationError(`stacks.${stack.id}.backend.path: the state file ${state} is inside the output folder ${outDir}, which every synth (and so every cdktf diff/deploy) replaces; put it outside, e.g. ${join(config.root, 'terraform-state', `${stack.id}.tfstate`)}`);
  }
  return { type: 'local', path: relative(stackDir, state) };
}

function isWithin(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** A state file left where it would be lost, and no safe automatic move. */
export class StateLocationError extends Error {
  override name = 'StateLocationError';
}

/**
 * Versions before backup-policy.config.json kept `terraform.<id>.tfstate` inside
 * <out>/stacks/<id>/ (the local backend's relative default), the folder synth replaces. Moved to
 * the stack's local state file when that does not exist yet; otherwise synth stops and prints the
 * exact commands, and nothing is replaced.
 */
function rescueLegacyState(config: ProjectConfig, stack: StackConfig, outDir: string, log: (line: string) => void): void {
  const legacy = join(outDir, 'stacks', stack.id, `terraform.${stack.id}.tfstate`);
  if (!existsSync(legacy)) return;
  const target = localStatePath(config, stack);
  if (!target) {
    const keep = join(config.root, 'terraform-state', `${stack.id}.tfstate.legacy`);
    throw new StateLocationError(
      `${legacy} is this stack's Terraform state from an older version, kept where synth would delete it, and the stack now uses the ${stack.backend.type} backend. Nothing was changed. Move it and push it into the backend:
` +
        `  mkdir -p ${dirname(keep)} && mv ${legacy} ${keep}
` +
        `  backup-policy synth --stack ${stack.id} && cd ${join(outDir, 'stacks', stack.id)} && terraform init && terraform state push ${keep}`,
    );
  }
  if (existsSync(target)) {
    throw new StateLocationError(
      `two Terraform states for stack ${stack.id}: ${legacy} (from an older version, inside the output synth replaces) and ${target}. Nothing was changed. Keep the right one (compare: terraform show -json FILE), e.g.:
` +
        `  mv ${target} ${target}.older && mv ${legacy} ${target}     # or: mv ${legacy} ${target}.legacy`,
    );
  }
  mkdirSync(dirname(target), { recursive: true });
  renameSync(legacy, target);
  if (existsSync(`${legacy}.backup`)) renameSync(`${legacy}.backup`, `${target}.backup`);
  log(`moved the Terraform state of stack ${stack.id} out of the synth output: ${legacy} -> ${target}`);
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

/** The output folder, resolved; never the current folder or one above it (the swap would replace what the user stands in). */
export function refuseEnclosingFolder(dir: string): string {
  const outDir = resolve(dir);
  const fromOut = relative(outDir, process.cwd());
  if (fromOut === '' || (!fromOut.startsWith('..') && !isAbsolute(fromOut))) {
    throw new OutputFolderError(`${outDir} is the current folder or one above it; synth replaces its output folder as a whole. Pass --out a folder of its own, such as cdktf.out.`);
  }
  return outDir;
}

/**
 * Resolves the output folder and checks synth may replace it: missing, empty, or an earlier
 * synth's output (the marker). Leftovers of crashed synths beside it are cleaned up first.
 */
export function prepareOutDir(dir: string): string {
  const outDir = refuseEnclosingFolder(dir);
  mkdirSync(dirname(outDir), { recursive: true });
  removeStaleSiblings(outDir);
  if (!existsSync(outDir)) return outDir;
  if (!lstatSync(outDir).isDirectory()) {
    throw new OutputFolderError(`${outDir} exists and is not a folder; synth writes a folder there. Pass --out a new folder, or move ${outDir} away.`);
  }
  const entries = readdirSync(outDir);
  if (entries.length === 0 || entries.includes(SYNTH_MARKER)) return outDir;
  // The output of a synth from before the marker (cdktf's manifest.json and stacks/, the state
  // already moved out by rescueLegacyState): nothing of the user's is in it.
  if (entries.every((e) => e === 'manifest.json' || e === 'stacks') && entries.includes('manifest.json') && !holdsState(join(outDir, 'stacks'))) return outDir;
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

/** A Terraform state file anywhere below dir (a pre-marker output must not be replaced while it holds one). */
function holdsState(dir: string): boolean {
  if (!existsSync(dir)) return false;
  return readdirSync(dir, { withFileTypes: true }).some((e) => (e.isDirectory() ? holdsState(join(dir, e.name)) : /\.tfstate(\.backup)?$/.test(e.name)));
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
