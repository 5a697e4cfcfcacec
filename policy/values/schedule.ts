import { CronExpressionParser } from 'cron-parser';
import cronstrue from 'cronstrue';
import { Duration } from './duration';

const DAY_NAMES = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const SYSTEMD_DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

export const SCHEDULE_SYNTAX =
  'a 5-field cron expression ("15 0 * * *") or a shorthand: "hourly", "daily", "daily at 00:15", ' +
  '"weekly", "weekly on sunday at 01:00", "monthly", "every 6h", "every 30m"';

/**
 * How far to look for gaps. A pattern restricted by no day field repeats daily, one restricted
 * by weekday only repeats weekly; two periods of runs show every gap. Anything touching day of
 * month or month needs two years (a yearly job has exactly one gap). The cap bounds the work
 * for minute-level patterns inside a long window.
 */
const DAY_MS = 86400 * 1000;
const GAP_MAX_RUNS = 20000;
/** A fixed origin keeps the computed gaps deterministic: plans must not depend on the clock. */
const GAP_ORIGIN = new Date('2025-01-01T00:00:00Z');
/**
 * Gaps depend only on the cron text, and generated policies repeat a handful of schedules across
 * hundreds of services: memoized, this is 8% of a 1,000-service synth's CPU (bench, medians of 5).
 */
const gapCache = new Map<string, number[]>();

function twoDigits(n: number): string {
  return String(n).padStart(2, '0');
}

/** Turns the readable shorthands into cron; returns undefined for text that is no shorthand. */
function shorthandToCron(text: string): string | undefined {
  const t = text.trim().toLowerCase().replace(/\s+/g, ' ');
  const aliases: Record<string, string> = {
    '@hourly': '0 * * * *',
    hourly: '0 * * * *',
    '@daily': '0 0 * * *',
    '@midnight': '0 0 * * *',
    daily: '0 0 * * *',
    '@weekly': '0 0 * * 0',
    weekly: '0 0 * * 0',
    '@monthly': '0 0 1 * *',
    monthly: '0 0 1 * *',
  };
  // Own keys only: "constructor" found Object's constructor here and crashed the parse (fuzzer).
  if (Object.hasOwn(aliases, t)) return aliases[t];
  const time = '(?:at )?([01]?\\d|2[0-3]):([0-5]\\d)';
  const daily = new RegExp(`^daily ${time}$`).exec(t);
  if (daily) return `${Number(daily[2])} ${Number(daily[1])} * * *`;
  const weekly = new RegExp(`^weekly (?:on )?(${DAY_NAMES.join('|')})(?: ${time})?$`).exec(t);
  if (weekly) {
    const [hour, minute] = weekly[2] === undefined ? [0, 0] : [Number(weekly[2]), Number(weekly[3])];
    return `${minute} ${hour} * * ${DAY_NAMES.indexOf(weekly[1])}`;
  }
  const every = /^every (\d+) ?(h|hours?|m|min|minutes?)$/.exec(t);
  if (every) {
    const n = Number(every[1]);
    const hours = every[2].startsWith('h');
    if (hours && n >= 1 && n <= 23) return `0 */${n} * * *`;
    if (hours && n === 24) return '0 0 * * *';
    if (!hours && n >= 1 && n <= 59) return `*/${n} * * * *`;
    return undefined;
  }
  return undefined;
}

/**
 * When a job runs. Accepts cron or shorthands, renders both a Kubernetes cron string and a
 * systemd OnCalendar, and knows the longest gap between two runs, which is what staleness
 * alerts and RPO checks need (a "daily" job's RPO is its longest gap, not "1 day" by name).
 */
export class Schedule {
  static parse(text: string): Schedule {
    const result = Schedule.tryParse(text);
    if (typeof result === 'string') throw new Error(`invalid schedule "${text}": ${result}`);
    return result;
  }

