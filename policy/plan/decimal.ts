/**
 * A fraction as bash reads it: plain decimal with at most 4 places. `String(1e-7)` is "1e-7",
 * which made every job die at start; the schema allows at most 4 places, so nothing is lost.
 */
export function decimal(n: number): string {
  return n.toFixed(4).replace(/\.?0+$/, '') || '0';
}
