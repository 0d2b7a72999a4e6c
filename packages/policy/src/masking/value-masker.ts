import { type MaskingDetector, maskingDetectors } from "../rules";
import { type Hasher, keepLast, type MaskAction, REDACTED, redactedMatch } from "./actions";
import { Feature } from "./byte-scan";
import { KeptTail, MaskedText, type MaskedValue, type TextEncoding } from "./masked-value";

/*
 * The agent runs under tsx, which loads modules as CommonJS: every use of an imported
 * binding is a getter call. Constants used per value are copied into locals once.
 */
const NON_ASCII = Feature.nonAscii;
const NON_EMPTY = Feature.nonEmpty;
const DIGITS8 = Feature.digits8;
const DIGITS9 = Feature.digits9;
const DIGITS13 = Feature.digits13;
const Kept = KeptTail;
const Text = MaskedText;

/** Counter slots: one per detector, then `column`. */
export const countKinds = [...maskingDetectors, "column"] as const;
export const COLUMN_SLOT = countKinds.length - 1;

export const Op = {
  /** Replace the whole (text) value. */
  wholeText: 0,
  /** Replace the whole binary jsonb value (version byte + JSON string). */
  wholeJsonb: 1,
  /** Covered but cannot be rewritten in its binary format: send NULL. */
  nullify: 2,
  /** Mask detector matches inside a text value. */
  detectText: 3,
  /** Mask detector matches inside a binary jsonb value. */
  detectJsonb: 4,
  /** Run detectors on a binary integer's decimal text; any match → NULL. */
  detectInteger: 5,
} as const;
export type Op = (typeof Op)[keyof typeof Op];

import type { ColumnPlan, DetectorUse } from "./column-plan";

/** Per-masker state the value functions share: the hasher and the counters. */
export interface MaskContext {
  readonly hasher: Hasher;
  /** This masker's counts by slot. */
  readonly tally: Float64Array;
  /** The shared running counts the masker also adds to (its own scratch array when there are none). */
  readonly totals: Float64Array;
}

function count(ctx: MaskContext, slot: number): void {
  ctx.tally[slot]!++;
  ctx.totals[slot]!++;
}

const JSONB_VERSION = 1;

/** Masks the value `buf[start, end)` of a column according to its plan. */
export function maskValue(
  plan: ColumnPlan,
  buf: Buffer,
  start: number,
  end: number,
  ctx: MaskContext,
): MaskedValue {
  switch (plan.op) {
    case Op.detectText:
      return detectText(plan, buf, start, end, ctx);
    case Op.wholeText:
      count(ctx, COLUMN_SLOT);
      return wholeText(plan, buf, start, end, ctx, -1);
    case Op.nullify:
      count(ctx, COLUMN_SLOT);
      return null;
    case Op.detectJsonb: {
      if (end - start < 1 || buf[start] !== JSONB_VERSION) return nullify(ctx);
      const inner = detectText(plan, buf, start + 1, end, ctx);
      return inner ? new Text(inner.text, inner.encoding, JSONB_VERSION) : inner;
    }
    case Op.wholeJsonb: {
      if (end - start < 1 || buf[start] !== JSONB_VERSION) return nullify(ctx);
      count(ctx, COLUMN_SLOT);
      return wholeText(plan, buf, start + 1, end, ctx, JSONB_VERSION);
    }
    case Op.detectInteger:
      return detectInteger(plan, buf, start, end, ctx);
  }
}

function nullify(ctx: MaskContext): null {
  count(ctx, COLUMN_SLOT);
  return null;
}

/** The replacement of a whole value (a JSON string for json/jsonb columns). */
function wholeText(
  plan: ColumnPlan,
  buf: Buffer,
  start: number,
  end: number,
  ctx: MaskContext,
  prefix: number,
): MaskedText | KeptTail {
  const action = plan.whole!;
  let out: string;
  if (action.kind !== "keep_last") {
    out = action.kind === "redact" ? REDACTED : ctx.hasher(buf.toString("latin1", start, end));
    // both are ASCII
    if (!plan.json) return new Text(out, "latin1", prefix);
  } else {
    const keep = action.keep;
    if (!plan.json && isAscii(buf, start, end)) {
      // ids, codes, most card numbers: one character per byte, no string needed. The
      // detectors see the kept tail after '*'s, which start no match and end any digit
      // run, so the tail's own features decide; custom patterns (no prefilter) could
      // match the '*'s and take the general path.
      const n = end - start;
      const from = n <= keep ? end : end - keep;
      if (plan.uses.length === 0 || ((plan.scan(buf, from, end) | NON_EMPTY) & plan.needs) === 0) {
        return new Kept(buf, from, end, from - start, prefix);
      }
    }
    out = keepLast(buf.toString("utf8", start, end), keep);
    if (plan.uses.length > 0) {
      const kept = Buffer.from(out, "utf8");
      const features = plan.scan(kept, 0, kept.length);
      if ((features & plan.needs) !== 0) out = maskText(plan.uses, out, features, "utf8", ctx) ?? out;
    }
  }
  return new Text(plan.json ? JSON.stringify(out) : out, "utf8", prefix);
}

