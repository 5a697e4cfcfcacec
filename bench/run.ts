import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem, type as osType, release } from 'node:os';
import { join } from 'node:path';
import { firstDifference, passThroughManifests, readStack, resourceCounts } from './compare-output';
import { stackIdFor, type BenchTarget } from './generate-policy';
import { engineScripts } from '../policy/engines/registry';

/**
 * Whole-process synth benchmark: each variant runs as its own `node` process, the way people run
 * synth, so module loading counts (it is a large share of a small synth). Runs are interleaved
 * round-robin, with the order rotated each round, so drift on a shared 2-core machine spreads
 * over every variant instead of biasing one.
 *
 * usage: node dist/bench/run.js [--runs 7] [--sizes 100,1000] [--no-write]
 */

const ROOT = join(__dirname, '..', '..');
const BENCH_JS = join(ROOT, 'dist', 'bench');
const RESULTS = join(ROOT, 'bench', 'results.md');
/** The files synth embeds in the ConfigMaps; without them our path fails, so check up front. */
const HOST_SCRIPTS = engineScripts();
const TARGETS = { oursOverBare: 1.3, cliHomelabMs: 1000, thousandMs: 4000, slopeRatio: 1.25 };

const SHORT_TYPE: Record<string, string> = {
  kubernetes_persistent_volume_v1: 'PV',
  kubernetes_persistent_volume_claim_v1: 'PVC',
  kubernetes_config_map_v1: 'ConfigMap',
  kubernetes_cron_job_v1: 'CronJob',
  kubernetes_manifest: 'manifest',
};

type Variant = 'ours' | 'bare' | 'floor' | 'cli';

interface Measurement {
  variant: Variant;
  target: BenchTarget;
}

interface Sample {
  wallMs: number;
  maxRssMiB: number;
  cpuMs: number;
}

interface Options {
  runs: number;
  sizes: number[];
  write: boolean;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { runs: 7, sizes: [100, 1000], write: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--runs') options.runs = positiveInt(argv[++i], arg);
    else if (arg === '--sizes') options.sizes = (argv[++i] ?? '').split(',').map((s) => positiveInt(s, arg));
    else if (arg === '--no-write') options.write = false;
    else throw new Error(`unknown argument "${arg}"; usage: run.js [--runs 7] [--sizes 100,1000] [--no-write]`);
  }
  return options;
}

