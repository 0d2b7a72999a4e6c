/** Growable buffer for serializing one message; `finish` fills in the header. */
export class MessageWriter {
  private buf: Buffer;
  private pos: number;
  private readonly headerLength: number;

  /** `type` is the message type byte, or undefined for an untyped startup-phase frame. */
  constructor(
    private readonly type: number | undefined,
    capacity = 64,
  ) {
    this.headerLength = type === undefined ? 4 : 5;
    this.buf = Buffer.allocUnsafe(Math.max(capacity, this.headerLength + 16));
    this.pos = this.headerLength;
  }

  int8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  int16(v: number): this {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.pos);
    this.pos += 2;
    return this;
  }

  int32(v: number): this {
    this.ensure(4);
    this.buf.writeInt32BE(v | 0, this.pos);
    this.pos += 4;
    return this;
  }

  cstring(s: string): this {
    const n = Buffer.byteLength(s);
    this.ensure(n + 1);
    this.buf.write(s, this.pos, "utf8");
    this.pos += n;
    this.buf[this.pos++] = 0;
    return this;
  }

  string(s: string): this {
    const n = Buffer.byteLength(s);
    this.ensure(n);
    this.buf.write(s, this.pos, "utf8");
    this.pos += n;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  finish(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    if (this.type === undefined) {
      out.writeInt32BE(this.pos, 0);
    } else {
      out[0] = this.type;
      out.writeInt32BE(this.pos - 1, 1);
    }
    return out;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
}