  /** The schedule, or a sentence saying what is wrong (for the schema's error messages). */
  static tryParse(text: string): Schedule | string {
    const shorthand = shorthandToCron(text);
    if (shorthand === undefined && /^@?[a-z]/i.test(text.trim())) {
      return 'not a recognized shorthand (times are 00:00-23:59, days are full English names, every takes 1-24 hours or 1-59 minutes)';
    }
    const cron = shorthand ?? text.trim().replace(/\s+/g, ' ');
    const fieldCount = cron.split(' ').length;
    if (fieldCount !== 5) {
      return `expected 5 cron fields (minute hour day-of-month month day-of-week) or a shorthand, got ${fieldCount} field${fieldCount === 1 ? '' : 's'}`;
    }
    // cron-parser understands L, W, # and ?, but the Kubernetes CronJob controller (robfig/cron)
    // and systemd do not: "0 0 L * *" rendered OnCalendar=*-*-NaN and "5#3" ran every Friday.
    const unsupported = /[LW#?]/i.exec(cron.replace(/\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|sun|mon|tue|wed|thu|fri|sat)\b/gi, ''));
    if (unsupported) {
      return `uses "${unsupported[0]}", which Kubernetes CronJobs and systemd timers cannot express (allowed in each field: numbers, names, *, lists with ",", ranges with "-" and steps with "/")`;
    }
    try {
      CronExpressionParser.parse(cron, { tz: 'UTC' });
    } catch (error) {
      return `not a valid cron expression (${(error as Error).message})`;
    }
    return new Schedule(text.trim(), cron);
  }

  static daily(hour = 0, minute = 0): Schedule {
    return Schedule.parse(`daily at ${twoDigits(hour)}:${twoDigits(minute)}`);
  }

  readonly longestGap: Duration;
  readonly shortestGap: Duration;

  private constructor(
    /** What the policy author wrote. */
    readonly source: string,
    /** The 5-field cron form, as Kubernetes CronJobs take it. */
    readonly cron: string,
  ) {
    const gaps = Schedule.gapsSeconds(cron);
    this.longestGap = Duration.seconds(Math.max(...gaps));
    this.shortestGap = Duration.seconds(Math.min(...gaps));
  }

  /**
   * Gaps are measured in UTC so that they are the nominal ones (daily = 24 h): a DST change makes
   * one real gap an hour longer, which the staleness grace absorbs.
   */
  private static gapsSeconds(cron: string): number[] {
    const cached = gapCache.get(cron);
    if (cached) return cached;
    const expression = CronExpressionParser.parse(cron, { currentDate: GAP_ORIGIN, tz: 'UTC' });
    const f = expression.fields;
    const windowDays = !f.dayOfMonth.isWildcard || !f.month.isWildcard ? 731 : !f.dayOfWeek.isWildcard ? 15 : 2;
    const end = GAP_ORIGIN.getTime() + windowDays * DAY_MS;
    const gaps: number[] = [];
    let previous = expression.next().getTime();
    for (let i = 0; i < GAP_MAX_RUNS; i++) {
      const next = expression.next().getTime();
      gaps.push((next - previous) / 1000);
      previous = next;
      if (next > end) break;
    }
    gapCache.set(cron, gaps);
    return gaps;
  }

  /** Words for people, from cronstrue: "At 00:15", "At 01:00, only on Sunday". */
  toHuman(): string {
    return cronstrue.toString(this.cron, { use24HourTimeFormat: true, verbose: false });
  }

  private fields() {
    return CronExpressionParser.parse(this.cron, { tz: 'UTC' }).fields;
  }

  /**
   * systemd OnCalendar form. Cron ORs day-of-month and day-of-week when both are restricted,
   * systemd ANDs them, so such a schedule cannot be rendered faithfully and is refused.
   */
  toOnCalendar(): string {
    const f = this.fields();
    if (!f.dayOfMonth.isWildcard && !f.dayOfWeek.isWildcard) {
      throw new Error(
        `schedule "${this.source}" restricts both day of month and day of week; cron runs on either, systemd only on both, so it has no OnCalendar equivalent`,
      );
    }
    const list = (values: readonly (number | string)[]) => values.map((v) => twoDigits(Number(v))).join(',');
    const days = f.dayOfWeek.isWildcard
      ? ''
      : `${[...new Set(f.dayOfWeek.values.map((d) => SYSTEMD_DAYS[Number(d) % 7]))].join(',')} `;
    const month = f.month.isWildcard ? '*' : list(f.month.values);
    const dayOfMonth = f.dayOfMonth.isWildcard ? '*' : list(f.dayOfMonth.values);
    const hour = f.hour.isWildcard ? '*' : list(f.hour.values);
    const minute = f.minute.isWildcard ? '*' : list(f.minute.values);
    return `${days}*-${month}-${dayOfMonth} ${hour}:${minute}:00`;
  }

  /**
   * Runs the time zone's clock changes swallow or double between `from` and `to`. At a spring-
   * forward change the local times in the gap never happen: systemd and the Kubernetes CronJob
   * controller (robfig/cron) both skip a run scheduled there (Sunday 01:00 in Europe/London: a
   * 14-day hole in a weekly etcd backup once a year). At a fall-back change the local times in
   * the overlap happen twice. Pure: the zone's offsets come from Intl, nothing from the clock.
   */
  dstProblems(timeZone: string, from: Date, to: Date): DstProblem[] {
    const f = this.fields();
    const problems: DstProblem[] = [];
    for (const change of offsetChanges(timeZone, from, to)) {
      const kind = change.after > change.before ? 'gap' : 'overlap';
      // The affected wall-clock minutes: [change + min offset, change + max offset) in local time.
      const startLocal = change.at.getTime() + Math.min(change.before, change.after) * 60000;
      const minutes = Math.abs(change.after - change.before);
      for (let m = 0; m < minutes; m++) {
        const local = new Date(startLocal + m * 60000);
        if (matchesWallClock(f, local)) {
          problems.push({ kind, localTime: `${local.toISOString().slice(0, 16).replace('T', ' ')}`, change: change.at });
        }
      }
    }
    return problems;
  }

  /** The runs in [from, to), in the given IANA time zone (for timelines and tests). */
  runsBetween(from: Date, to: Date, timeZone: string): Date[] {
    const expression = CronExpressionParser.parse(this.cron, {
      currentDate: new Date(from.getTime() - 1),
      endDate: to,
      tz: timeZone,
    });
    const runs: Date[] = [];
    while (expression.hasNext()) {
      const next = new Date(expression.next().getTime());
      if (next.getTime() >= to.getTime()) break;
      runs.push(next);
    }
    return runs;
  }
}

/** A scheduled local time that a clock change skips (`gap`) or repeats (`overlap`). */
export interface DstProblem {
  kind: 'gap' | 'overlap';
  /** The wall-clock time of the run, "YYYY-MM-DD HH:MM", in the schedule's zone. */
  localTime: string;
  /** The instant the clocks change. */
  change: Date;
}

/** The zone's offset from UTC in minutes at an instant. */
function offsetMinutes(timeZone: string, at: Date): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
  }).formatToParts(at);
  const get = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'));
  return Math.round((asUtc - Math.floor(at.getTime() / 60000) * 60000) / 60000);
}

