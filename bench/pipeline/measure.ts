/**
 * Timing primitives of the pipeline benchmark: whole processes timed from spawn to exit, variants of
 * one comparison alternated round-robin with the order rotated each round, medians and ranges.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface Sample {
  wallMs: number;
  /** user + system CPU of the command's process tree (from /usr/bin/time), servers excluded. */
  cpuMs: number;
}

export interface Command {
  /** A bash script (`bash -c`), so pipelines are written as an operator would type them. */
  script: string;
  env: Record<string, string>;
}

const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Runs one command with a clean environment (PATH, TMPDIR and the given variables, as the CronJob's
 * container has), stdout discarded; throws with its stderr when it fails.
 */
export async function timeCommand(cmd: Command, tmpdir: string): Promise<Sample> {
  const timeFile = path.join(tmpdir, '.time');
  const env = { PATH: BASE_PATH, TMPDIR: tmpdir, ...cmd.env };
  const started = process.hrtime.bigint();
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%U %S', '-o', timeFile, 'bash', '-c', cmd.script], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const err: Buffer[] = [];
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, stderr: Buffer.concat(err).toString('utf8') }));
  });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (code !== 0) throw new Error(`exit ${code}: ${cmd.script}\n${stderr.split('\n').slice(-15).join('\n')}`);
  const [user, sys] = fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  fs.rmSync(timeFile, { force: true });
  return { wallMs, cpuMs: (user + sys) * 1000 };
}

export interface Variant {
  name: string;
  /** Untimed set-up before each run (drop the restored databases, empty the target directory). */
  before?: () => Promise<void>;
  command: () => Command;
  /** Untimed check after each run; returns the bytes the run wrote (0 for /dev/null). */
  after?: () => Promise<number>;
  /** Fewer runs for a slow baseline (gzip -9), so it does not dominate the benchmark's time. */
  maxRuns?: number;
}

export interface Result {
  name: string;
  samples: Sample[];
  bytes: number;
}

/** Runs each variant `runs` times, alternating: round r starts at variant r mod n. */
export async function alternate(variants: Variant[], runs: number, tmpdir: string, log: (s: string) => void): Promise<Result[]> {
  const results = variants.map((v) => ({ name: v.name, samples: [] as Sample[], bytes: 0 }));
  for (let round = 0; round < runs; round++) {
    for (let k = 0; k < variants.length; k++) {
      const i = (round + k) % variants.length;
      const v = variants[i];
      if (round >= (v.maxRuns ?? runs)) continue;
      if (v.before) await v.before();
      const s = await timeCommand(v.command(), tmpdir);
      if (v.after) results[i].bytes = await v.after();
      results[i].samples.push(s);
      log(`  ${v.name} run ${round + 1}: ${(s.wallMs / 1000).toFixed(2)} s wall, ${(s.cpuMs / 1000).toFixed(2)} s cpu`);
    }
  }
  return results;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function seconds(ms: number): string {
  return (ms / 1000).toFixed(2);
}

/** "5.69 s (5.41–6.02)" */
export function wallSummary(r: Result): string {
  const w = r.samples.map((s) => s.wallMs);
  return `${seconds(median(w))} s (${seconds(Math.min(...w))}–${seconds(Math.max(...w))})`;
}

export function cpuSummary(r: Result): string {
  return `${seconds(median(r.samples.map((s) => s.cpuMs)))} s`;
}

export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

export function machine(): string {
  const cpu = os.cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
  return `node ${process.version}; ${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB; Linux ${os.release()}`;
}

export function loadAverage(): string {
  return os.loadavg()[0].toFixed(2);
}

/** Total bytes of regular files under `dir`. */
export function treeBytes(dir: string): number {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += fs.statSync(path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).size;
  }
  return total;
}
