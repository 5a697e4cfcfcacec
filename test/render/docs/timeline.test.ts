/**
 * renderTimeline on a daily and a weekly job, with and without host timers in another zone
 * than the policy's. The reference week is fixed (Monday 2026-01-05 to Sunday 2026-01-11, winter:
 * London is UTC+0, New York UTC-5), so every bar's time can be worked out by hand.
 */
import { planPolicy, type BackupPlan } from '../../../policy/plan/plan';
import { hostTimelineJobs } from '../../../policy/render/docs/host-runbooks';
import { clusterTimelineJobs, renderTimeline } from '../../../policy/render/docs/timeline';
import { pgService, policyOf, redisService, smallHost } from '../small-policies';

function timelineOf(plan: BackupPlan): string {
  return renderTimeline([...clusterTimelineJobs(plan), ...(plan.host ? hostTimelineJobs(plan.host) : [])], plan.timeZone);
}

const weekOf = (name: string, time: string, minutes: number) => [5, 6, 7, 8, 9, 10, 11].map((d) => `  ${name} :2026-01-${String(d).padStart(2, '0')} ${time}, ${minutes}m`);

describe('renderTimeline', () => {
  test('a daily and a weekly job: Sunday is the busiest day; the week shows both', () => {
    const plan = planPolicy(policyOf({ pg: pgService, cache: redisService }));
    expect(timelineOf(plan)).toBe(
      [
        '# Schedule timeline',
        '',
        'Generated from the backup policy. Do not edit: run `npm run generate`. All times in Europe/London; bars are 15 minutes long to make overlaps visible, not measured durations.',
        '',
        '## The busiest day (Sunday, 2026-01-11)',
        '',
        '```mermaid',
        'gantt',
        '  dateFormat HH:mm',
        '  axisFormat %H:%M',
        '  section cache',
        '  cache-backup :03:00, 15m',
        '  section pg',
        '  pg-full-backup :00:00, 15m',
        '```',
        '',
        '## A week (jobs that run at most daily)',
        '',
        '```mermaid',
        'gantt',
        '  dateFormat YYYY-MM-DD HH:mm',
        '  axisFormat %a %H:%M',
        '  section cache',
        '  cache-backup :2026-01-11 03:00, 15m',
        '  section pg',
        ...weekOf('pg-full-backup', '00:00', 15),
        '```',
        '',
        '| job | schedule | cron |',
        '|---|---|---|',
        '| cache / cache-backup | At 03:00, only on Sunday | `0 3 * * 0` |',
        '| pg / pg-full-backup | At 00:00 | `0 0 * * *` |',
        '',
      ].join('\n'),
    );
  });

  test('host timers in New York drawn in London time: 22:00 -> 03:00 next day, 05:00 -> 10:00, 06:00 -> 11:00', () => {
    const host = smallHost({ timeZone: 'America/New_York', snapshots: { ...smallHost().snapshots, schedule: 'daily at 22:00' } });
    const plan = planPolicy(policyOf({ pg: pgService, cache: redisService }, { host }));
    expect(timelineOf(plan)).toBe(
      [
        '# Schedule timeline',
        '',
        'Generated from the backup policy. Do not edit: run `npm run generate`. All times in Europe/London; bars are 15 or 30 minutes long to make overlaps visible, not measured durations.',
        '',
        '## The busiest day (Sunday, 2026-01-11)',
        '',
        '```mermaid',
        'gantt',
        '  dateFormat HH:mm',
        '  axisFormat %H:%M',
        '  section cache',
        '  cache-backup :03:00, 15m',
        '  section pg',
        '  pg-full-backup :00:00, 15m',
        '  section host pve',
        // Saturday 22:00 in New York is Sunday 03:00 in London.
        '  lvm-pvc-snapshot :03:00, 30m',
        '  daily-backup :10:00, 30m',
        '  offsite-sync-backup :11:00, 30m',
        '```',
        '',
        '## A week (jobs that run at most daily)',
        '',
        '```mermaid',
        'gantt',
        '  dateFormat YYYY-MM-DD HH:mm',
        '  axisFormat %a %H:%M',
        '  section cache',
        '  cache-backup :2026-01-11 03:00, 15m',
        '  section pg',
        ...weekOf('pg-full-backup', '00:00', 15),
        '  section host pve',
        ...weekOf('lvm-pvc-snapshot', '03:00', 30),
        ...weekOf('daily-backup', '10:00', 30),
        ...weekOf('offsite-sync-backup', '11:00', 30),
        '```',
        '',
        '| job | schedule | cron |',
        '|---|---|---|',
        '| cache / cache-backup | At 03:00, only on Sunday | `0 3 * * 0` |',
        '| pg / pg-full-backup | At 00:00 | `0 0 * * *` |',
        '| host pve / lvm-pvc-snapshot | At 22:00 (America/New_York) | `0 22 * * *` |',
        '| host pve / daily-backup | At 05:00 (America/New_York) | `0 5 * * *` |',
        '| host pve / offsite-sync-backup | At 06:00 (America/New_York) | `0 6 * * *` |',
        '',
      ].join('\n'),
    );
  });

  test('the same host in the policy zone: its bars sit at the declared times, without a zone note', () => {
    const plan = planPolicy(policyOf({ pg: pgService }, { host: smallHost() }));
    const lines = timelineOf(plan).split('\n');
    expect(lines.slice(lines.indexOf('  section host pve'), lines.indexOf('  section host pve') + 4)).toEqual([
      '  section host pve',
      '  lvm-pvc-snapshot :03:00, 30m',
      '  daily-backup :05:00, 30m',
      '  offsite-sync-backup :06:00, 30m',
    ]);
    expect(lines.slice(-4)).toEqual([
      '| host pve / lvm-pvc-snapshot | At 03:00 | `0 3 * * *` |',
      '| host pve / daily-backup | At 05:00 | `0 5 * * *` |',
      '| host pve / offsite-sync-backup | At 06:00 | `0 6 * * *` |',
      '',
    ]);
  });

  test('jobs more frequent than daily: on the day chart only, 5-minute bars for the integrity check', () => {
    const plan = planPolicy(
      policyOf({
        vw: {
          engine: 'sqlite',
          namespace: 'vaultwarden',
          schedule: 'every 6h',
          data: { claimName: 'vw-data', database: 'db.sqlite3' },
          integrityCheck: { schedule: '30 */8 * * *' },
          retention: { keepWithin: '30d', keepLast: 8 },
        },
      }),
    );
    expect(timelineOf(plan)).toBe(
      [
        '# Schedule timeline',
        '',
        'Generated from the backup policy. Do not edit: run `npm run generate`. All times in Europe/London; bars are 5 or 15 minutes long to make overlaps visible, not measured durations.',
        '',
        // Every day has the same runs; the first one wins.
        '## The busiest day (Monday, 2026-01-05)',
        '',
        '```mermaid',
        'gantt',
        '  dateFormat HH:mm',
        '  axisFormat %H:%M',
        '  section vw',
        '  vw-backup :00:00, 15m',
        '  vw-backup :06:00, 15m',
        '  vw-backup :12:00, 15m',
        '  vw-backup :18:00, 15m',
        '  vw-integrity-check :00:30, 5m',
        '  vw-integrity-check :08:30, 5m',
        '  vw-integrity-check :16:30, 5m',
        '```',
        '',
        '## A week (jobs that run at most daily)',
        '',
        '```mermaid',
        'gantt',
        '  dateFormat YYYY-MM-DD HH:mm',
        '  axisFormat %a %H:%M',
        '',
        '```',
        '',
        '| job | schedule | cron |',
        '|---|---|---|',
        '| vw / vw-backup | On the hour, every 6 hours | `0 */6 * * *` |',
        '| vw / vw-integrity-check | At 30 minutes past the hour, every 8 hours | `30 */8 * * *` |',
        '',
      ].join('\n'),
    );
  });

  test("a policy west of UTC: the day and the week are the policy zone's own", () => {
    // The reference week is Monday 2026-01-05 00:00 to Sunday 2026-01-11 24:00 in New York: the
    // weekly run of Sunday 2026-01-04 21:00 (Monday 02:00 UTC) belongs to the week before, and
    // the busiest day's weekday and date are both New York's.
    const plan = planPolicy(
      policyOf(
        {
          pg: pgService,
          cache: { ...redisService, schedule: 'weekly on sunday at 21:00' },
        },
        { timeZone: 'America/New_York' },
      ),
    );
    expect(timelineOf(plan)).toBe(
      [
        '# Schedule timeline',
        '',
        'Generated from the backup policy. Do not edit: run `npm run generate`. All times in America/New_York; bars are 15 minutes long to make overlaps visible, not measured durations.',
        '',
        '## The busiest day (Sunday, 2026-01-11)',
        '',
        '```mermaid',
        'gantt',
        '  dateFormat HH:mm',
        '  axisFormat %H:%M',
        '  section cache',
        '  cache-backup :21:00, 15m',
        '  section pg',
        '  pg-full-backup :00:00, 15m',
        '```',
        '',
        '## A week (jobs that run at most daily)',
        '',
        '```mermaid',
        'gantt',
        '  dateFormat YYYY-MM-DD HH:mm',
        '  axisFormat %a %H:%M',
        '  section cache',
        '  cache-backup :2026-01-11 21:00, 15m',
        '  section pg',
        ...weekOf('pg-full-backup', '00:00', 15),
        '```',
        '',
        '| job | schedule | cron |',
        '|---|---|---|',
        '| cache / cache-backup | At 21:00, only on Sunday | `0 21 * * 0` |',
        '| pg / pg-full-backup | At 00:00 | `0 0 * * *` |',
        '',
      ].join('\n'),
    );
  });
});