function positiveInt(text: string | undefined, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} takes a positive whole number, received ${JSON.stringify(text)}`);
  return n;
}

function label(m: Measurement): string {
  return `${m.variant} ${m.target}`;
}

/** Where the harness keeps the alert rules ours rendered for a workload, for bare and floor to copy. */
function manifestsFile(work: string, target: BenchTarget): string {
  return join(work, `manifests-${target}.json`);
}

function command(m: Measurement, work: string, outDir: string): string[] {
  if (m.variant === 'cli') return [join(ROOT, 'dist', 'cli', 'main.js'), 'synth', '--out', outDir];
  const script = join(BENCH_JS, `synth-${m.variant}.js`);
  return m.variant === 'ours' ? [script, String(m.target), outDir] : [script, String(m.target), outDir, manifestsFile(work, m.target)];
}

/** One fresh process, timed from spawn to exit; peak RSS and CPU come from the preloaded reporter. */
function runOnce(m: Measurement, work: string, round: string): Sample {
  const outDir = join(work, `${m.variant}-${m.target}-${round}`);
  const usageFile = join(work, `usage-${process.pid}.json`);
  rmSync(usageFile, { force: true });
  const started = process.hrtime.bigint();
  const child = spawnSync(process.execPath, ['--require', join(BENCH_JS, 'report-usage.js'), ...command(m, work, outDir)], {
    cwd: ROOT,
    env: { ...process.env, BENCH_USAGE_FILE: usageFile },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (child.status !== 0) {
    throw new Error(`${label(m)} failed (exit ${child.status ?? child.signal}):\n${child.stderr || child.stdout}`);
  }
  const usage = JSON.parse(readFileSync(usageFile, 'utf8')) as { maxRssKiB: number; cpuMs: number };
  if (round !== 'warmup') rmSync(outDir, { recursive: true, force: true });
  return { wallMs, maxRssMiB: usage.maxRssKiB / 1024, cpuMs: usage.cpuMs };
}

/**
 * Bare and floor must write the very document ours writes; counts alone could hide drift. The
 * CLI synthesizes the whole bundled policy, which holds more than the in-cluster layer (the
 * Proxmox host adds its own resources and its own groups to the alert rules), so it must contain
 * ours' volumes, scripts and CronJobs unchanged, next to whatever else it adds.
 * Returns the first problem, or undefined when the warm-up outputs of `target` agree.
 */
function outputProblem(work: string, target: BenchTarget, variants: Variant[]): string | undefined {
  const stackId = stackIdFor(target);
  const ours = readStack(join(work, `ours-${target}-warmup`), stackId);
  for (const variant of variants.filter((v) => v !== 'ours')) {
    const doc = readStack(join(work, `${variant}-${target}-warmup`), stackId);
    if (variant === 'cli') {
      for (const [type, resources] of Object.entries(ours.resource ?? {}).filter(([type]) => type !== 'kubernetes_manifest')) {
        const difference = firstDifference(resources, doc.resource?.[type], `$.resource.${type}`);
        if (difference) return `cli ${target}: output differs from ours at ${difference}`;
      }
      continue;
    }
    const a = JSON.stringify(resourceCounts(ours));
    const b = JSON.stringify(resourceCounts(doc));
    if (a !== b) return `${variant} ${target}: resource counts differ from ours: ${b} vs ${a}`;
    const difference = firstDifference(ours, doc);
    if (difference) return `${variant} ${target}: output differs from ours at ${difference}`;
  }
  return undefined;
}

/**
 * Warms up every variant of one workload back to back and compares their outputs. One retry: the
 * host scripts may be edited while the benchmark runs, and a script that changed between two
 * variants' runs is a different input, not a different output.
 */
function warmUpAndVerify(work: string, target: BenchTarget, variants: Variant[]): Record<string, number> {
  for (let attempt = 1; ; attempt++) {
    for (const variant of variants) {
      process.stderr.write(`warm-up ${variant} ${target}\n`);
      runOnce({ variant, target }, work, 'warmup');
      if (variant === 'ours') {
        const ours = readStack(join(work, `ours-${target}-warmup`), stackIdFor(target));
        writeFileSync(manifestsFile(work, target), JSON.stringify(passThroughManifests(ours)));
      }
    }
    const problem = outputProblem(work, target, variants);
    if (!problem) break;
    if (attempt === 2) throw new Error(problem);
    process.stderr.write(`${problem}; warming up again\n`);
  }
  const counts = resourceCounts(readStack(join(work, `ours-${target}-warmup`), stackIdFor(target)));
  for (const variant of variants) rmSync(join(work, `${variant}-${target}-warmup`), { recursive: true, force: true });
  return counts;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function serviceCount(target: BenchTarget): number {
  return target === 'homelab' ? 6 : target;
}

const ms = (n: number) => `${Math.round(n)} ms`;
const ratio = (n: number) => `${n.toFixed(2)}×`;
const met = (ok: boolean) => (ok ? 'met' : '**missed**');

function report(
  options: Options,
  targets: BenchTarget[],
  samples: Map<string, Sample[]>,
  counts: Map<BenchTarget, Record<string, number>>,
  load: { start: number; end: number },
): string {
  const get = (variant: Variant, target: BenchTarget) => samples.get(label({ variant, target }))!;
  const wall = (variant: Variant, target: BenchTarget) => median(get(variant, target).map((s) => s.wallMs));
  const spread = (variant: Variant, target: BenchTarget) => {
    const w = get(variant, target).map((s) => s.wallMs);
    return `${ms(median(w))} (${Math.round(Math.min(...w))}–${Math.round(Math.max(...w))})`;
  };
  const rss = (variant: Variant, target: BenchTarget) => `${Math.round(median(get(variant, target).map((s) => s.maxRssMiB)))} MiB`;
  const cpu = (variant: Variant, target: BenchTarget) => median(get(variant, target).map((s) => s.cpuMs));
  const cpuInfo = cpus();
  const lines: string[] = [];
  lines.push('# Synth benchmark', '');
  lines.push(
    `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; node ${process.version}; ${cpuInfo[0]?.model.trim() ?? 'unknown CPU'}, ` +
      `${cpuInfo.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB; ${osType()} ${release()}. ` +
      // The machine is shared: a load above ~1 means other work competed for the two cores.
      `1-minute load average ${load.start.toFixed(2)} at the start, ${load.end.toFixed(2)} at the end.`,
  );
  lines.push(
    `Median of ${options.runs} runs after one warm-up, each a fresh \`node\` process timed from spawn to exit (range in brackets). ` +
      'ours = `stacks/synth.ts` synthPolicy; bare = the same resources straight from the provider classes (deep imports); ' +
      'floor = the same Terraform JSON from plain objects and `JSON.stringify`, no cdktf. ' +
      '"homelab services" is the bundled policy\'s settings and six services, the in-cluster layer the bare twin mirrors; ' +
      'generated policies cycle through the six engines in the homelab\'s shapes. ' +
      'The alert rules (the PrometheusRule manifest) are rendered by ours; bare and floor get them as data, as a hand-written program would keep them in a file. ' +
      'Bare and floor were checked to write exactly the document ours writes, and the CLI to write the same volumes, scripts and CronJobs as ours.',
    '',
  );
  lines.push('| workload | services | resources | ours | bare cdktf | floor | ours / bare | ours − bare | ours / floor |');
  lines.push('|---|--:|---|--:|--:|--:|--:|--:|--:|');
  for (const t of targets) {
    const c = counts.get(t)!;
    const types = [...Object.keys(SHORT_TYPE).filter((type) => type in c), ...Object.keys(c).filter((type) => !(type in SHORT_TYPE))];
    const resources = types
      .map((type) => `${c[type]} ${SHORT_TYPE[type] ?? type}`)
      .join(', ');
    lines.push(
      `| ${t === 'homelab' ? 'homelab services' : `generated ${t}`} | ${serviceCount(t)} | ${resources} | ${spread('ours', t)} | ${spread('bare', t)} | ${spread('floor', t)} | ` +
        `${ratio(wall('ours', t) / wall('bare', t))} | ${ms(wall('ours', t) - wall('bare', t))} | ${ratio(wall('ours', t) / wall('floor', t))} |`,
    );
  }
  lines.push('', '| workload | peak RSS ours | bare | floor | CPU time ours | bare | floor | ours / bare (CPU) |', '|---|--:|--:|--:|--:|--:|--:|--:|');
  for (const t of targets) {
    lines.push(
      `| ${t} | ${rss('ours', t)} | ${rss('bare', t)} | ${rss('floor', t)} | ${ms(cpu('ours', t))} | ${ms(cpu('bare', t))} | ${ms(cpu('floor', t))} | ` +
        `${ratio(cpu('ours', t) / cpu('bare', t))} |`,
    );
  }
  lines.push(
    '',
    'CPU time (user + system) above wall time is V8\'s background threads (GC, compilation) on the second core; ' +
      'it is less sensitive than wall time to other work on the machine, so its ratio is a cross-check.',
    '',
  );

  lines.push('## Growth (ms per added service, between medians)', '');
  const steps = targets.slice(1).map((t, i) => [targets[i], t] as const);
  lines.push(`| variant | ${steps.map(([a, b]) => `${a} → ${b}`).join(' | ')} |`, `|---|${steps.map(() => '--:').join('|')}|`);
  const slope = (variant: Variant, a: BenchTarget, b: BenchTarget) => (wall(variant, b) - wall(variant, a)) / (serviceCount(b) - serviceCount(a));
  for (const variant of ['ours', 'bare', 'floor'] as const) {
    lines.push(`| ${variant} | ${steps.map(([a, b]) => slope(variant, a, b).toFixed(2)).join(' | ')} |`);
  }
  lines.push('');

  lines.push('## README command', '');
  lines.push('| command | median (range) | peak RSS |', '|---|--:|--:|');
  lines.push(`| \`node dist/cli/main.js synth --out <tmp>\` (the whole bundled homelab policy) | ${spread('cli', 'homelab')} | ${rss('cli', 'homelab')} |`);
  lines.push('', '`npm run synth` runs exactly this command (`npm ci` builds dist/ through the prepare script).', '');

  lines.push('## Targets', '');
  for (const t of targets) {
    const r = wall('ours', t) / wall('bare', t);
    lines.push(
      `- ours at most ${TARGETS.oursOverBare}× bare, ${t}: ${ratio(r)} (+${Math.round((r - 1) * 100)}%; CPU time ${ratio(cpu('ours', t) / cpu('bare', t))}), ` +
        met(r <= TARGETS.oursOverBare),
    );
  }
  const cli = wall('cli', 'homelab');
  lines.push(`- homelab through the README command under ${TARGETS.cliHomelabMs} ms: ${ms(cli)}, ${met(cli < TARGETS.cliHomelabMs)}`);
  if (targets.includes(1000)) {
    lines.push(`- 1,000 services under ${TARGETS.thousandMs} ms: ${ms(wall('ours', 1000))}, ${met(wall('ours', 1000) < TARGETS.thousandMs)}`);
  }
  if (steps.length >= 2) {
    const first = slope('ours', ...steps[0]);
    const last = slope('ours', ...steps[steps.length - 1]);
    lines.push(
      `- linear growth (the last step's ms per service at most ${TARGETS.slopeRatio}× the first's): ` +
        `${last.toFixed(2)} vs ${first.toFixed(2)} ms per service, ${ratio(last / first)}, ${met(last / first <= TARGETS.slopeRatio)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function main(argv: string[]): void {
  const options = parseArgs(argv);
  const missing = [
    ...HOST_SCRIPTS.map((f) => join(ROOT, 'host-scripts', f)),
    ...['synth-ours', 'synth-bare', 'synth-floor', 'report-usage'].map((f) => join(BENCH_JS, `${f}.js`)),
    join(ROOT, 'dist', 'cli', 'main.js'),
  ].filter((f) => !existsSync(f));
  if (missing.length > 0) throw new Error(`missing (run \`npx tsc -p .\` first?):\n  ${missing.join('\n  ')}`);

  const targets: BenchTarget[] = ['homelab', ...[...options.sizes].sort((a, b) => a - b)];
  const measurements: Measurement[] = [
    ...targets.flatMap((target) => (['ours', 'bare', 'floor'] as const).map((variant) => ({ variant, target }))),
    { variant: 'cli', target: 'homelab' },
  ];
  const loadStart = loadavg()[0];
  const work = mkdtempSync(join(tmpdir(), 'backup-policy-bench-'));
  try {
    const counts = new Map<BenchTarget, Record<string, number>>();
    for (const target of targets) {
      counts.set(target, warmUpAndVerify(work, target, measurements.filter((m) => m.target === target).map((m) => m.variant)));
    }

    const samples = new Map<string, Sample[]>(measurements.map((m) => [label(m), []]));
    for (let round = 0; round < options.runs; round++) {
      process.stderr.write(`round ${round + 1}/${options.runs}\n`);
      for (let k = 0; k < measurements.length; k++) {
        const m = measurements[(k + round) % measurements.length];
        samples.get(label(m))!.push(runOnce(m, work, String(round)));
      }
    }
    const markdown = report(options, targets, samples, counts, { start: loadStart, end: loadavg()[0] });
    process.stdout.write(markdown);
    if (options.write) writeFileSync(RESULTS, withOtherSections(markdown));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The synth report replaces only its own part of results.md: the pipeline benchmark keeps its
 * sections there between `<!-- pipeline:... begin/end -->` markers, which are carried over.
 */
function withOtherSections(synth: string): string {
  const previous = existsSync(RESULTS) ? readFileSync(RESULTS, 'utf8') : '';
  const first = previous.indexOf('<!-- pipeline:');
  return first === -1 ? synth : `${synth.trimEnd()}\n\n${previous.slice(first)}`;
}

main(process.argv.slice(2));
