import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadPolicySource } from '../../policy/io/load';
import { readScript } from '../../policy/io/scripts';
import { planPolicy } from '../../policy/plan/plan';
import { renderHostBundle } from '../../policy/render/host-bundle';
import { renderCronJob } from '../../policy/render/kubernetes';
import { PolicyValidationError, UsageError } from '../../policy/values/errors';
import { withPolicySource } from '../../cli/args';
import { synthPolicy } from '../../stacks/synth';
import { strings } from '../support/synth';
import { terraformUnescape } from '../harness/cronjob-harness';
import { maximalPolicy } from './maximal-policy';

/**
 * A seeded, time-bounded fuzzer of the input boundary: mutated policies (hostile strings, odd
 * numbers, wrong types, reserved and unknown keys, YAML text damage) go through the same path as
 * `backup-policy synth` (load from a file, parse, plan, synthesize into a folder). Each case ends
 * in one class; crash, dangerous, hang and "written on rejection" must stay at zero.
 * FUZZ_SEED and FUZZ_SECONDS reproduce or lengthen a run.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 14);
const BUDGET_MS = Number(process.env.FUZZ_SECONDS ?? 35) * 1000;
/** cdktf synth costs about a second on this machine: the Terraform check runs on the first accepted cases. */
const SYNTH_CASES = 12;
const HANG_MS = 5000;

type Outcome = 'clean rejection' | 'accepted' | 'accepted-dangerous' | 'crash' | 'hang' | 'output written';

function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MARK = 'pwn';
const HOSTILE_STRINGS = [
  `\${file(pathexpand("~/.ssh/id_ed25519"))}${MARK}`,
  `%{ if true }${MARK}%{ endif }`,
  `$(touch /tmp/${MARK})`,
  `\`id\`${MARK}`,
  `a; rm -rf / #${MARK}`,
  `x\nExecStartPre=/bin/sh -c ${MARK}`,
  `%h/${MARK}`,
  `../../etc/${MARK}`,
  `/srv/nfs//${MARK}/`,
  `/srv/./nfs/${MARK}`,
  '9'.repeat(400) + 'd',
  '__proto__',
  'constructor',
  '',
  ' ',
  '\t',
  'é',
  `${MARK}\u0000`,
  'x'.repeat(5000),
  '0 0 L * *',
  '0 0 * * 5#3',
  '*/0 * * * *',
  '0 0 31 2 *',
  'europe/london',
  'Mars/Olympus',
  'http://h/#frag',
  'http://user:pass@h/',
  'latest',
  'weekly on sunday at 01:00',
];
const HOSTILE_VALUES: unknown[] = [null, true, [], {}, 0, -1, 1e-7, 1e21, 2 ** 53, Number.NaN, 0.3333333, 65536, 'x'];

interface Case {
  format: 'yaml' | 'json';
  text: string;
}

/** Paths of every value in a policy, to pick from. */
function valuePaths(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  const paths: (string | number)[][] = path.length > 0 ? [path] : [];
  if (Array.isArray(value)) value.forEach((v, i) => paths.push(...valuePaths(v, [...path, i])));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) paths.push(...valuePaths(v, [...path, k]));
  return paths;
}

function parentOf(policy: any, path: (string | number)[]) {
  let node = policy;
  for (const key of path.slice(0, -1)) node = node[key];
  return node;
}

function generate(random: () => number): Case {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const policy = maximalPolicy() as any;
  if (random() < 0.3) delete policy.host;
  const mutations = 1 + Math.floor(random() * 3);
  for (let m = 0; m < mutations; m++) {
    const path = pick(valuePaths(policy));
    const parent = parentOf(policy, path);
    const key = path[path.length - 1];
    if (parent === undefined || parent === null || typeof parent !== 'object') continue;
    const current = parent[key];
    const r = random();
    if (r < 0.45 && typeof current === 'string') parent[key] = random() < 0.5 ? pick(HOSTILE_STRINGS) : `${current}${pick(HOSTILE_STRINGS)}`;
    else if (r < 0.6) parent[key] = pick(HOSTILE_VALUES);
    else if (r < 0.7 && !Array.isArray(parent)) {
      const renamed = pick(['__proto__', 'constructor', 'prototype', `${String(key)}s`, String(key).toUpperCase(), `${MARK}\${x}`]);
      // defineProperty: an own "__proto__" key, as YAML and JSON.parse produce it.
      Object.defineProperty(parent, renamed, { value: current, enumerable: true, writable: true, configurable: true });
      delete parent[key];
    } else if (r < 0.8) delete parent[key];
    else if (r < 0.9 && typeof current === 'number') parent[key] = pick([current * 1e9, -current, current + 0.00001, 1e-7]);
    else if (!Array.isArray(parent)) parent[`unknown${Math.floor(random() * 10)}`] = pick(HOSTILE_STRINGS);
  }
  const format = random() < 0.5 ? 'yaml' : 'json';
  let text = format === 'yaml' ? stringify(policy) : JSON.stringify(policy, null, 2);
  // Text damage the object form cannot express: tabs, duplicated lines, alias nests, truncation.
  const damage = random();
  if (damage < 0.08) {
    const lines = text.split('\n');
    const i = Math.floor(random() * lines.length);
    lines[i] = `\t${lines[i]}`;
    text = lines.join('\n');
  } else if (damage < 0.16) {
    const lines = text.split('\n');
    const i = Math.floor(random() * lines.length);
    lines.splice(i, 0, lines[i]);
    text = lines.join('\n');
  } else if (damage < 0.2 && format === 'yaml') {
    text = `x: &a [1,1,1,1,1,1,1,1,1]\ny: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nz: [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n${text}`;
  } else if (damage < 0.24) {
    text = text.slice(0, Math.floor(random() * text.length));
  }
  return { format, text };
}

