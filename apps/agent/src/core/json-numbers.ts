/** Numbers written straight into recording JSON, shared by the protocols' recorders. */

export function num(n: number): string {
  return Number.isFinite(n) ? String(n) : "null";
}

/**
 * A duration in ms with at most 3 decimals, written from integer microseconds (small
 * integers convert to text much faster than doubles); parses to the same number as
 * `JSON.stringify` of the rounded value.
 */
export function millis(ms: number): string {
  const us = Math.round(ms * 1000);
  if (us < 0 || us > 0x3fffffff || us / 1000 !== ms) return num(ms);
  const whole = Math.floor(us / 1000);
  let frac = us - whole * 1000;
  if (frac === 0) return String(whole);
  let digits = 3;
  while (frac % 10 === 0) {
    frac /= 10;
    digits--;
  }
  const f = String(frac);
  return `${whole}.${f.length < digits ? "0".repeat(digits - f.length) + f : f}`;
}
