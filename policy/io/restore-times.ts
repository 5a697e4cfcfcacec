import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EnvironmentError } from '../values/errors';
import type { MeasuredRestoreTimes } from '../values/restore-times';
import { packageRoot } from './scripts';

/** The committed file the restore benchmark writes (bench/pipeline/run.ts). */
export function restoreTimesFile(): string {
  return join(packageRoot(), 'bench', 'restore-times.json');
}

/**
 * The measured restore times for the RPO/RTO document, or undefined when the file does not exist
 * (a package without the benchmark's results). A file that exists but does not hold what the
 * benchmark writes is an error naming the field, what it holds and what is allowed.
 */
export function readRestoreTimes(file = restoreTimesFile()): MeasuredRestoreTimes | undefined {
  if (!existsSync(file)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new EnvironmentError(`${file}: not JSON (${(e as Error).message})`);
  }
  return checkRestoreTimes(value, file);
}

type Json = Record<string, unknown>;

export function checkRestoreTimes(value: unknown, file: string): MeasuredRestoreTimes {
  const at = (path: string, key: string) => (path ? `${path}.${key}` : key);
  const fail = (path: string, got: unknown, allowed: string): never => {
    throw new EnvironmentError(`${file}: ${path || 'the file'} is ${JSON.stringify(got)}; expected ${allowed}`);
  };
  const object = (v: unknown, path: string): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : fail(path, v, 'an object'));
  const text = (o: Json, key: string, path: string): string => (typeof o[key] === 'string' && o[key] !== '' ? (o[key] as string) : fail(at(path, key), o[key], 'a non-empty string'));
  const number = (o: Json, key: string, path: string): number =>
    typeof o[key] === 'number' && Number.isFinite(o[key]) && (o[key] as number) >= 0 ? (o[key] as number) : fail(at(path, key), o[key], 'a number >= 0');
  const oneOf = <T extends string>(o: Json, key: string, path: string, allowed: readonly T[]): T =>
    allowed.includes(o[key] as T) ? (o[key] as T) : fail(at(path, key), o[key], `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
  const timing = (v: unknown, path: string) => {
    const o = object(v, path);
    const t = { medianSeconds: number(o, 'medianSeconds', path), minSeconds: number(o, 'minSeconds', path), maxSeconds: number(o, 'maxSeconds', path), runs: number(o, 'runs', path) };
    if (!(t.minSeconds <= t.medianSeconds && t.medianSeconds <= t.maxSeconds)) fail(path, o, 'minSeconds <= medianSeconds <= maxSeconds');
    if (!Number.isInteger(t.runs) || t.runs < 1) fail(`${path}.runs`, o.runs, 'a whole number of runs >= 1');
    return t;
  };
  const root = object(value, '');
  const load = object(root.loadAverage, 'loadAverage');
  if (!Array.isArray(root.restores) || root.restores.length === 0) fail('restores', root.restores, 'a non-empty list');
  const restores = (root.restores as unknown[]).map((r, i) => {
    const path = `restores[${i}]`;
    const o = object(r, path);
    const databases = Array.isArray(o.databases) && o.databases.length > 0 && o.databases.every((d) => typeof d === 'string') ? (o.databases as string[]) : fail(`${path}.databases`, o.databases, 'a non-empty list of names');
    return {
      engine: oneOf(o, 'engine', path, ['postgres', 'mysql'] as const),
      mode: oneOf(o, 'mode', path, ['full', 'per-database'] as const),
      server: text(o, 'server', path),
      databases,
      dumpBytes: number(o, 'dumpBytes', path),
      copyBytes: number(o, 'copyBytes', path),
      script: timing(o.script, `${path}.script`),
      tool: { command: text(object(o.tool, `${path}.tool`), 'command', `${path}.tool`), ...timing(o.tool, `${path}.tool`) },
    };
  });
  return {
    measuredAt: text(root, 'measuredAt', ''),
    machine: text(root, 'machine', ''),
    loadAverage: { start: number(load, 'start', 'loadAverage'), end: number(load, 'end', 'loadAverage') },
    source: text(root, 'source', ''),
    command: text(root, 'command', ''),
    restores,
  };
}
