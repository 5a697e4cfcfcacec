import { Schedule } from '../../policy/values/schedule';
import { planPolicy } from '../../policy/plan/plan';
import { homelabPolicy } from '../../stacks/homelab-policy';

/**
 * Schedules that validate but do not run as written: a local time inside a spring-forward gap
 * never happens (systemd and the CronJob controller skip it), one inside a fall-back overlap
 * happens twice. 2026: Europe/London changes on 29 March (01:00 -> 02:00) and 25 October
 * (02:00 -> 01:00); America/New_York on 8 March (02:00 -> 03:00) and 1 November.
 */
const YEAR_2026: [Date, Date] = [new Date('2026-01-01T00:00:00Z'), new Date('2027-01-01T00:00:00Z')];

describe('Schedule.dstProblems', () => {
  test.each([
    ['weekly on sunday at 01:00', 'Europe/London', [['gap', '2026-03-29 01:00'], ['overlap', '2026-10-25 01:00']]],
    ['30 1 * * *', 'Europe/London', [['gap', '2026-03-29 01:30'], ['overlap', '2026-10-25 01:30']]],
    ['daily at 02:30', 'America/New_York', [['gap', '2026-03-08 02:30']]],
    ['daily at 01:15', 'America/New_York', [['overlap', '2026-11-01 01:15']]],
    // Every minute of the hour: each of the 60 gap minutes is reported once.
    ['*/30 * * * *', 'Europe/London', [['gap', '2026-03-29 01:00'], ['gap', '2026-03-29 01:30'], ['overlap', '2026-10-25 01:00'], ['overlap', '2026-10-25 01:30']]],
    // A day restriction that excludes the change day: nothing to report.
    ['0 1 * * 6', 'Europe/London', []],
    // Day of month OR day of week, as cron reads it: the 29th matches even though it is no Monday.
    ['0 1 29 * 1', 'Europe/London', [['gap', '2026-03-29 01:00']]],
    ['weekly on sunday at 02:30', 'Europe/London', []],
    ['daily at 01:00', 'UTC', []],
  ] as const)('%s in %s', (text, zone, expected) => {
    const problems = Schedule.parse(text).dstProblems(zone, ...YEAR_2026).map((p) => [p.kind, p.localTime]);
    expect(problems).toEqual(expected);
  });

  test('half-hour changes are found to the minute (Lord Howe Island: 02:00 -> 01:30 in April, 02:00 -> 02:30 in October)', () => {
    const problems = (text: string) => Schedule.parse(text).dstProblems('Australia/Lord_Howe', ...YEAR_2026).map((p) => [p.kind, p.localTime]);
    expect(problems('15 2 * * *')).toEqual([['gap', '2026-10-04 02:15']]);
    expect(problems('45 1 * * *')).toEqual([['overlap', '2026-04-05 01:45']]);
    expect(problems('35 2 * * *')).toEqual([]);
  });

  test('the instant of the change is reported', () => {
    const [gap] = Schedule.parse('0 1 * * 0').dstProblems('Europe/London', ...YEAR_2026);
    expect(gap.change.toISOString()).toBe('2026-03-29T01:00:00.000Z');
  });
});

test('no job of the bundled homelab policy falls into a clock change in its zone', () => {
  const plan = planPolicy(homelabPolicy);
  const problems = plan.services.flatMap((service) =>
    service.jobs.flatMap((job) => job.schedule.dstProblems(plan.timeZone, new Date('2026-01-01T00:00:00Z'), new Date('2031-01-01T00:00:00Z')).map((p) => `${service.id}/${job.kind}: ${p.kind} ${p.localTime}`)),
  );
  // Hourly and sub-daily jobs repeat in the overlap by nature; what matters is no skipped run of a
  // daily or weekly job.
  expect(problems.filter((p) => !p.startsWith('vaultwarden/'))).toEqual([]);
});
