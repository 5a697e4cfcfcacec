/**
 * Dump time, restore time and size per engine, the start of a measured RTO. Printed as one line per
 * measurement and merged into test/integration/.timings.json (not committed; the numbers depend on
 * the machine) for the release notes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Timing {
  /** Wall time of the backup pod, from start to exit, verification included. */
  dumpSeconds: number;
  /** Wall time of the restore into a fresh server, comparison excluded. */
  restoreSeconds: number;
  /** Bytes of the backup files the job wrote. */
  bytes: number;
  /** What was backed up, in words (rows, keys). */
  data: string;
}

const FILE = path.resolve(__dirname, '..', 'integration', '.timings.json');

function withLock<T>(fn: () => T): T {
  const lock = `${FILE}.lock`;
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      fs.closeSync(fs.openSync(lock, 'wx'));
      break;
    } catch {
      if (Date.now() > deadline) fs.rmSync(lock, { force: true });
      // Two jest workers may record at once; the other one holds the lock for a millisecond.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

export function recordTiming(key: string, t: Timing): void {
  const line = `[rto] ${key}: dump ${t.dumpSeconds.toFixed(2)} s, restore ${t.restoreSeconds.toFixed(2)} s, ${(t.bytes / 1048576).toFixed(2)} MiB (${t.data})`;
  // eslint-disable-next-line no-console
  console.log(line);
  withLock(() => {
    let all: Record<string, Timing & { at: string }> = {};
    try {
      all = JSON.parse(fs.readFileSync(FILE, 'utf8'));
    } catch {
      all = {};
    }
    all[key] = { ...t, at: new Date().toISOString() };
    fs.writeFileSync(FILE, `${JSON.stringify(all, null, 2)}\n`);
  });
}
