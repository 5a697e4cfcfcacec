/**
 * Restore times measured by the pipeline benchmark (bench/pipeline/run.ts writes them to
 * bench/restore-times.json; policy/io/restore-times.ts reads and checks them; the RPO/RTO document
 * shows them). Plain data: the renderers receive it, they never read the file.
 */

/** Median and range of one variant's wall times, in seconds. */
export interface TimingSummary {
  medianSeconds: number;
  minSeconds: number;
  maxSeconds: number;
  runs: number;
}

/** One engine and restore mode: the restore script beside the engine's own tool. */
export interface MeasuredRestore {
  engine: 'postgres' | 'mysql';
  mode: 'full' | 'per-database';
  /** The server restored into, as "PostgreSQL 15". */
  server: string;
  databases: string[];
  /** Size of the uncompressed dump of what was restored, and of the job's compressed copies. */
  dumpBytes: number;
  copyBytes: number;
  script: TimingSummary;
  tool: TimingSummary & { command: string };
}

export interface MeasuredRestoreTimes {
  /** "YYYY-MM-DD HH:MM UTC" */
  measuredAt: string;
  machine: string;
  loadAverage: { start: number; end: number };
  /** Where the full results are (bench/results.md and its section). */
  source: string;
  /** The command that measured them. */
  command: string;
  restores: MeasuredRestore[];
}