function isAscii(buf: Buffer, start: number, end: number): boolean {
  let or = 0;
  for (let i = start; i < end; i++) or |= buf[i]!;
  return or < 0x80;
}

function detectText(
  plan: ColumnPlan,
  buf: Buffer,
  start: number,
  end: number,
  ctx: MaskContext,
): MaskedText | undefined {
  const features = plan.scan(buf, start, end);
  if ((features & plan.needs) === 0) return undefined;
  // latin1 maps bytes 1:1 to characters, so unmatched bytes (even invalid UTF-8) come back unchanged
  const encoding: TextEncoding = plan.utf8 && (features & NON_ASCII) !== 0 ? "utf8" : "latin1";
  const masked = maskText(plan.uses, buf.toString(encoding, start, end), features, encoding, ctx);
  return masked === undefined ? undefined : new Text(masked, encoding);
}

/** Binary int2/int4/int8: detectors see the decimal text; a value with a match cannot stay an integer, so it becomes NULL. */
function detectInteger(
  plan: ColumnPlan,
  buf: Buffer,
  start: number,
  end: number,
  ctx: MaskContext,
): MaskedValue {
  const len = end - start;
  let text: string;
  if (len === 8) text = buf.readBigInt64BE(start).toString();
  else if (len === 4) text = String(buf.readInt32BE(start));
  else if (len === 2) text = String(buf.readInt16BE(start));
  else return nullify(ctx);
  const digits = text.length - (text.charCodeAt(0) === 45 ? 1 : 0);
  let features: number = NON_EMPTY;
  if (digits >= 8) features |= DIGITS8;
  if (digits >= 9) features |= DIGITS9;
  if (digits >= 13) features |= DIGITS13;
  if ((features & plan.needs) === 0) return undefined;
  return maskText(plan.uses, text, features, "latin1", ctx) === undefined ? undefined : null;
}

/**
 * Runs the detectors whose prefilter passed and replaces their matches. Overlapping
 * matches (an email inside a custom pattern's match, a JWT that looks like an API key)
 * are merged into one span, masked by the action of its match when there is one; a span
 * merged from several matches is hashed when all of them hash and redacted otherwise, so
 * keep_last never shows the end of someone else's match.
 */
function maskText(
  uses: readonly DetectorUse[],
  text: string,
  features: number,
  encoding: TextEncoding,
  ctx: MaskContext,
): string | undefined {
  const spans: number[] = [];
  for (let j = 0; j < uses.length; j++) {
    const use = uses[j]!;
    if ((features & use.detector.needs) === 0) continue;
    const pairs: number[] = [];
    use.detector.find(text, pairs);
    for (let k = 0; k < pairs.length; k += 2) spans.push(pairs[k]!, pairs[k + 1]!, j);
  }
  if (spans.length === 0) return undefined;
  sortSpans(spans);
  let out = "";
  let pos = 0;
  for (let i = 0; i < spans.length; ) {
    const from = spans[i]!;
    let to = spans[i + 1]!;
    const use = uses[spans[i + 2]!]!;
    let action = use.action;
    for (i += 3; i < spans.length && spans[i]! < to; i += 3) {
      to = Math.max(to, spans[i + 1]!);
      if (
        action.kind !== "redact" &&
        !(action.kind === "hash" && uses[spans[i + 2]!]!.action.kind === "hash")
      ) {
        action = REDACT;
      }
    }
    out += text.slice(pos, from) + replacement(use, action, text.slice(from, to), encoding, ctx);
    count(ctx, use.slot);
    pos = to;
  }
  return out + text.slice(pos);
}

const REDACT: MaskAction = { kind: "redact", keep: 0 };

function replacement(
  use: DetectorUse,
  action: MaskAction,
  match: string,
  encoding: TextEncoding,
  ctx: MaskContext,
): string {
  if (action.kind === "redact") return redactedMatch(use.detector.kind as MaskingDetector);
  if (action.kind === "hash") {
    return ctx.hasher(encoding === "latin1" ? match : Buffer.from(match, "utf8").toString("latin1"));
  }
  if (encoding === "utf8") return keepLast(match, action.keep);
  // count characters, not bytes, and hand back bytes as latin1 again
  const kept = keepLast(Buffer.from(match, "latin1").toString("utf8"), action.keep);
  return Buffer.from(kept, "utf8").toString("latin1");
}

/** Insertion sort of (start, end, use) triples by start, longer first; there are few. */
function sortSpans(s: number[]): void {
  for (let i = 3; i < s.length; i += 3) {
    const a = s[i]!;
    const b = s[i + 1]!;
    const c = s[i + 2]!;
    let j = i - 3;
    while (j >= 0 && (s[j]! > a || (s[j] === a && s[j + 1]! < b))) {
      s[j + 3] = s[j]!;
      s[j + 4] = s[j + 1]!;
      s[j + 5] = s[j + 2]!;
      j -= 3;
    }
    s[j + 3] = a;
    s[j + 4] = b;
    s[j + 5] = c;
  }
}