/** A hostile string that reached Terraform, a unit or the host's environment file unescaped. */
function dangers(outDir: string | undefined, plan: ReturnType<typeof planPolicy>): string[] {
  const found: string[] = [];
  if (outDir) {
    const stack = JSON.parse(readFileSync(join(outDir, 'stacks', 'fuzz', 'cdk.tf.json'), 'utf8'));
    for (const [path, text] of strings(stack.resource ?? {})) {
      if (path.includes('//') || !text.includes(MARK)) continue;
      try {
        terraformUnescape(text);
      } catch (error) {
        found.push(`terraform ${path}: ${(error as Error).message}`);
      }
    }
  }
  for (const service of plan.services) {
    for (const job of service.jobs) {
      // Environment values are data to the scripts (read, never evaluated); command and args are
      // what the container runs, so policy text there would be a shell's to interpret.
      for (const [path, text] of strings(renderCronJob(job))) {
        if (/\b(command|args)\b/.test(path) && text.includes(MARK)) found.push(`cronjob ${service.id} ${path}: ${JSON.stringify(text.slice(0, 80))}`);
      }
    }
  }
  if (plan.host) {
    for (const file of renderHostBundle(plan.host, readScript)) {
      if (file.name.endsWith('.sh')) continue;
      for (const line of file.content.split('\n')) {
        if (line.includes(MARK) && /[$`;|&<>\\%]/.test(line)) found.push(`${file.name}: ${line.slice(0, 80)}`);
      }
    }
  }
  return found;
}

test('fuzzing the input boundary: no crash, nothing dangerous accepted, nothing written on rejection', () => {
  const random = mulberry32(SEED);
  const counts: Record<Outcome, number> = { 'clean rejection': 0, accepted: 0, 'accepted-dangerous': 0, crash: 0, hang: 0, 'output written': 0 };
  const examples: Partial<Record<Outcome, string[]>> = {};
  const note = (outcome: Outcome, detail: string) => {
    counts[outcome] += 1;
    (examples[outcome] ??= []).length < 3 && examples[outcome]!.push(detail);
  };
  const work = mkdtempSync(join(tmpdir(), 'bp-fuzz-'));
  const started = Date.now();
  let cases = 0;
  let synthesized = 0;
  try {
    while (Date.now() - started < BUDGET_MS) {
      const { format, text } = generate(random);
      cases += 1;
      const file = join(work, `case-${cases}.${format}`);
      const outDir = join(work, `out-${cases}`);
      writeFileSync(file, text);
      const caseStarted = Date.now();
      let outcome: Outcome;
      let detail = `case ${cases} (seed ${SEED})`;
      try {
        const source = loadPolicySource(file);
        const plan = withPolicySource(source, planPolicy);
        const synth = synthesized < SYNTH_CASES;
        if (synth) {
          synthPolicy({ policy: source.value as never, outDir, stackId: 'fuzz' });
          synthesized += 1;
        }
        const found = dangers(synth ? outDir : undefined, plan);
        outcome = found.length > 0 ? 'accepted-dangerous' : 'accepted';
        if (found.length > 0) detail += `: ${found.join('; ')}`;
      } catch (error) {
        const issues = error instanceof PolicyValidationError ? error.issues : error instanceof UsageError ? [error.message] : undefined;
        if (!issues) {
          outcome = 'crash';
          detail += `: ${(error as Error)?.stack ?? String(error)}`;
        } else if (issues.length === 0 || issues.some((i) => i.trim() === '' || i.includes('\n'))) {
          // A rejection that says nothing, or spreads one issue over lines, is no clean answer.
          outcome = 'crash';
          detail += `: unclear issues ${JSON.stringify(issues).slice(0, 300)}`;
        } else if (existsSync(outDir)) {
          outcome = 'output written';
        } else {
          outcome = 'clean rejection';
        }
      }
      if (Date.now() - caseStarted > HANG_MS && outcome !== 'crash') {
        outcome = 'hang';
        detail += `: took ${Date.now() - caseStarted} ms`;
      }
      note(outcome, detail);
      rmSync(outDir, { recursive: true, force: true });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  // The counts go into the test output: the issue note reports them.
  console.log(`fuzz seed ${SEED}, ${cases} cases in ${Date.now() - started} ms (${synthesized} synthesized): ${JSON.stringify(counts)}`);
  expect({ crash: examples.crash ?? [], dangerous: examples['accepted-dangerous'] ?? [], hang: examples.hang ?? [], written: examples['output written'] ?? [] }).toEqual({ crash: [], dangerous: [], hang: [], written: [] });
  // A fuzzer that only ever rejects, or only ever accepts, tests nothing (counts vary with the machine's speed).
  expect(counts['clean rejection']).toBeGreaterThan(0);
  expect(counts.accepted).toBeGreaterThan(0);
  expect(synthesized).toBeGreaterThan(0);
}, 120_000);