describe('clusterTimelineJobs', () => {
  test('every CronJob under its service, in the policy zone; integrity checks get shorter bars', () => {
    const plan = planPolicy(
      policyOf({
        pg: { ...pgService, perDatabase: { schedule: 'daily at 00:15' } },
        vw: {
          engine: 'sqlite',
          namespace: 'vaultwarden',
          schedule: 'every 6h',
          data: { claimName: 'vw-data', database: 'db.sqlite3' },
          integrityCheck: { schedule: 'hourly' },
          retention: { keepWithin: '30d', keepLast: 8 },
        },
      }),
    );
    expect(clusterTimelineJobs(plan).map((j) => ({ ...j, schedule: j.schedule.cron }))).toEqual([
      { section: 'pg', name: 'pg-full-backup', schedule: '0 0 * * *', timeZone: 'Europe/London', minutes: 15 },
      { section: 'pg', name: 'pg-per-db-backup', schedule: '15 0 * * *', timeZone: 'Europe/London', minutes: 15 },
      { section: 'vw', name: 'vw-backup', schedule: '0 */6 * * *', timeZone: 'Europe/London', minutes: 15 },
      { section: 'vw', name: 'vw-integrity-check', schedule: '0 * * * *', timeZone: 'Europe/London', minutes: 5 },
    ]);
  });

  test('drill CronJobs under their service, with longer bars than a dump', () => {
    const plan = planPolicy(policyOf({ pg: pgService }, { drills: { schedule: 'weekly on sunday at 04:00' } }));
    expect(clusterTimelineJobs(plan).map((j) => ({ ...j, schedule: j.schedule.cron }))).toEqual([
      { section: 'pg', name: 'pg-full-backup', schedule: '0 0 * * *', timeZone: 'Europe/London', minutes: 15 },
      { section: 'pg', name: 'pg-full-drill', schedule: '0 4 * * 0', timeZone: 'Europe/London', minutes: 30 },
    ]);
  });
});
