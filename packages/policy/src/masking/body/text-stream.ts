import type { ColumnPlan } from "../column-plan";
import type { MaskedText } from "../masked-value";
import { type MaskContext, maskValue } from "../value-masker";
import type { ChunkMasker } from "./json-grammar";
import { maskedBytes } from "./json-string";

/** Most text a text masker holds back waiting for the end of a line. */
export const MAX_TEXT_LINE = 64 * 1024;
/** Text kept from a line cut at {@link MAX_TEXT_LINE}, so a match across the cut is still found. */
export const TEXT_OVERLAP = 256;

const mask = maskValue;

/** The masked bytes of `buf[start, end)` (a view of `buf` when nothing matched). */
export function maskTextBytes(
  plan: ColumnPlan,
  buf: Buffer,
  start: number,
  end: number,
  ctx: MaskContext,
): Buffer {
  const m = mask(plan, buf, start, end, ctx) as MaskedText | undefined;
  return m === undefined ? buf.subarray(start, end) : maskedBytes(m);
}

/** Detector matches in `text` as sorted [start, end) pairs (byte offsets: text is a latin1 view). */
function spans(plan: ColumnPlan, buf: Buffer, text: string): number[] {
  const features = plan.scan(buf, 0, buf.length);
  if ((features & plan.needs) === 0) return [];
  const out: number[] = [];
  for (const use of plan.uses) if ((features & use.detector.needs) !== 0) use.detector.find(text, out);
  const pairs: [number, number][] = [];
  for (let i = 0; i < out.length; i += 2) pairs.push([out[i]!, out[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  return pairs.flat();
}

/**
 * Where to cut `buf` so that no match is split: at `want`, or earlier at the start of a
 * match that crosses it or reaches the end of the data (more data could extend it).
 */
function safeCut(plan: ColumnPlan, buf: Buffer, want: number): number {
  const found = spans(plan, buf, buf.toString("latin1"));
  let cut = want;
  for (let moved = true; moved; ) {
    moved = false;
    for (let i = 0; i < found.length; i += 2) {
      const s = found[i]!;
      const e = found[i + 1]!;
      if (s < cut && (e > cut || e === buf.length)) {
        cut = s;
        moved = true;
      }
    }
  }
  return cut;
}

/** A cut position moved back so it does not split a UTF-8 sequence. */
function utf8Boundary(buf: Buffer, at: number): number {
  let p = at;
  for (let k = 0; k < 3 && p > 0 && (buf[p]! & 0xc0) === 0x80; k++) p--;
  return p;
}

/**
 * Runs detectors over a text body as it streams. Complete lines go out as soon as they
 * arrive; a line longer than {@link MAX_TEXT_LINE} is cut there, keeping the last
 * {@link TEXT_OVERLAP} bytes for the next pass. A cut never splits a match the masker
 * can see (it moves back to the match's start), so a match is missed only when it
 * spans a forced cut of a line over the bound and is itself longer than the bound.
 */
export class TextStreamMasker implements ChunkMasker {
  private pending: Buffer = Buffer.alloc(0);

  constructor(
    private readonly plan: ColumnPlan,
    private readonly ctx: MaskContext,
  ) {}

  write(chunk: Buffer): Buffer | undefined {
    if (chunk.length === 0) return undefined;
    const nl = chunk.lastIndexOf(0x0a);
    const total = this.pending.length + chunk.length;
    if (nl < 0 && total < MAX_TEXT_LINE) {
      this.pending = this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk]);
      return undefined;
    }
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let want = nl >= 0 ? this.pending.length + nl + 1 : 0;
    if (want === 0 && total >= MAX_TEXT_LINE) want = utf8Boundary(buf, total - TEXT_OVERLAP);
    let cut = safeCut(this.plan, buf, want);
    if (cut === 0 && total >= MAX_TEXT_LINE) cut = utf8Boundary(buf, total - TEXT_OVERLAP);
    this.pending = Buffer.from(buf.subarray(cut));
    return cut === 0 ? undefined : maskTextBytes(this.plan, buf, 0, cut, this.ctx);
  }

  end(): Buffer | undefined {
    const rest = this.pending;
    this.pending = Buffer.alloc(0);
    return rest.length === 0 ? undefined : maskTextBytes(this.plan, rest, 0, rest.length, this.ctx);
  }
}
