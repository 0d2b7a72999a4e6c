import { ProtocolError } from "./errors";

/** Bounds-checked cursor over one message body; every overrun is a ProtocolError. */
export class MessageReader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    private readonly what: string,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  int8(): number {
    this.need(1, "byte");
    return this.buf[this.pos++]!;
  }

  int16(): number {
    this.need(2, "int16");
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    this.need(4, "int32");
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint32(): number {
    this.need(4, "int32");
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  cstring(): string {
    const zero = this.buf.indexOf(0, this.pos);
    if (zero < 0 || zero >= this.end) this.malformed("unterminated string");
    const s = this.buf.toString("utf8", this.pos, zero);
    this.pos = zero + 1;
    return s;
  }

  bytes(n: number): Buffer {
    if (n < 0) this.malformed(`negative length ${n}`);
    this.need(n, "bytes");
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  rest(): Buffer {
    const b = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return b;
  }

  /** A count read from the wire, checked against what could fit in the rest of the body. */
  count(n: number, minBytesEach: number): number {
    if (n < 0 || n * minBytesEach > this.remaining) this.malformed(`count ${n} does not fit in the message`);
    return n;
  }

  done(): void {
    if (this.pos !== this.end) this.malformed(`${this.end - this.pos} unexpected trailing bytes`);
  }

  malformed(detail: string): never {
    throw new ProtocolError("malformed_message", `malformed ${this.what} message: ${detail}`);
  }

  private need(n: number, kind: string): void {
    if (this.end - this.pos < n) this.malformed(`truncated ${kind}`);
  }
}
