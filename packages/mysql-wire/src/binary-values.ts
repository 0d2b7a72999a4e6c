import { ColumnType } from "./constants";
import { ProtocolError } from "./errors";
import type { PayloadReader } from "./payload-reader";
import { lenencBytes } from "./payload-writer";

/** DATE, DATETIME and TIMESTAMP values of the binary protocol. */
export interface BinaryDateTime {
  kind: "datetime";
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  microsecond: number;
}

/** TIME values of the binary protocol. */
export interface BinaryTime {
  kind: "time";
  negative: boolean;
  days: number;
  hours: number;
  minutes: number;
  seconds: number;
  microseconds: number;
}

/**
 * One decoded binary-protocol value: integers as bigint, FLOAT/DOUBLE as number,
 * temporal types as structures, everything else (strings, DECIMAL, BLOB, JSON, BIT, ENUM,
 * SET, GEOMETRY) as the raw bytes of its length-encoded string.
 */
export type BinaryValue = null | bigint | number | Buffer | BinaryDateTime | BinaryTime;

const INT_SIZES = new Map<number, number>([
  [ColumnType.TINY, 1],
  [ColumnType.SHORT, 2],
  [ColumnType.YEAR, 2],
  [ColumnType.LONG, 4],
  [ColumnType.INT24, 4],
  [ColumnType.LONGLONG, 8],
]);

function isDateTimeType(type: number): boolean {
  return (
    type === ColumnType.DATE ||
    type === ColumnType.DATETIME ||
    type === ColumnType.TIMESTAMP ||
    type === ColumnType.NEWDATE ||
    type === ColumnType.DATETIME2 ||
    type === ColumnType.TIMESTAMP2
  );
}

function isTimeType(type: number): boolean {
  return type === ColumnType.TIME || type === ColumnType.TIME2;
}

/** Reads one non-NULL value of `type` (unsigned per the column/param flag). */
export function readBinaryValue(r: PayloadReader, type: number, unsigned: boolean): BinaryValue {
  const intSize = INT_SIZES.get(type);
  if (intSize !== undefined) {
    const b = r.bytes(intSize);
    const bits = BigInt(intSize * 8);
    const raw = intSize === 8 ? b.readBigUInt64LE(0) : BigInt(b.readUIntLE(0, intSize));
    return unsigned ? raw : BigInt.asIntN(Number(bits), raw);
  }
  if (type === ColumnType.FLOAT) return r.bytes(4).readFloatLE(0);
  if (type === ColumnType.DOUBLE) return r.bytes(8).readDoubleLE(0);
  if (type === ColumnType.NULL) return null;
  if (isDateTimeType(type)) return readDateTime(r);
  if (isTimeType(type)) return readTime(r);
  return r.lenencBytes();
}

function readDateTime(r: PayloadReader): BinaryDateTime {
  const n = r.u8();
  if (n !== 0 && n !== 4 && n !== 7 && n !== 11) {
    throw new ProtocolError("malformed_packet", `invalid binary DATETIME length ${n}`);
  }
  const v: BinaryDateTime = {
    kind: "datetime",
    year: 0,
    month: 0,
    day: 0,
    hour: 0,
    minute: 0,
    second: 0,
    microsecond: 0,
  };
  if (n >= 4) {
    v.year = r.u16();
    v.month = r.u8();
    v.day = r.u8();
  }
  if (n >= 7) {
    v.hour = r.u8();
    v.minute = r.u8();
    v.second = r.u8();
  }
  if (n === 11) v.microsecond = r.u32();
  return v;
}

function readTime(r: PayloadReader): BinaryTime {
  const n = r.u8();
  if (n !== 0 && n !== 8 && n !== 12)
    throw new ProtocolError("malformed_packet", `invalid binary TIME length ${n}`);
  const v: BinaryTime = {
    kind: "time",
    negative: false,
    days: 0,
    hours: 0,
    minutes: 0,
    seconds: 0,
    microseconds: 0,
  };
  if (n >= 8) {
    v.negative = r.u8() === 1;
    v.days = r.u32();
    v.hours = r.u8();
    v.minutes = r.u8();
    v.seconds = r.u8();
  }
  if (n === 12) v.microseconds = r.u32();
  return v;
}

/** Encodes one non-NULL value as `type` requires; throws RangeError when it does not fit. */
export function encodeBinaryValue(
  value: Exclude<BinaryValue, null>,
  type: number,
  unsigned: boolean,
): Buffer {
  const intSize = INT_SIZES.get(type);
  if (intSize !== undefined) return encodeInt(value, intSize, unsigned);
  if (type === ColumnType.FLOAT || type === ColumnType.DOUBLE) {
    if (typeof value !== "number") throw new RangeError("FLOAT/DOUBLE needs a number");
    const b = Buffer.alloc(type === ColumnType.FLOAT ? 4 : 8);
    if (type === ColumnType.FLOAT) b.writeFloatLE(value);
    else b.writeDoubleLE(value);
    return b;
  }
  if (isDateTimeType(type)) return encodeDateTime(value);
  if (isTimeType(type)) return encodeTime(value);
  if (!Buffer.isBuffer(value)) throw new RangeError("string-like column needs bytes");
  return lenencBytes(value);
}

function encodeInt(value: Exclude<BinaryValue, null>, size: number, unsigned: boolean): Buffer {
  if (typeof value !== "bigint") throw new RangeError("integer column needs a bigint");
  const bits = BigInt(size * 8);
  const min = unsigned ? 0n : -(1n << (bits - 1n));
  const max = unsigned ? (1n << bits) - 1n : (1n << (bits - 1n)) - 1n;
  if (value < min || value > max) throw new RangeError("integer out of the column's range");
  const b = Buffer.alloc(size);
  const u = BigInt.asUintN(Number(bits), value);
  if (size === 8) b.writeBigUInt64LE(u);
  else b.writeUIntLE(Number(u), 0, size);
  return b;
}

function encodeDateTime(value: Exclude<BinaryValue, null>): Buffer {
  if (typeof value !== "object" || Buffer.isBuffer(value) || value.kind !== "datetime") {
    throw new RangeError("temporal column needs a datetime");
  }
  const v = value;
  const hasTime = v.hour || v.minute || v.second;
  const n = v.microsecond ? 11 : hasTime ? 7 : v.year || v.month || v.day ? 4 : 0;
  const b = Buffer.alloc(1 + n);
  b[0] = n;
  if (n >= 4) {
    b.writeUInt16LE(v.year, 1);
    b[3] = v.month;
    b[4] = v.day;
  }
  if (n >= 7) {
    b[5] = v.hour;
    b[6] = v.minute;
    b[7] = v.second;
  }
  if (n === 11) b.writeUInt32LE(v.microsecond, 8);
  return b;
}

function encodeTime(value: Exclude<BinaryValue, null>): Buffer {
  if (typeof value !== "object" || Buffer.isBuffer(value) || value.kind !== "time") {
    throw new RangeError("TIME column needs a time");
  }
  const v = value;
  const zero = !v.days && !v.hours && !v.minutes && !v.seconds && !v.microseconds;
  const n = zero ? 0 : v.microseconds ? 12 : 8;
  const b = Buffer.alloc(1 + n);
  b[0] = n;
  if (n >= 8) {
    b[1] = v.negative ? 1 : 0;
    b.writeUInt32LE(v.days, 2);
    b[6] = v.hours;
    b[7] = v.minutes;
    b[8] = v.seconds;
  }
  if (n === 12) b.writeUInt32LE(v.microseconds, 9);
  return b;
}
