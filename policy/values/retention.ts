import { Duration } from './duration';

/**
 * How long copies are kept. Age alone is never enough: the system this replaces rotated out every
 * good copy of a database while its dumps were silently empty. A copy is deleted only when it is
 * older than `keepWithin` AND not among the `keepLast` newest verified copies.
 */
export class Retention {
  static of(keepWithin: Duration, keepLast: number): Retention {
    return new Retention(keepWithin, keepLast);
  }

  private constructor(
    readonly keepWithin: Duration,
    readonly keepLast: number,
  ) {
    if (!Number.isInteger(keepLast) || keepLast < 1) {
      throw new Error(`keepLast must be a whole number >= 1 (the newest copy is never deleted), received ${keepLast}`);
    }
  }

  toHuman(): string {
    return `${this.keepWithin.toHuman()}, at least the newest ${this.keepLast}`;
  }
}
