/**
 * Runs the `run:` steps of a workflow job the way a GitHub (or Forgejo) runner does, so that the
 * test exercises the workflow file itself (its env mappings, its shell, its step order) and not
 * only the scripts it calls. No runner can run here, so this is a small, strict emulation:
 *   - each step's script goes to a file and runs as `bash --noprofile --norc -eo pipefail FILE`
 *     when the job's shell is `bash`, or `bash -e FILE` (the runners' implicit default, without
 *     pipefail) when none is set; any other shell is refused;
 *   - `${{ ... }}` in `env:` values and in `run:` is replaced for the expressions the workflow
 *     uses (`secrets.NAME`, an unset secret being '', and `github.a.b` from the given context);
 *     any other expression, and any step-level `if:`, makes the emulation throw rather than guess;
 *   - the environment is the runner's defaults (GITHUB_API_URL, GITHUB_REPOSITORY, RUNNER_TEMP,
 *     GITHUB_OUTPUT, ...) plus workflow, job and step `env:`, nothing from the test process;
 *   - a failing step skips the steps after it, as their implicit `if: success()` does.
 * Steps before the first one that calls .github/scripts (checkout, setup-node, npm ci, synth) are
 * not run: the test runs in this checkout with its dependencies installed; `skipped` names them.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const WORKFLOW_FILE = path.join(REPO_ROOT, '.github', 'workflows', 'plan-review.yml');

interface WorkflowStep {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  if?: unknown;
  env?: Record<string, string | number | boolean>;
  shell?: string;
  'working-directory'?: string;
}

interface Workflow {
  env?: Record<string, string>;
  defaults?: { run?: { shell?: string } };
  jobs: Record<string, { env?: Record<string, string>; defaults?: { run?: { shell?: string } }; steps: WorkflowStep[] }>;
}

export interface StepResult {
  name: string;
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface JobRun {
  /** Names of the setup steps that were not run (see above). */
  skipped: string[];
  /** The steps that ran, in order; the last one failed if `failed`. */
  steps: StepResult[];
  /** Steps not run because an earlier one failed. */
  notRun: string[];
  failed: boolean;
}

export interface RunnerOptions {
  job: string;
  /** Runner-provided variables: GITHUB_API_URL, GITHUB_REPOSITORY, RUNNER_TEMP, ... */
  runnerEnv: Record<string, string>;
  secrets: Record<string, string>;
  /** The `github` context: e.g. { base_ref, event: { pull_request: { number, head: { sha } } } }. */
  github: Record<string, unknown>;
  /** Directories put first on PATH (stand-ins for tools). */
  pathPrepend?: string[];
  /** PATH after the stand-ins. Default: node's directory and the system directories. */
  basePath?: string;
  workflowFile?: string;
  timeoutMs?: number;
}

export function loadWorkflow(file = WORKFLOW_FILE): Workflow {
  return parse(fs.readFileSync(file, 'utf8')) as Workflow;
}

export function stepName(step: WorkflowStep): string {
  return step.name ?? step.run?.split('\n')[0] ?? step.uses ?? '(unnamed)';
}

function lookup(root: unknown, dotted: string[]): unknown {
  let value = root;
  for (const key of dotted) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** Replaces `${{ expr }}` for the expressions the emulation knows; throws on any other. */
export function substitute(text: string, opts: Pick<RunnerOptions, 'secrets' | 'github'>): string {
  return text.replace(/\$\{\{\s*(.*?)\s*\}\}/g, (_all, expr: string) => {
    const secret = /^secrets\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(expr);
    if (secret) return opts.secrets[secret[1]] ?? '';
    const github = /^github((?:\.[A-Za-z_][A-Za-z0-9_-]*)+)$/.exec(expr);
    if (github) {
      const value = lookup(opts.github, github[1].slice(1).split('.'));
      if (value === undefined || value === null) return '';
      if (typeof value === 'object') throw new Error(`\${{ ${expr} }} is an object; the emulation only substitutes scalars`);
      return String(value);
    }
    throw new Error(`the step emulation does not evaluate \${{ ${expr} }}; extend test/workflow/step-runner.ts`);
  });
}

function shellCommand(shell: string | undefined, file: string): string[] {
  if (shell === undefined) return ['-e', file];
  if (shell === 'bash') return ['--noprofile', '--norc', '-eo', 'pipefail', file];
  throw new Error(`the step emulation only runs bash steps, not shell: ${shell}`);
}

function runBash(args: string[], env: Record<string, string>, cwd: string, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

function stringEnv(env: Record<string, string | number | boolean> | undefined, opts: RunnerOptions): Record<string, string> {
  return Object.fromEntries(Object.entries(env ?? {}).map(([k, v]) => [k, substitute(String(v), opts)]));
}

export async function runJob(opts: RunnerOptions): Promise<JobRun> {
  const workflow = loadWorkflow(opts.workflowFile);
  const job = workflow.jobs[opts.job];
  if (!job) throw new Error(`no job ${opts.job} in the workflow`);
  const shell = job.defaults?.run?.shell ?? workflow.defaults?.run?.shell;
  const firstScriptStep = job.steps.findIndex((s) => s.run?.includes('.github/scripts/'));
  if (firstScriptStep < 0) throw new Error('no step calls .github/scripts');

  const runnerTemp = opts.runnerEnv.RUNNER_TEMP;
  if (!runnerTemp) throw new Error('runnerEnv.RUNNER_TEMP is required');
  const outputFile = path.join(runnerTemp, '_github_output');
  const envFile = path.join(runnerTemp, '_github_env');
  const basePath = opts.basePath ?? [path.dirname(process.execPath), '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':');
  const result: JobRun = { skipped: job.steps.slice(0, firstScriptStep).map(stepName), steps: [], notRun: [], failed: false };

  for (const [index, step] of job.steps.slice(firstScriptStep).entries()) {
    if (result.failed) {
      result.notRun.push(stepName(step));
      continue;
    }
    if (step.uses !== undefined || step.run === undefined) throw new Error(`step ${stepName(step)} is not a run step; the emulation cannot run it`);
    if (step.if !== undefined) throw new Error(`step ${stepName(step)} has an if: the emulation does not evaluate conditions`);
    if (step['working-directory'] !== undefined) throw new Error(`step ${stepName(step)} sets working-directory; the emulation does not`);
    const script = path.join(runnerTemp, `_step-${index}.sh`);
    fs.writeFileSync(script, substitute(step.run, opts));
    fs.writeFileSync(outputFile, '');
    fs.writeFileSync(envFile, '');
    const env: Record<string, string> = {
      HOME: runnerTemp,
      LANG: 'C.UTF-8',
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      GITHUB_WORKSPACE: REPO_ROOT,
      GITHUB_OUTPUT: outputFile,
      GITHUB_ENV: envFile,
      ...opts.runnerEnv,
      ...stringEnv(workflow.env, opts),
      ...stringEnv(job.env, opts),
      ...stringEnv(step.env, opts),
      PATH: [...(opts.pathPrepend ?? []), basePath].join(':'),
    };
    const run = await runBash(shellCommand(step.shell ?? shell, script), env, REPO_ROOT, opts.timeoutMs ?? 60000);
    result.steps.push({ name: stepName(step), ...run });
    if (run.code !== 0) result.failed = true;
  }
  return result;
}
