import { Duration } from '../values/duration';
import type { Schedule } from '../values/schedule';

/**
 * When a job counts as stale: one missed run plus a grace of half its longest gap, the grace
 * capped at a day (daily -> 36 h, weekly -> 8 d: the spec's hand-tuned values).
 */
export function staleAfter(schedule: Schedule): Duration {
  const grace = schedule.longestGap.times(0.5).min(Duration.days(1));
  return schedule.longestGap.plus(grace);
}
