import { BackendCode } from "./message-codes";
import { MessageReader } from "./message-reader";
import { MessageWriter } from "./message-writer";

/**
 * Fast, reusable accessor for DataRow bodies: `reset()` scans the column lengths
 * once (no copies, no allocation after warm-up), then values are read on demand.
 */
export class DataRowReader {
  private buf: Buffer = Buffer.alloc(0);
  private offsets: number[] = [];
  private lengths: number[] = [];
  private n = 0;

  /** Points the reader at `buf[start, end)`, a DataRow body. Throws ProtocolError if malformed. */
  reset(buf: Buffer, start = 0, end = buf.length): this {
    const r = new MessageReader(buf, "DataRow", start, end);
    const n = r.count(r.int16(), 4);
    for (let i = 0; i < n; i++) {
      const len = r.int32();
      if (len < -1) r.malformed(`column ${i} has length ${len}`);
      this.offsets[i] = r.pos;
      this.lengths[i] = len;
      if (len > 0) r.bytes(len);
    }
    r.done();
    this.buf = buf;
    this.n = n;
    return this;
  }

  get columnCount(): number {
    return this.n;
  }

  isNull(i: number): boolean {
    return this.lengths[i] === -1;
  }

  /** Raw value bytes (a view) or null. */
  bytes(i: number): Buffer | null {
    const len = this.lengthOf(i);
    if (len < 0) return null;
    const off = this.offsets[i]!;
    return this.buf.subarray(off, off + len);
  }

  /** Value decoded as UTF-8 text or null; `maxBytes` bounds how much is decoded. */
  text(i: number, maxBytes = Number.POSITIVE_INFINITY): string | null {
    const len = this.lengthOf(i);
    if (len < 0) return null;
    const off = this.offsets[i]!;
    return this.buf.toString("utf8", off, off + Math.min(len, maxBytes));
  }

  /** Byte length of value i, -1 for NULL. */
  lengthOf(i: number): number {
    if (i < 0 || i >= this.n) throw new RangeError(`column ${i} out of range (${this.n} columns)`);
    return this.lengths[i]!;
  }

  toTextArray(): (string | null)[] {
    const out: (string | null)[] = new Array(this.n);
    for (let i = 0; i < this.n; i++) out[i] = this.text(i);
    return out;
  }
}

/** Builds a DataRow frame from values (strings are UTF-8 encoded, null is SQL NULL). */
export function serializeDataRow(values: readonly (Buffer | string | null)[]): Buffer {
  const w = new MessageWriter(BackendCode.DataRow, 7 + values.length * 8).int16(values.length);
  for (const v of values) {
    if (v === null) w.int32(-1);
    else if (typeof v === "string") w.int32(Buffer.byteLength(v)).string(v);
    else w.int32(v.length).bytes(v);
  }
  return w.finish();
}
