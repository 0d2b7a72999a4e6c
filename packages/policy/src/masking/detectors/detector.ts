import type { MaskingDetector } from "../../rules";

/**
 * A content detector. `find` appends the `[start, end)` string offsets of every match in
 * `text` to `out` (as pairs). Built-in detectors only match ASCII, so the masker may run
 * them on a latin1 view of the bytes (string offsets are then byte offsets); `custom`
 * patterns may match any text and get the UTF-8 view.
 */
export interface Detector {
  readonly kind: MaskingDetector;
  /** Feature bits (see byte-scan.ts); the detector runs only when the value shows one of them. */
  readonly needs: number;
  readonly asciiOnly: boolean;
  find(text: string, out: number[]): void;
}

/**
 * Runs a global regex over `text`. `accept` returns the end offset of the match to
 * mask, or -1 to reject it (the scan then resumes one character after the match start,
 * so a valid match overlapping a rejected candidate is still found). With `overlapping`,
 * the scan also resumes there after an accepted match: the masker merges overlapping
 * matches, so a wrongly cut match cannot leave part of the real one visible.
 */
export function scanRegex(
  re: RegExp,
  text: string,
  out: number[],
  accept?: (m: RegExpExecArray, text: string) => number,
  overlapping = false,
): void {
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const end = accept ? accept(m, text) : m.index + m[0].length;
    if (end > m.index) out.push(m.index, end);
    re.lastIndex = end > m.index && !overlapping ? end : m.index + 1;
  }
}

/**
 * Sorts the pairs appended to `out` since `from` and merges overlapping ones, for
 * detectors that run several patterns over the same text.
 */
export function mergeOverlaps(out: number[], from: number): void {
  if (out.length - from <= 2) return;
  const pairs: [number, number][] = [];
  for (let i = from; i < out.length; i += 2) pairs.push([out[i]!, out[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  out.length = from;
  for (const [s, e] of pairs) {
    const last = out.length - 1;
    if (out.length > from && s < out[last]!) out[last] = Math.max(out[last]!, e);
    else out.push(s, e);
  }
}
