import type { MaskedText } from "../masked-value";
import { type MaskContext, maskValue } from "../value-masker";
import type { JsonContext } from "./body-plan";
import { decodeJsonString, maskedBytes, quoteJson } from "./json-string";

const mask = maskValue;

/** Where a string scan stands between calls (a string may span chunks). */
export class StringScan {
  /** Position of the next backslash at or after the scan position (the chunk length when none); -1 for a new chunk. */
  nextBs = -1;
  /** The chunk ended after an escaping backslash. */
  escape = false;
  /** The string has a backslash somewhere (its content needs decoding). */
  escSeen = false;
}

/**
 * The position of the quote that closes the string being read, scanning `buf[from, len)`,
 * or -1 when the chunk ends first. Quotes and backslashes are found with `indexOf`, so
 * string bytes are not visited one by one in JavaScript.
 */
export function scanString(buf: Buffer, from: number, len: number, scan: StringScan): number {
  let j = from;
  if (scan.escape) {
    scan.escape = false;
    j++;
  }
  for (;;) {
    const q = j < len ? buf.indexOf(0x22, j) : -1;
    if (scan.nextBs < j) {
      const k = j < len ? buf.indexOf(0x5c, j) : -1;
      scan.nextBs = k < 0 ? len : k;
    }
    if (q < 0) {
      if (scan.nextBs < len) {
        scan.escSeen = true;
        let n = 0;
        for (let k = len - 1; k >= j && buf[k] === 0x5c; k--) n++;
        scan.escape = (n & 1) === 1;
      }
      return -1;
    }
    if (scan.nextBs > q) return q;
    scan.escSeen = true;
    let n = 0;
    for (let k = q - 1; k >= j && buf[k] === 0x5c; k--) n++;
    if ((n & 1) === 0) return q;
    j = q + 1;
  }
}

/**
 * The replacement of the string or number token `raw[from, to)` (a string with its
 * quotes) in context `ctx`, as JSON, or undefined when it stays as it is.
 */
export function maskJsonValue(
  ctx: JsonContext,
  raw: Buffer,
  from: number,
  to: number,
  escaped: boolean,
  mctx: MaskContext,
): Buffer | undefined {
  const plan = (ctx.whole ?? ctx.detect)!;
  let src = raw;
  let s = from;
  let e = to;
  if (raw[from] === 0x22) {
    s = from + 1;
    e = to - 1;
    if (escaped) {
      src = decodeJsonString(raw, s, e);
      s = 0;
      e = src.length;
    }
  }
  const masked = mask(plan, src, s, e, mctx) as MaskedText | undefined;
  if (masked === undefined) return undefined;
  return ctx.whole ? maskedBytes(masked) : quoteJson(maskedBytes(masked));
}
