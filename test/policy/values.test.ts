import { Duration } from '../../policy/values/duration';
import { Schedule } from '../../policy/values/schedule';
import { Retention } from '../../policy/values/retention';
import { staleAfter } from '../../policy/plan/plan';

describe('Duration.parse', () => {
  test.each([
    ['90s', 90],
    ['30m', 1800],
    ['36h', 129600],
    ['14d', 1209600],
    ['2w', 1209600],
    ['1d12h', 129600],
    ['1w2d3h4m5s', 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5],
  ])('%s is %i seconds', (text, seconds) => {
    expect(Duration.parse(text).totalSeconds).toBe(seconds);
  });

  test.each(['', '0d', '-3d', '3', 'd', '1.5h', '3 days', '1h1d', '1d1d', '14D', 'abc'])('rejects "%s"', (text) => {
    expect(Duration.tryParse(text)).toBeUndefined();
    expect(() => Duration.parse(text)).toThrow(`invalid duration "${text}"`);
  });

  test.each([
    [Duration.hours(36), '1d12h', '36 hours'],
    [Duration.days(8), '8d', '8 days'],
    [Duration.hours(9), '9h', '9 hours'],
    [Duration.minutes(90), '1h30m', '1 hour 30 minutes'],
    [Duration.days(14), '14d', '14 days'],
  ])('%p renders as %s and "%s"', (duration, compact, human) => {
    expect(duration.toString()).toBe(compact);
    expect(duration.toHuman()).toBe(human);
  });
});

describe('Schedule', () => {
  test.each([
    ['hourly', '0 * * * *', 3600],
    ['daily', '0 0 * * *', 86400],
    ['daily at 00:15', '15 0 * * *', 86400],
    ['Daily at 5:00', '0 5 * * *', 86400],
    ['weekly', '0 0 * * 0', 604800],
    ['weekly on sunday at 01:00', '0 1 * * 0', 604800],
    ['every 6h', '0 */6 * * *', 21600],
    ['every 6 hours', '0 */6 * * *', 21600],
    ['every 30m', '*/30 * * * *', 1800],
    ['@daily', '0 0 * * *', 86400],
    // Uneven: 00:00, 05:00 ... 20:00 then a 4-hour wait to midnight is the shortest; 5 h the longest.
    ['every 5h', '0 */5 * * *', 18000],
    // Weekdays only: Friday to Monday is the longest gap.
    ['0 2 * * 1-5', '0 2 * * 1-5', 3 * 86400],
    // The 31st skips short months: the longest gap spans August 31 to October 31.
    ['0 0 31 * *', '0 0 31 * *', 61 * 86400],
    ['0 3 29 2 *', '0 3 29 2 *', 4 * 365 * 86400 + 86400],
  ])('"%s" runs as cron "%s", longest gap %i s', (text, cron, gap) => {
    const schedule = Schedule.parse(text);
    expect(schedule.cron).toBe(cron);
    expect(schedule.longestGap.totalSeconds).toBe(gap);
  });

  test('shortest and longest gap differ for uneven schedules', () => {
    const schedule = Schedule.parse('every 5h');
    expect(schedule.shortestGap.totalSeconds).toBe(4 * 3600);
  });

  test.each([
    ['61 * * * *', 'not a valid cron expression'],
    ['* * * *', 'expected 5 cron fields'],
    ['0 0 * * * *', 'expected 5 cron fields'],
    ['daily at 25:00', 'not a recognized shorthand'],
    ['every 0h', 'not a recognized shorthand'],
    ['fortnightly', 'not a recognized shorthand'],
  ])('rejects "%s"', (text, message) => {
    expect(Schedule.tryParse(text)).toEqual(expect.stringContaining(message));
  });

  test.each([
    ['daily at 05:00', '*-*-* 05:00:00'],
    ['weekly on sunday at 03:00', 'Sun *-*-* 03:00:00'],
    ['every 6h', '*-*-* 00,06,12,18:00:00'],
    ['0 6 1-7 * *', '*-*-01,02,03,04,05,06,07 06:00:00'],
    ['30 4 * 1,7 1-5', 'Mon,Tue,Wed,Thu,Fri *-01,07-* 04:30:00'],
  ])('"%s" renders OnCalendar "%s"', (text, onCalendar) => {
    expect(Schedule.parse(text).toOnCalendar()).toBe(onCalendar);
  });

  test('refuses an OnCalendar for cron that restricts both day fields (cron ORs them, systemd ANDs)', () => {
    expect(() => Schedule.parse('0 6 1-7 * 0').toOnCalendar()).toThrow('no OnCalendar equivalent');
  });

  test('runs are computed in the policy time zone', () => {
    const runs = Schedule.parse('daily at 00:15').runsBetween(new Date('2026-07-01T00:00:00Z'), new Date('2026-07-03T00:00:00Z'), 'Europe/London');
    // 00:15 in London during summer time is 23:15 UTC the day before.
    expect(runs.map((r) => r.toISOString())).toEqual(['2026-07-01T23:15:00.000Z', '2026-07-02T23:15:00.000Z']);
  });

  test('human text comes from cronstrue', () => {
    expect(Schedule.parse('weekly on sunday at 01:00').toHuman()).toBe('At 01:00, only on Sunday');
  });
});

describe('staleness threshold is derived from the schedule', () => {
  test.each([
    ['daily at 00:00', '36 hours'],
    ['weekly on sunday at 01:00', '8 days'],
    ['every 6h', '9 hours'],
    ['hourly', '1 hour 30 minutes'],
    ['monthly', '32 days'],
  ])('%s is stale after %s', (text, human) => {
    expect(staleAfter(Schedule.parse(text)).toHuman()).toBe(human);
  });
});

describe('Retention', () => {
  test('always keeps the newest copy', () => {
    expect(() => Retention.of(Duration.days(14), 0)).toThrow('keepLast must be a whole number >= 1');
    expect(Retention.of(Duration.days(14), 7).toHuman()).toBe('14 days, at least the newest 7');
  });
});
