import type { BackupPlan } from '../../plan/plan';
import type { Schedule } from '../../values/schedule';

/** A job on the timeline: CronJobs and host timers alike. */
export interface TimelineJob {
  section: string;
  name: string;
  schedule: Schedule;
  /** The zone the job's schedule runs in (host timers may run in another zone than the cluster's). */
  timeZone: string;
  /** Drawn length of each run: long enough to see overlaps, not a measurement. */
  minutes: number;
}

/** Wall-clock parts of an instant in a time zone (Intl, so DST follows the zone's rules). */
function local(date: Date, timeZone: string): { day: string; time: string } {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
      .formatToParts(date)
      .map((p) => [p.type, p.value]),
  );
  return { day: `${parts.year}-${parts.month}-${parts.day}`, time: `${parts.hour}:${parts.minute}` };
}

/**
 * The instant of a local midnight in a zone: the reference week starts on the policy zone's own
 * Monday, not on UTC's (a zone west of UTC would otherwise draw Sunday evening as Monday).
 */
function midnightIn(date: string, timeZone: string): Date {
  const target = Date.parse(`${date}T00:00:00Z`);
  const wallClock = (t: number) => {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat('en-GB', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })
        .formatToParts(new Date(t))
        .map((p) => [p.type, p.value]),
    );
    return Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  };
  // Two steps settle the zone's offset at that instant (January: no DST change nearby).
  let guess = target - (wallClock(target) - target);
  guess = target - (wallClock(guess) - guess);
  return new Date(guess);
}

/** The job's runs in [from, to), computed in the job's own zone: instants, drawn in the display zone. */
function runs(job: TimelineJob, from: Date, to: Date): Date[] {
  return job.schedule.runsBetween(from, to, job.timeZone);
}

/**
 * Mermaid gantt charts of one day and one week in the policy's time zone. The reference week is
 * fixed (a winter week, Monday to Sunday) so the generated docs do not change with the clock.
 */
export function renderTimeline(jobs: TimelineJob[], timeZone: string): string {
  const weekStart = midnightIn('2026-01-05', timeZone);
  const weekEnd = new Date(weekStart.getTime() + 7 * 86400_000);
  // The day drawn is the week's busiest one (the spec's own timeline is its Sunday).
  const days = Array.from({ length: 7 }, (_, i) => new Date(weekStart.getTime() + i * 86400_000));
  const runsOn = (start: Date) => jobs.reduce((n, j) => n + runs(j, start, new Date(start.getTime() + 86400_000)).length, 0);
  const dayStart = days.reduce((best, d) => (runsOn(d) > runsOn(best) ? d : best));
  const dayEnd = new Date(dayStart.getTime() + 86400_000);
  const sections = [...new Set(jobs.map((j) => j.section))];
  const day: string[] = [];
  const week: string[] = [];
  for (const section of sections) {
    const lines = jobs
      .filter((j) => j.section === section)
      .flatMap((job) => runs(job, dayStart, dayEnd).map((run) => `  ${job.name} :${local(run, timeZone).time}, ${job.minutes}m`));
    if (lines.length > 0) day.push(`  section ${section}`, ...lines);
    const weekly = jobs.filter((j) => j.section === section && j.schedule.shortestGap.totalSeconds >= 86400);
    if (weekly.length > 0) week.push(`  section ${section}`);
    for (const job of weekly) {
      for (const run of runs(job, weekStart, weekEnd)) {
        const at = local(run, timeZone);
        week.push(`  ${job.name} :${at.day} ${at.time}, ${job.minutes}m`);
      }
    }
  }
  return `# Schedule timeline

Generated from the backup policy. Do not edit: run \`npm run generate\`. All times in ${timeZone}; bars are ${[...new Set(jobs.map((j) => j.minutes))].sort((a, b) => a - b).join(' or ')} minutes long to make overlaps visible, not measured durations.

## The busiest day (${new Intl.DateTimeFormat('en-GB', { weekday: 'long', timeZone }).format(dayStart)}, ${local(dayStart, timeZone).day})

\`\`\`mermaid
gantt
  dateFormat HH:mm
  axisFormat %H:%M
${day.join('\n')}
\`\`\`

## A week (jobs that run at most daily)

\`\`\`mermaid
gantt
  dateFormat YYYY-MM-DD HH:mm
  axisFormat %a %H:%M
${week.join('\n')}
\`\`\`

| job | schedule | cron |
|---|---|---|
${jobs.map((j) => `| ${j.section} / ${j.name} | ${j.schedule.toHuman()}${j.timeZone === timeZone ? '' : ` (${j.timeZone})`} | \`${j.schedule.cron}\` |`).join('\n')}
`;
}

export function clusterTimelineJobs(plan: BackupPlan): TimelineJob[] {
  return plan.services.flatMap((service) =>
    [
      ...service.jobs.map((job) => ({ section: service.id, name: job.name, schedule: job.schedule, timeZone: job.timeZone, minutes: job.checksIntegrity ? 5 : 15 })),
      // A drill restores a whole copy into a fresh server: drawn longer than a dump.
      ...service.drills.map((drill) => ({ section: service.id, name: drill.name, schedule: drill.schedule, timeZone: drill.timeZone, minutes: 30 })),
    ],
  );
}
