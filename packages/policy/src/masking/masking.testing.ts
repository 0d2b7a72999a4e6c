/** Builders shared by the masking tests and the masking bench: DataRow frames, columns, catalogs, sample data. */
import type { Detector } from "./detectors";
import type { CatalogNames, ResultColumn } from "./types";

export const TEST_HASH_KEY = Buffer.alloc(32, 7);

/** A DataRow frame ('D', int32 length, int16 count, values); strings are UTF-8, null is NULL. */
export function dataRow(values: readonly (Buffer | string | null)[]): Buffer {
  const parts = values.map((v) => (v === null ? null : typeof v === "string" ? Buffer.from(v, "utf8") : v));
  const size = 7 + parts.reduce((n, p) => n + 4 + (p?.length ?? 0), 0);
  const out = Buffer.alloc(size);
  out[0] = 0x44;
  out.writeInt32BE(size - 1, 1);
  out.writeInt16BE(values.length, 5);
  let w = 7;
  for (const p of parts) {
    out.writeInt32BE(p === null ? -1 : p.length, w);
    w += 4;
    if (p) w += p.copy(out, w);
  }
  return out;
}

/** Reads a DataRow frame back, checking every length (an independent reader for tests). */
export function readDataRow(frame: Buffer): (Buffer | null)[] {
  if (frame[0] !== 0x44) throw new Error("not a DataRow");
  if (frame.readInt32BE(1) !== frame.length - 1) throw new Error("length field does not match the frame");
  const n = frame.readInt16BE(5);
  const out: (Buffer | null)[] = [];
  let p = 7;
  for (let i = 0; i < n; i++) {
    const len = frame.readInt32BE(p);
    p += 4;
    if (len === -1) {
      out.push(null);
      continue;
    }
    if (len < 0 || p + len > frame.length) throw new Error(`bad length ${len}`);
    out.push(frame.subarray(p, p + len));
    p += len;
  }
  if (p !== frame.length) throw new Error("trailing bytes");
  return out;
}

export function textValues(frame: Buffer): (string | null)[] {
  return readDataRow(frame).map((v) => (v === null ? null : v.toString("utf8")));
}

export function column(name: string, opts: Partial<Omit<ResultColumn, "name">> = {}): ResultColumn {
  return { name, tableOid: opts.tableOid ?? 0, typeOid: opts.typeOid ?? 25, format: opts.format ?? 0 };
}

export function catalog(
  tables: Record<number, string> = {},
  types: Record<number, string> = {},
): CatalogNames {
  return { table: (oid) => tables[oid], type: (oid) => types[oid] };
}

/** The matched substrings a detector finds in `text`. */
export function detect(detector: Detector, text: string): string[] {
  const out: number[] = [];
  detector.find(text, out);
  const found: string[] = [];
  for (let i = 0; i < out.length; i += 2) found.push(text.slice(out[i], out[i + 1]));
  return found;
}

/** Appends the Luhn check digit to `body`. */
export function withLuhnDigit(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = body.charCodeAt(body.length - 1 - i) - 48;
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return body + String((10 - (sum % 10)) % 10);
}

export function int4(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

export function int8(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(n);
  return b;
}
