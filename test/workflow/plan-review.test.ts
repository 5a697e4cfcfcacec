/**
 * The plan-review workflow's steps, run from the workflow file (test/workflow/step-runner.ts) against
 * a stand-in of the GitHub and the Forgejo API (forge-api.ts), with npx played by fakes/bin/npx.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ForgeApi, ForgeFlavor } from './forge-api';
import { run } from '../support/servers';
import { JobRun, REPO_ROOT, runJob } from './step-runner';

const FAKES = path.join(__dirname, 'fakes');
const REPOSITORY = 'homelab/backup-policy';
const PR = 42;
const TOKEN = 'ghs_test-token-5f1c0a7e';
const MARKER = '<!-- backup-policy-plan-review -->';
const KUBECONFIG = 'apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n    token: kube-secret-9d2b\n';
const ESC = '\x1b';

interface Played {
  /** Lines as [stream, text]. */
  lines: Array<[1 | 2, string]>;
  exit: number;
}

interface Scenario {
  lint?: Played;
  review?: Played;
  diff?: Played;
  secrets?: Record<string, string>;
  /** Put the terraform stand-in on PATH (the runner image "has terraform"). */
  terraform?: boolean;
  headSha?: string;
}

interface Outcome {
  job: JobRun;
  /** Every line npx was called with. */
  npxCalls: string[];
  /** What the cdktf stand-in saw (kubeconfig path, mode, content), if it ran. */
  diffSeen?: string;
  runnerTemp: string;
}

const cleanLint: Played = { lines: [[1, '0 findings']], exit: 0 };
const failingLint: Played = {
  lines: [
    [2, 'services.vaultwarden.offsite: no offsite copy, but the service is marked critical'],
    [2, 'services.redis.retention: keeps 1 copy; at least 2 are needed to survive one bad run'],
    [2, '2 findings'],
  ],
  exit: 1,
};
const review = (text: string): Played => ({ lines: text.split('\n').map((l) => [1, l] as [1, string]), exit: 0 });

const temps: string[] = [];
afterAll(() => {
  for (const t of temps) fs.rmSync(t, { recursive: true, force: true });
});

function writePlayed(dir: string, name: string, played: Played): void {
  fs.writeFileSync(path.join(dir, `${name}.out`), played.lines.map(([s, l]) => `${s}:${l}\n`).join(''));
  fs.writeFileSync(path.join(dir, `${name}.exit`), `${played.exit}\n`);
}

async function runWorkflow(api: ForgeApi, s: Scenario): Promise<Outcome> {
  const runnerTemp = fs.mkdtempSync('/tmp/bp-wf-runner-');
  const npxDir = fs.mkdtempSync('/tmp/bp-wf-npx-');
  temps.push(runnerTemp, npxDir);
  writePlayed(npxDir, 'lint', s.lint ?? cleanLint);
  writePlayed(npxDir, 'plan-review', s.review ?? review('### No change in protection'));
  writePlayed(npxDir, 'diff', s.diff ?? { lines: [[1, 'No changes.']], exit: 0 });
  const job = await runJob({
    job: 'review',
    runnerEnv: {
      GITHUB_API_URL: api.apiUrl,
      GITHUB_REPOSITORY: REPOSITORY,
      RUNNER_TEMP: runnerTemp,
      FAKE_NPX_DIR: npxDir,
    },
    secrets: { GITHUB_TOKEN: TOKEN, ...(s.secrets ?? {}) },
    github: { base_ref: 'main', event: { pull_request: { number: PR, head: { sha: s.headSha ?? 'a1b2c3d' } } } },
    pathPrepend: [path.join(FAKES, 'bin'), ...(s.terraform ? [path.join(FAKES, 'terraform')] : [])],
  });
  const read = (f: string) => (fs.existsSync(path.join(npxDir, f)) ? fs.readFileSync(path.join(npxDir, f), 'utf8') : undefined);
  return { job, npxCalls: (read('calls') ?? '').split('\n').filter(Boolean), diffSeen: read('diff.seen'), runnerTemp };
}

