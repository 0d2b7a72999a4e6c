import { type BinaryValue, encodeBinaryValue, readBinaryValue } from "./binary-values";
import { type ColumnDefinition, isUnsigned } from "./column-definition";
import { ColumnType } from "./constants";
import { ProtocolError } from "./errors";
import { PayloadReader } from "./payload-reader";
import { lenencBytes } from "./payload-writer";

/** Columns as the binary row codec needs them. */
export type RowColumn = Pick<ColumnDefinition, "type" | "flags">;

/** Decodes a text-protocol row: one length-encoded string (bytes, views of the payload) or NULL per column. */
export function decodeTextRow(payload: Buffer, columnCount: number): (Buffer | null)[] {
  const r = new PayloadReader(payload);
  const out: (Buffer | null)[] = [];
  for (let i = 0; i < columnCount; i++) out.push(r.lenencBytesOrNull());
  if (!r.atEnd()) throw new ProtocolError("malformed_packet", "text row longer than its columns");
  return out;
}

export function encodeTextRow(cells: readonly (Buffer | string | null)[]): Buffer {
  const parts: Buffer[] = [];
  for (const c of cells) parts.push(c === null ? Buffer.from([0xfb]) : lenencBytes(c));
  return Buffer.concat(parts);
}

/** Bytes of the NULL bitmap of a binary row (offset 2) or of COM_STMT_EXECUTE params (offset 0). */
export function nullBitmapSize(count: number, offset: number): number {
  return Math.floor((count + 7 + offset) / 8);
}

export function isBinaryRow(payload: Buffer): boolean {
  return payload.length > 0 && payload[0] === 0x00;
}

/** Decodes a binary-protocol row (header 0x00, NULL bitmap with offset 2, values per column type). */
export function decodeBinaryRow(payload: Buffer, columns: readonly RowColumn[]): BinaryValue[] {
  const r = new PayloadReader(payload);
  if (r.u8() !== 0x00) throw new ProtocolError("malformed_packet", "binary row must start with 0x00");
  const bitmap = r.bytes(nullBitmapSize(columns.length, 2));
  const out: BinaryValue[] = [];
  columns.forEach((c, i) => {
    const bit = i + 2;
    const isNull = (bitmap[bit >> 3]! & (1 << (bit & 7))) !== 0;
    out.push(isNull ? null : readBinaryValue(r, c.type, isUnsigned(c)));
  });
  if (!r.atEnd()) throw new ProtocolError("malformed_packet", "binary row longer than its columns");
  return out;
}

/** Encodes a binary-protocol row; values must fit their column types (RangeError otherwise). */
export function encodeBinaryRow(values: readonly BinaryValue[], columns: readonly RowColumn[]): Buffer {
  const bitmap = Buffer.alloc(nullBitmapSize(columns.length, 2));
  const parts: Buffer[] = [Buffer.from([0x00]), bitmap];
  columns.forEach((c, i) => {
    const v = values[i] ?? null;
    if (v === null || c.type === ColumnType.NULL) {
      const bit = i + 2;
      bitmap[bit >> 3]! |= 1 << (bit & 7);
      return;
    }
    parts.push(encodeBinaryValue(v, c.type, isUnsigned(c)));
  });
  return Buffer.concat(parts);
}
