import { MaskingError } from "../errors";
import type { MaskedText } from "../masked-value";

/** A growable byte buffer for tokens that span chunks. */
export class ByteBuffer {
  private bytes = Buffer.allocUnsafe(256);
  length = 0;

  append(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (this.length + n > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.length + n));
      this.bytes.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    }
    this.bytes.set(src.subarray(start, end), this.length);
    this.length += n;
  }

  /** A copy of the content followed by `src[0, end)`. */
  concat(src: Uint8Array, end: number): Buffer {
    const out = Buffer.allocUnsafe(this.length + end);
    this.bytes.copy(out, 0, 0, this.length);
    out.set(src.subarray(0, end), this.length);
    return out;
  }

  reset(): void {
    this.length = 0;
    if (this.bytes.length > 64 * 1024) this.bytes = Buffer.allocUnsafe(256);
  }
}

function hex(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  const l = b | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x57;
  return -1;
}

function badEscape(): never {
  throw new MaskingError("malformed_body", "malformed JSON: invalid escape in a string");
}

function readHex4(src: Uint8Array, at: number, end: number): number {
  if (at + 4 > end) badEscape();
  let v = 0;
  for (let k = 0; k < 4; k++) {
    const h = hex(src[at + k]!);
    if (h < 0) badEscape();
    v = (v << 4) | h;
  }
  return v;
}

const SIMPLE: Record<number, number> = {
  34: 0x22,
  92: 0x5c,
  47: 0x2f,
  98: 8,
  102: 12,
  110: 10,
  114: 13,
  116: 9,
};

/**
 * The UTF-8 content of the JSON string body `src[start, end)` (between the quotes) with
 * escapes decoded. A lone surrogate escape becomes U+FFFD. Throws `malformed_body` on an
 * invalid escape.
 */
export function decodeJsonString(src: Uint8Array, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  let w = 0;
  for (let i = start; i < end; ) {
    const b = src[i]!;
    if (b !== 0x5c) {
      out[w++] = b;
      i++;
      continue;
    }
    const e = src[i + 1];
    if (e === undefined || i + 1 >= end) badEscape();
    if (e !== 0x75) {
      const c = SIMPLE[e];
      if (c === undefined) badEscape();
      out[w++] = c;
      i += 2;
      continue;
    }
    let cp = readHex4(src, i + 2, end);
    i += 6;
    if (cp >= 0xd800 && cp <= 0xdbff) {
      const lo = i + 6 <= end && src[i] === 0x5c && src[i + 1] === 0x75 ? readHex4(src, i + 2, end) : -1;
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i += 6;
      } else cp = 0xfffd;
    } else if (cp >= 0xdc00 && cp <= 0xdfff) cp = 0xfffd;
    w = writeCodePoint(out, w, cp);
  }
  return out.subarray(0, w);
}

function writeCodePoint(out: Buffer, w: number, cp: number): number {
  if (cp < 0x80) out[w++] = cp;
  else if (cp < 0x800) {
    out[w++] = 0xc0 | (cp >> 6);
    out[w++] = 0x80 | (cp & 0x3f);
  } else if (cp < 0x10000) {
    out[w++] = 0xe0 | (cp >> 12);
    out[w++] = 0x80 | ((cp >> 6) & 0x3f);
    out[w++] = 0x80 | (cp & 0x3f);
  } else {
    out[w++] = 0xf0 | (cp >> 18);
    out[w++] = 0x80 | ((cp >> 12) & 0x3f);
    out[w++] = 0x80 | ((cp >> 6) & 0x3f);
    out[w++] = 0x80 | (cp & 0x3f);
  }
  return w;
}

/** The bytes of a masked value. */
export function maskedBytes(m: MaskedText): Buffer {
  const out = Buffer.allocUnsafe(m.byteLength);
  m.writeTo(out, 0);
  return out;
}

const HEX = "0123456789abcdef";

/** `bytes` (UTF-8 text) as a JSON string literal: quotes, '\\' and control characters escaped. */
export function quoteJson(bytes: Uint8Array): Buffer {
  let extra = 2;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x22 || b === 0x5c) extra += 1;
    else if (b < 0x20) extra += 5;
  }
  const out = Buffer.allocUnsafe(bytes.length + extra);
  let w = 0;
  out[w++] = 0x22;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x22 || b === 0x5c) {
      out[w++] = 0x5c;
      out[w++] = b;
    } else if (b < 0x20) {
      out.write(`\\u00${HEX[b >> 4]}${HEX[b & 15]}`, w, "latin1");
      w += 6;
    } else out[w++] = b;
  }
  out[w++] = 0x22;
  return out;
}
