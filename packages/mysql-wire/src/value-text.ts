import type { BinaryDateTime, BinaryTime, BinaryValue } from "./binary-values";
import { ColumnType } from "./constants";
import type { RowColumn } from "./rows";

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

function floatText(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  for (let p = 1; p <= 9; p++) {
    const s = Number(v.toPrecision(p));
    if (Math.fround(s) === v) return String(s);
  }
  return String(v);
}

function dateTimeText(v: BinaryDateTime, type: number): string {
  const date = `${pad(v.year, 4)}-${pad(v.month)}-${pad(v.day)}`;
  if (type === ColumnType.DATE || type === ColumnType.NEWDATE) return date;
  const frac = v.microsecond ? `.${pad(v.microsecond, 6)}` : "";
  return `${date} ${pad(v.hour)}:${pad(v.minute)}:${pad(v.second)}${frac}`;
}

function timeText(v: BinaryTime): string {
  const hours = v.days * 24 + v.hours;
  const frac = v.microseconds ? `.${pad(v.microseconds, 6)}` : "";
  return `${v.negative ? "-" : ""}${pad(hours)}:${pad(v.minutes)}:${pad(v.seconds)}${frac}`;
}

/**
 * The text-protocol form of a binary value (what the same column would carry in a text
 * result), so one masker works for both protocols.
 */
export function binaryValueToText(v: Exclude<BinaryValue, null>, column: RowColumn): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (typeof v === "bigint") return Buffer.from(v.toString());
  if (typeof v === "number") {
    return Buffer.from(column.type === ColumnType.FLOAT ? floatText(v) : String(v));
  }
  if (v.kind === "datetime") return Buffer.from(dateTimeText(v, column.type));
  return Buffer.from(timeText(v));
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?)?$/;
const TIME_RE = /^(-)?(\d{1,4}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/;
const INT_RE = /^-?\d{1,20}$/;

const micro = (s: string | undefined) => (s ? Number(s.padEnd(6, "0")) : 0);

/**
 * Parses a text form back into the binary value `column` needs; undefined when the text
 * does not fit the type (the caller then sends NULL, never the original).
 */
export function textToBinaryValue(text: Buffer, column: RowColumn): Exclude<BinaryValue, null> | undefined {
  const t = column.type;
  const s = () => text.toString("utf8");
  switch (t) {
    case ColumnType.TINY:
    case ColumnType.SHORT:
    case ColumnType.YEAR:
    case ColumnType.LONG:
    case ColumnType.INT24:
    case ColumnType.LONGLONG:
      return INT_RE.test(s()) ? BigInt(s()) : undefined;
    case ColumnType.FLOAT:
    case ColumnType.DOUBLE: {
      const n = Number(s());
      return s().trim() === "" || Number.isNaN(n) ? undefined : n;
    }
    case ColumnType.DATE:
    case ColumnType.NEWDATE:
    case ColumnType.DATETIME:
    case ColumnType.TIMESTAMP:
    case ColumnType.DATETIME2:
    case ColumnType.TIMESTAMP2: {
      const m = DATE_RE.exec(s());
      if (!m) return undefined;
      const [, y, mo, d, h, mi, se, f] = m;
      return {
        kind: "datetime",
        year: Number(y),
        month: Number(mo),
        day: Number(d),
        hour: Number(h ?? 0),
        minute: Number(mi ?? 0),
        second: Number(se ?? 0),
        microsecond: micro(f),
      };
    }
    case ColumnType.TIME:
    case ColumnType.TIME2: {
      const m = TIME_RE.exec(s());
      if (!m) return undefined;
      const hours = Number(m[2]);
      return {
        kind: "time",
        negative: m[1] === "-",
        days: Math.floor(hours / 24),
        hours: hours % 24,
        minutes: Number(m[3]),
        seconds: Number(m[4]),
        microseconds: micro(m[5]),
      };
    }
    default:
      return text;
  }
}
