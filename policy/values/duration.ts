/**
 * A length of time, parsed from the policy's vocabulary ("14d", "36h", "90m", "1w2d").
 * Stored as whole seconds: every consumer (shell retention, Prometheus, systemd) wants seconds.
 */
const UNIT_SECONDS = { w: 604800, d: 86400, h: 3600, m: 60, s: 1 } as const;
type Unit = keyof typeof UNIT_SECONDS;
const UNIT_ORDER: Unit[] = ['w', 'd', 'h', 'm', 's'];

/** One or more `<integer><unit>` parts, largest unit first, each unit at most once. */
const DURATION_PATTERN = /^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/**
 * The longest duration any consumer takes: bash arithmetic, systemd, Kubernetes deadlines and
 * Prometheus all handle 100 years exactly; a longer one only ever meant "forever" by mistake and
 * overflowed the retention arithmetic of the scripts.
 */
export const DURATION_MAX_SECONDS = 100 * 365 * 86400;

export const DURATION_SYNTAX = 'a positive duration such as "90s", "30m", "36h", "14d", "2w" or "1d12h", at most 100 years';

export class Duration {
  static seconds(n: number): Duration {
    return new Duration(n);
  }
  static minutes(n: number): Duration {
    return new Duration(n * UNIT_SECONDS.m);
  }
  static hours(n: number): Duration {
    return new Duration(n * UNIT_SECONDS.h);
  }
  static days(n: number): Duration {
    return new Duration(n * UNIT_SECONDS.d);
  }
  static weeks(n: number): Duration {
    return new Duration(n * UNIT_SECONDS.w);
  }

  /** Parses the policy syntax; throws with the received text and the allowed syntax. */
  static parse(text: string): Duration {
    const parsed = Duration.tryParse(text);
    if (!parsed) throw new Error(`invalid duration "${text}": expected ${DURATION_SYNTAX}`);
    return parsed;
  }

  static tryParse(text: string): Duration | undefined {
    const match = DURATION_PATTERN.exec(text.trim());
    if (!match || text.trim() === '') return undefined;
    let total = 0;
    UNIT_ORDER.forEach((unit, i) => {
      const part = match[i + 1];
      if (part !== undefined) total += Number(part) * UNIT_SECONDS[unit];
    });
    // Number() of a 400-digit part is Infinity or loses digits: the bound refuses both.
    return total > 0 && total <= DURATION_MAX_SECONDS ? new Duration(total) : undefined;
  }

  private constructor(readonly totalSeconds: number) {
    if (!Number.isInteger(totalSeconds) || totalSeconds <= 0) {
      throw new Error(`a duration must be a positive whole number of seconds, received ${totalSeconds}`);
    }
  }

  plus(other: Duration): Duration {
    return new Duration(this.totalSeconds + other.totalSeconds);
  }

  /** Rounded down to whole seconds, never below one second. */
  times(factor: number): Duration {
    return new Duration(Math.max(1, Math.floor(this.totalSeconds * factor)));
  }

  min(other: Duration): Duration {
    return this.totalSeconds <= other.totalSeconds ? this : other;
  }

  compare(other: Duration): number {
    return this.totalSeconds - other.totalSeconds;
  }

  /** Canonical compact form, largest units first: 129600 s -> "1d12h". */
  toString(): string {
    let rest = this.totalSeconds;
    let out = '';
    for (const unit of ['d', 'h', 'm', 's'] as const) {
      const n = Math.floor(rest / UNIT_SECONDS[unit]);
      if (n > 0) out += `${n}${unit}`;
      rest -= n * UNIT_SECONDS[unit];
    }
    return out;
  }

  /** Prometheus duration literal; Prometheus accepts the same compound form ("1d12h"). */
  toPrometheus(): string {
    return this.toString();
  }

  /** Words for people: "36 hours", "8 days", "1 day 12 hours". */
  toHuman(): string {
    let rest = this.totalSeconds;
    const parts: string[] = [];
    for (const [unit, name] of [['d', 'day'], ['h', 'hour'], ['m', 'minute'], ['s', 'second']] as const) {
      const n = Math.floor(rest / UNIT_SECONDS[unit]);
      if (n > 0) parts.push(`${n} ${name}${n === 1 ? '' : 's'}`);
      rest -= n * UNIT_SECONDS[unit];
    }
    if (parts.length === 1 && this.totalSeconds >= 2 * UNIT_SECONDS.d && this.totalSeconds % UNIT_SECONDS.d === 0) {
      return parts[0];
    }
    // "36 hours" reads better than "1 day 12 hours" below two days.
    if (this.totalSeconds < 2 * UNIT_SECONDS.d && this.totalSeconds % UNIT_SECONDS.h === 0) {
      const h = this.totalSeconds / UNIT_SECONDS.h;
      return `${h} hour${h === 1 ? '' : 's'}`;
    }
    return parts.join(' ');
  }
}
