import { ProtocolError } from "./errors";

/**
 * Cursor over one packet payload: fixed-width little-endian integers, length-encoded
 * integers and strings, NUL-terminated strings. Every read is checked against the end of
 * the payload; a truncated payload throws `ProtocolError("malformed_packet")`.
 */
export class PayloadReader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    pos = 0,
    readonly end = buf.length,
  ) {
    this.pos = pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  atEnd(): boolean {
    return this.pos >= this.end;
  }

  private need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.end) {
      throw new ProtocolError("malformed_packet", `packet truncated while reading ${what}`);
    }
  }

  u8(): number {
    this.need(1, "an int<1>");
    return this.buf[this.pos++]!;
  }

  peek(): number {
    this.need(1, "an int<1>");
    return this.buf[this.pos]!;
  }

  u16(): number {
    this.need(2, "an int<2>");
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u24(): number {
    this.need(3, "an int<3>");
    const v = this.buf.readUIntLE(this.pos, 3);
    this.pos += 3;
    return v;
  }

  u32(): number {
    this.need(4, "an int<4>");
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(): bigint {
    this.need(8, "an int<8>");
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A length-encoded integer as a number; values above 2^53 throw (lengths and counts never need them). */
  lenencInt(): number {
    const v = this.lenencIntOrNull();
    if (v === null) throw new ProtocolError("malformed_packet", "unexpected NULL length-encoded integer");
    return v;
  }

  /** A length-encoded integer, or null for the 0xFB NULL marker. */
  lenencIntOrNull(): number | null {
    const first = this.u8();
    if (first < 0xfb) return first;
    if (first === 0xfb) return null;
    if (first === 0xfc) return this.u16();
    if (first === 0xfd) return this.u24();
    if (first === 0xfe) {
      const big = this.u64();
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new ProtocolError("malformed_packet", "length-encoded integer too large");
      }
      return Number(big);
    }
    throw new ProtocolError("malformed_packet", "invalid length-encoded integer prefix 0xff");
  }

  /** A length-encoded integer that may use all 64 bits (affected rows, insert ids). */
  lenencBigInt(): bigint {
    const first = this.peek();
    if (first === 0xfe) {
      this.pos++;
      return this.u64();
    }
    return BigInt(this.lenencInt());
  }

  bytes(n: number): Buffer {
    this.need(n, `${n} bytes`);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  lenencBytes(): Buffer {
    return this.bytes(this.lenencInt());
  }

  /** A length-encoded string's bytes, or null for a NULL cell (0xFB). */
  lenencBytesOrNull(): Buffer | null {
    const n = this.lenencIntOrNull();
    return n === null ? null : this.bytes(n);
  }

  lenencString(): string {
    return this.lenencBytes().toString("utf8");
  }

  /** NUL-terminated bytes (the NUL is consumed, not returned). At most `max` bytes before the NUL. */
  nulBytes(max = this.end - this.pos): Buffer {
    const limit = Math.min(this.end, this.pos + max + 1);
    const at = this.buf.indexOf(0, this.pos);
    if (at < 0 || at >= limit) {
      throw new ProtocolError("malformed_packet", "NUL-terminated string missing its NUL or too long");
    }
    const v = this.buf.subarray(this.pos, at);
    this.pos = at + 1;
    return v;
  }

  nulString(max?: number): string {
    return this.nulBytes(max).toString("utf8");
  }

  /** The rest of the payload. */
  rest(): Buffer {
    const v = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return v;
  }

  /** The rest of the payload without one trailing NUL, if present. */
  restWithoutNul(): Buffer {
    const v = this.rest();
    return v.length > 0 && v[v.length - 1] === 0 ? v.subarray(0, v.length - 1) : v;
  }

  skip(n: number): void {
    this.need(n, `${n} bytes`);
    this.pos += n;
  }
}