/** The bodies of the workflow's own marked comments on the pull request. */
function ours(api: ForgeApi): string[] {
  const workflowUser = api.workflowUser();
  return api
    .commentsOn(PR)
    .filter((c) => c.user.id === workflowUser.id && c.body.startsWith(MARKER))
    .map((c) => c.body);
}

function allOutput(job: JobRun): string {
  return job.steps.map((s) => s.stdout + s.stderr).join('\n');
}

/** The setup steps the emulation leaves out: if this changes, the emulation's premise does too. */
const SKIPPED = ['actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8', 'actions/setup-node@a0853c24544627f65ddf259abe73b1d18a591444', 'npm ci', 'Synthesize'];

describe.each<ForgeFlavor>(['github', 'forgejo'])('plan-review workflow on %s', (flavor) => {
  let api: ForgeApi;
  beforeEach(async () => {
    api = await ForgeApi.start(flavor, { repository: REPOSITORY, token: TOKEN });
  });
  afterEach(async () => {
    await api.close();
  });

  test('posts one comment with the review and the lint result, through the API root the runner gives', async () => {
    const { job, npxCalls } = await runWorkflow(api, { review: review('### Risky changes: 0\n\nNothing changes protection.') });
    expect(job.skipped).toEqual(SKIPPED);
    expect(job.failed).toBe(false);
    expect(job.steps.map((s) => s.name)).toEqual([
      'Lint',
      'Review against the base branch',
      'Terraform diff (when cluster credentials are configured)',
      'Compose the comment',
      'Post or update the comment on the pull request',
      'Fail when lint or the review failed',
    ]);
    expect(npxCalls).toEqual(['--no-install backup-policy lint', '--no-install backup-policy plan-review --base origin/main']);
    expect(api.writes().map((r) => `${r.method} ${r.path}`)).toEqual([`POST /repos/${REPOSITORY}/issues/${PR}/comments`]);
    expect(api.requests.every((r) => r.authorization === `token ${TOKEN}`)).toBe(true);
    const [body, ...more] = ours(api);
    expect(more).toEqual([]);
    expect(body.split('\n')[0]).toBe(MARKER);
    expect(body).toContain('### Risky changes: 0\n\nNothing changes protection.');
    expect(body).toContain('### Lint\n\nNo findings.\n\n```\n0 findings\n```');
    expect(body).toContain('For a1b2c3d; this comment is updated on every push.');
    expect(body).not.toContain('cdktf diff');
  });

  test('a failing lint fails the job, after the comment with both of its output streams is posted', async () => {
    const { job } = await runWorkflow(api, { lint: failingLint });
    expect(job.failed).toBe(true);
    expect(job.notRun).toEqual([]);
    const last = job.steps[job.steps.length - 1];
    expect(last.name).toBe('Fail when lint or the review failed');
    expect(last.code).toBe(1);
    expect(last.stdout).toContain('::error title=backup-policy lint::');
    // Every step before the gate succeeded, the post included.
    expect(job.steps.slice(0, -1).map((s) => [s.name, s.code])).toEqual(job.steps.slice(0, -1).map((s) => [s.name, 0]));
    const [body] = ours(api);
    expect(body).toContain('**Lint failed** (exit status 1); the job fails after posting this comment.');
    for (const [, line] of failingLint.lines) expect(body).toContain(line);
  });

  test('lint output on both streams is kept in order', async () => {
    const lint: Played = { lines: [[2, 'first on stderr'], [1, 'then stdout'], [2, 'stderr again']], exit: 0 };
    await runWorkflow(api, { lint });
    expect(ours(api)[0]).toContain('```\nfirst on stderr\nthen stdout\nstderr again\n```');
  });

  test('a second push updates the comment in place (PATCH), even past the first page of comments', async () => {
    // 150 comments by others: with GitHub's 100 per page, ours ends up on page 2.
    api.seed(PR, Array.from({ length: 150 }, (_, i) => `comment ${i}, quoting ${i === 7 ? 'nothing' : 'the plan'}`));
    api.seed(PR + 1, [`${MARKER}\nthe plan review of another pull request`], 'workflow');
    await runWorkflow(api, { review: review('first push'), headSha: 'aaaa111' });
    const firstId = api.commentsOn(PR).find((c) => c.body.startsWith(MARKER))!.id;
    const readsBefore = api.requests.filter((r) => r.method === 'GET').length;

    const second = await runWorkflow(api, { review: review('second push'), headSha: 'bbbb222', lint: failingLint });
    expect(second.job.failed).toBe(true);
    expect(api.writes().map((r) => `${r.method} ${r.path}`)).toEqual([
      `POST /repos/${REPOSITORY}/issues/${PR}/comments`,
      `PATCH /repos/${REPOSITORY}/issues/comments/${firstId}`,
    ]);
    const bodies = ours(api);
    expect(bodies).toHaveLength(1);
    expect(bodies[0]).toContain('second push');
    expect(bodies[0]).not.toContain('first push');
    expect(bodies[0]).toContain('For bbbb222');
    expect(api.commentsOn(PR)).toHaveLength(151);
    expect(api.commentsOn(PR + 1)[0].body).toContain('another pull request');

    const reads = api.requests.filter((r) => r.method === 'GET').slice(readsBefore);
    if (flavor === 'github') {
      // Page 1 (no marker among 100 others), then the Link header's next page.
      expect(reads.map((r) => r.query.page ?? '1')).toEqual(['1', '2']);
    } else {
      // Forgejo answers with every comment at once and no Link header.
      expect(reads).toHaveLength(1);
    }
  });

  test("a marked comment by someone else is left alone: the review is never put under another author's name", async () => {
    const [planted] = api.seed(PR, [`${MARKER}\n## Backup policy plan review\n\nNo risky changes.`], { id: 99, login: 'pr-author', type: 'User' });
    await runWorkflow(api, { review: review('### Risky changes: 1') });
    await runWorkflow(api, { review: review('### Risky changes: 2') });
    expect(api.commentsOn(PR).find((c) => c.id === planted.id)!.body).toBe(`${MARKER}\n## Backup policy plan review\n\nNo risky changes.`);
    expect(api.writes().map((r) => r.method)).toEqual(['POST', 'PATCH']);
    expect(ours(api)).toHaveLength(1);
    expect(ours(api)[0]).toContain('### Risky changes: 2');
  });

  test('without cluster credentials there is no diff and cdktf is never called', async () => {
    const { job, npxCalls } = await runWorkflow(api, { terraform: true });
    expect(job.failed).toBe(false);
    expect(npxCalls.some((c) => c.includes('cdktf'))).toBe(false);
    expect(ours(api)[0]).not.toContain('cdktf diff');
    expect(job.steps[2].stdout).toContain('No cluster credentials');
  });

  test('with cluster credentials the diff is in the comment, with no terminal escape codes', async () => {
    const colored: Played = {
      lines: [
        [1, `${ESC}[1m${ESC}[32mhomelab${ESC}[0m  Initializing the backend...`],
        [1, `homelab  ${ESC}]8;;https://example.invalid/docs${ESC}\\docs${ESC}]8;;${ESC}\\ for providers`],
        [2, `⠋ Planning\r⠙ Planning\rPlanned`],
        [1, `homelab  ${ESC}[33m~${ESC}[0m update in-place`],
        [1, `homelab    ${ESC}[31m-${ESC}[0m schedule = "0 3 * * *" ${ESC}[2K${ESC}[1G`],
        [1, 'homelab  Plan: 0 to add, 1 to change, 0 to destroy.'],
      ],
      exit: 0,
    };
    const { job, npxCalls, diffSeen, runnerTemp } = await runWorkflow(api, { terraform: true, diff: colored, secrets: { KUBE_CONFIG: KUBECONFIG } });
    expect(job.failed).toBe(false);
    expect(npxCalls).toContain('--no-install cdktf diff --skip-synth');
    const body = ours(api)[0];
    expect(body.includes(ESC)).toBe(false);
    expect(body).toContain(
      [
        '<details><summary>cdktf diff</summary>',
        '',
        '```',
        'homelab  Initializing the backend...',
        'homelab  docs for providers',
        'Planned',
        'homelab  ~ update in-place',
        'homelab    - schedule = "0 3 * * *" ',
        'homelab  Plan: 0 to add, 1 to change, 0 to destroy.',
        '```',
        '',
        '</details>',
      ].join('\n'),
    );
    // The provider got the kubeconfig as a private file, the secret itself left the environment,
    // and the file is gone after the step.
    const kubeconfigPath = path.join(runnerTemp, 'kubeconfig');
    expect(diffSeen).toBe(`KUBE_CONFIG_PATH=${kubeconfigPath}\nKUBE_CONFIG set: \nmode=600\n${KUBECONFIG}\n`);
    expect(fs.existsSync(kubeconfigPath)).toBe(false);
    expect(allOutput(job)).not.toContain('kube-secret-9d2b');
  });

  test('a long diff keeps its last 400 lines, where Terraform prints its summary, and says how many were cut', async () => {
    const lines = Array.from({ length: 450 }, (_, i) => [1, `${ESC}[32mhomelab  line ${i + 1}${ESC}[0m`] as [1, string]);
    await runWorkflow(api, { terraform: true, secrets: { KUBE_CONFIG: KUBECONFIG }, diff: { lines, exit: 0 } });
    const body = ours(api)[0];
    expect(body).toContain('50 earlier lines cut; the job log has them all.\n\n```\nhomelab  line 51\n');
    expect(body).toContain('homelab  line 450\n```');
    expect(body).not.toContain('homelab  line 50\n');
  });

  test('a failing diff is shown and warned about, without failing the job', async () => {
    const { job } = await runWorkflow(api, {
      terraform: true,
      secrets: { KUBE_CONFIG: KUBECONFIG },
      diff: { lines: [[2, `${ESC}[31mError:${ESC}[0m Failed to query available provider packages`]], exit: 1 },
    });
    expect(job.failed).toBe(false);
    expect(job.steps[2].stdout).toContain('::warning title=cdktf diff failed::');
    const body = ours(api)[0];
    expect(body).toContain('<details><summary>cdktf diff (failed, exit status 1)</summary>');
    expect(body).toContain('Error: Failed to query available provider packages');
  });

  test('credentials but no terraform on the runner: a note instead of the diff', async () => {
    const { job, npxCalls } = await runWorkflow(api, { terraform: false, secrets: { KUBE_CONFIG: KUBECONFIG } });
    expect(job.failed).toBe(false);
    expect(npxCalls.some((c) => c.includes('cdktf'))).toBe(false);
    expect(ours(api)[0]).toContain('Cluster credentials are configured but terraform is not installed on this runner; no cdktf diff.');
  });

  test('a failing review replaces the previous review in the comment and fails the job', async () => {
    await runWorkflow(api, { review: review('the review of the previous push') });
    const { job } = await runWorkflow(api, { review: { lines: [[2, 'plan-review: origin/main: unknown revision']], exit: 2 } });
    expect(job.failed).toBe(true);
    expect(job.steps[job.steps.length - 1].stdout).toContain('::error title=backup-policy review::');
    const bodies = ours(api);
    expect(bodies).toHaveLength(1);
    expect(bodies[0]).not.toContain('the review of the previous push');
    expect(bodies[0]).toContain('**The plan review failed** (`backup-policy plan-review` exit status: 2)');
    expect(bodies[0]).toContain('plan-review: origin/main: unknown revision');
  });

  test('tool output with backtick fences cannot break out of its code block', async () => {
    const lint: Played = { lines: [[2, 'policy.md: contains ```yaml and ````'], [1, '1 finding']], exit: 1 };
    await runWorkflow(api, { lint });
    expect(ours(api)[0]).toContain('`````\npolicy.md: contains ```yaml and ````\n1 finding\n`````');
  });

  test('an oversized review is cut to the size the forge accepts, with a note', async () => {
    const huge = review(Array.from({ length: 1500 }, (_, i) => `- service-${i}: retention 14 d -> 7 d, offsite RPO 30 h -> 2 d`).join('\n'));
    const { job } = await runWorkflow(api, { review: huge });
    expect(job.failed).toBe(false);
    const [body] = ours(api);
    expect(body.length).toBeLessThanOrEqual(65536);
    expect(body.trimEnd().endsWith('**This comment was cut at the 65,536-character limit**; the job log has everything.')).toBe(true);
  });

  test('the token reaches only the Authorization header: not the output, not a command line', async () => {
    const { job } = await runWorkflow(api, { lint: failingLint, terraform: true, secrets: { KUBE_CONFIG: KUBECONFIG } });
    expect(allOutput(job)).not.toContain(TOKEN);
    expect(api.requests.length).toBeGreaterThan(0);
    for (const r of api.requests) expect(JSON.stringify(r.body ?? '')).not.toContain(TOKEN);
    // The one place it is used is an HTTP header set inside node (sticky-comment.mjs), never argv.
    const workflow = fs.readFileSync(path.join(REPO_ROOT, '.github/workflows/plan-review.yml'), 'utf8');
    const runLines = workflow.split('\n').filter((l) => /^\s*(- )?run:/.test(l));
    expect(runLines.some((l) => /TOKEN/.test(l))).toBe(false);
  });

  test('an API error fails the post step with the status, and the token stays out of the message', async () => {
    await api.close();
    api = await ForgeApi.start(flavor, { repository: REPOSITORY, token: 'another-token' });
    const { job } = await runWorkflow(api, {});
    expect(job.failed).toBe(true);
    const post = job.steps[job.steps.length - 1];
    expect(post.name).toBe('Post or update the comment on the pull request');
    expect(post.stderr).toMatch(/sticky-comment: GET http:\/\/127\.0\.0\.1:\d+.*\/comments\?per_page=100 answered 401/);
    expect(post.stderr).not.toContain(TOKEN);
    expect(job.notRun).toEqual(['Fail when lint or the review failed']);
  });
});

describe('the lint step with the real CLI', () => {
  test('`npx --no-install backup-policy lint` resolves this package, and the step keeps all it prints and its status', async () => {
    const runnerTemp = fs.mkdtempSync('/tmp/bp-wf-real-');
    temps.push(runnerTemp);
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: runnerTemp, RUNNER_TEMP: runnerTemp };
    const direct = await run(process.execPath, [path.join(REPO_ROOT, 'bin', 'backup-policy.js'), 'lint'], { cwd: REPO_ROOT, env });
    const step = await run('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '.github/scripts/plan-review-lint.sh'], { cwd: REPO_ROOT, env });
    expect(step.code).toBe(0);
    const captured = fs.readFileSync(path.join(runnerTemp, 'plan-review', 'lint.txt'), 'utf8');
    const printed = (direct.stdout + direct.stderr).split('\n').filter(Boolean);
    expect(printed.length).toBeGreaterThan(0);
    for (const line of printed) expect(captured).toContain(line);
    expect(fs.readFileSync(path.join(runnerTemp, 'plan-review', 'lint.status'), 'utf8')).toBe(`${direct.code}\n`);
  });
});
