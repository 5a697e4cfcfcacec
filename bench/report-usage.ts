import { writeFileSync } from 'node:fs';

/**
 * Preloaded into every measured process (`node --require dist/bench/report-usage.js ...`), so the
 * variants and the CLI need no measuring code of their own: at exit it writes the process's peak
 * RSS and CPU time to the file named by BENCH_USAGE_FILE. GNU time is not on every machine.
 */
const file = process.env.BENCH_USAGE_FILE;
if (file) {
  process.on('exit', () => {
    const usage = process.resourceUsage();
    writeFileSync(file, JSON.stringify({ maxRssKiB: usage.maxRSS, cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000 }));
  });
}
