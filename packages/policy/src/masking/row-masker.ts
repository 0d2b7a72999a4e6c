import type { Hasher } from "./actions";
import type { ColumnPlan } from "./column-plan";
import { malformedRow } from "./errors";
import type { MaskTally } from "./mask-tally";
import type { MaskedValue } from "./masked-value";
import type { RowArena } from "./row-arena";
import type { MaskCounts, RowMasker } from "./types";
import { countKinds, type MaskContext, maskValue } from "./value-masker";

/** Local copy: imported bindings are getters under tsx (see value-masker.ts). */
const mask = maskValue;

const DATA_ROW = 0x44; // 'D'
/** Type byte, int32 length, int16 column count. */
const HEADER = 7;

function int32(buf: Buffer, p: number): number {
  return (buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!;
}

/**
 * Masks the DataRows of one result set. Every frame is checked whole (type byte, length,
 * column count, each value inside the frame) before anything is masked; values of
 * columns without a plan are never looked at; a new frame is built only when a value
 * changed.
 */
class DataRowMasker implements RowMasker {
  private readonly offsets: Int32Array;
  private readonly lengths: Int32Array;
  /** Indexes of the columns with a plan, ascending. */
  private readonly active: number[];
  /** Columns changed in the current row (first `changed` entries) and their new values. */
  private readonly changedAt: Int32Array;
  private readonly changedTo: MaskedValue[];
  private changed = 0;
  private readonly tally: Float64Array;
  private readonly ctx: MaskContext;

  constructor(
    private readonly plans: readonly (ColumnPlan | undefined)[],
    hasher: Hasher,
    totals: MaskTally | undefined,
  ) {
    this.offsets = new Int32Array(plans.length);
    this.lengths = new Int32Array(plans.length);
    this.active = plans.flatMap((p, i) => (p ? [i] : []));
    this.changedAt = new Int32Array(this.active.length);
    this.changedTo = new Array(this.active.length).fill(undefined);
    this.tally = new Float64Array(countKinds.length);
    this.ctx = {
      hasher,
      tally: this.tally,
      totals: totals?.slots ?? new Float64Array(countKinds.length),
    };
  }

  maskRow(buf: Buffer, start: number, end: number): Buffer | undefined {
    const changed = this.maskValues(buf, start, end);
    if (changed === 0) return undefined;
    const out = Buffer.allocUnsafe(this.size(start, end));
    this.rebuild(buf, start, end, out, 0);
    this.changedTo.fill(undefined, 0, changed);
    return out;
  }

  maskRowInto(buf: Buffer, start: number, end: number, arena: RowArena): number {
    const changed = this.maskValues(buf, start, end);
    if (changed === 0) return -1;
    const size = this.size(start, end);
    arena.reserve(size);
    const at = arena.pos;
    this.rebuild(buf, start, end, arena.bytes, at);
    arena.pos = at + size;
    this.changedTo.fill(undefined, 0, changed);
    return at;
  }

  /** Masks the planned values of one frame; returns how many changed (see changedAt/changedTo). */
  private maskValues(buf: Buffer, start: number, end: number): number {
    this.scan(buf, start, end);
    const { plans, offsets, lengths, changedAt, changedTo, active, ctx } = this;
    let changed = 0;
    for (let k = 0; k < active.length; k++) {
      const i = active[k]!;
      const len = lengths[i]!;
      if (len < 0) continue; // NULL stays NULL
      const off = offsets[i]!;
      const masked = mask(plans[i]!, buf, off, off + len, ctx);
      if (masked === undefined) continue;
      changedAt[changed] = i;
      changedTo[changed++] = masked;
    }
    this.changed = changed;
    return changed;
  }

  /** Size of the rebuilt frame. */
  private size(start: number, end: number): number {
    const { lengths, changedAt, changedTo, changed } = this;
    let size = end - start;
    for (let k = 0; k < changed; k++) {
      size += (changedTo[k]?.byteLength ?? 0) - Math.max(lengths[changedAt[k]!]!, 0);
    }
    return size;
  }

  counts(): MaskCounts {
    const out: MaskCounts = {};
    this.tally.forEach((n, slot) => {
      if (n > 0) out[countKinds[slot]!] = n;
    });
    return out;
  }

  /** Validates the frame and records where each value is. */
  private scan(buf: Buffer, start: number, end: number): void {
    if (!(start >= 0 && end <= buf.length && end - start >= HEADER)) {
      malformedRow(`frame of ${end - start} bytes (at least ${HEADER} needed)`);
    }
    if (buf[start] !== DATA_ROW) malformedRow(`type byte 0x${buf[start]!.toString(16)} is not 'D'`);
    const length = int32(buf, start + 1);
    if (length !== end - start - 1)
      malformedRow(`length field ${length} does not match the ${end - start - 1}-byte frame`);
    const n = (buf[start + 5]! << 8) | buf[start + 6]!;
    if (n !== this.plans.length)
      malformedRow(`${n} columns, the RowDescription announced ${this.plans.length}`);
    const { offsets, lengths } = this;
    let p = start + HEADER;
    for (let i = 0; i < n; i++) {
      if (end - p < 4) malformedRow(`column ${i} length runs past the end of the frame`);
      const len = int32(buf, p);
      p += 4;
      if (len < -1) malformedRow(`column ${i} has length ${len}`);
      if (len > end - p) malformedRow(`column ${i} value of ${len} bytes runs past the end of the frame`);
      offsets[i] = p;
      lengths[i] = len;
      if (len > 0) p += len;
    }
    if (p !== end) malformedRow(`${end - p} trailing bytes after the last column`);
  }

  /** Writes the frame with the changed values swapped in at `out[at]`, untouched runs copied in one piece. */
  private rebuild(buf: Buffer, start: number, end: number, out: Buffer, at: number): void {
    const { offsets, lengths, changedAt, changedTo, changed } = this;
    out[at] = DATA_ROW;
    out[at + 5] = buf[start + 5]!;
    out[at + 6] = buf[start + 6]!;
    let w = at + HEADER;
    let from = start + HEADER;
    for (let k = 0; k < changed; k++) {
      const i = changedAt[k]!;
      const value = changedTo[k];
      w += copyBytes(buf, out, w, from, offsets[i]! - 4);
      if (value) {
        putInt32(out, w, value.byteLength);
        value.writeTo(out, w + 4);
        w += 4 + value.byteLength;
      } else {
        putInt32(out, w, -1);
        w += 4;
      }
      from = offsets[i]! + Math.max(lengths[i]!, 0);
    }
    w += copyBytes(buf, out, w, from, end);
    putInt32(out, at + 1, w - at - 1);
  }
}

/** Buffer#copy, with a plain loop for the short runs between masked values. */
function copyBytes(src: Buffer, dst: Buffer, at: number, from: number, to: number): number {
  const n = to - from;
  if (n > 32) return src.copy(dst, at, from, to);
  for (let i = 0; i < n; i++) dst[at + i] = src[from + i]!;
  return n;
}

function putInt32(out: Buffer, at: number, v: number): void {
  out[at] = v >>> 24;
  out[at + 1] = v >>> 16;
  out[at + 2] = v >>> 8;
  out[at + 3] = v;
}

export function createRowMasker(
  plans: readonly (ColumnPlan | undefined)[],
  hasher: Hasher,
  totals?: MaskTally,
): RowMasker {
  return new DataRowMasker(plans, hasher, totals);
}