/** Every instant in [from, to) where the zone's offset changes, to the minute. */
function offsetChanges(timeZone: string, from: Date, to: Date): { at: Date; before: number; after: number }[] {
  const changes: { at: Date; before: number; after: number }[] = [];
  const step = 6 * 3600 * 1000;
  let t = Math.floor(from.getTime() / 60000) * 60000;
  let offset = offsetMinutes(timeZone, new Date(t));
  for (; t < to.getTime(); t += step) {
    const next = Math.min(t + step, to.getTime());
    const nextOffset = offsetMinutes(timeZone, new Date(next));
    if (nextOffset === offset) continue;
    // Bisect to the first minute with the new offset.
    let lo = t;
    let hi = next;
    while (hi - lo > 60000) {
      const mid = Math.floor((lo + hi) / 2 / 60000) * 60000;
      if (offsetMinutes(timeZone, new Date(mid)) === offset) lo = mid;
      else hi = mid;
    }
    changes.push({ at: new Date(hi), before: offset, after: nextOffset });
    offset = nextOffset;
  }
  return changes;
}

type CronFields = ReturnType<typeof CronExpressionParser.parse>['fields'];

/** Whether a wall-clock minute (given as a UTC-coded Date) matches the cron fields, with cron's day OR rule. */
function matchesWallClock(f: CronFields, local: Date): boolean {
  const has = (field: { values: readonly (number | string)[] }, n: number) => field.values.some((v) => Number(v) === n);
  if (!has(f.minute, local.getUTCMinutes()) || !has(f.hour, local.getUTCHours()) || !has(f.month, local.getUTCMonth() + 1)) return false;
  const dom = has(f.dayOfMonth, local.getUTCDate());
  const weekday = local.getUTCDay();
  const dow = f.dayOfWeek.values.some((v) => Number(v) % 7 === weekday);
  if (f.dayOfMonth.isWildcard && f.dayOfWeek.isWildcard) return true;
  if (f.dayOfMonth.isWildcard) return dow;
  if (f.dayOfWeek.isWildcard) return dom;
  return dom || dow;
}
