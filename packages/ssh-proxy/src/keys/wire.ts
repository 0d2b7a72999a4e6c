/** A malformed or oversized SSH wire structure. The message names the field, never the bytes. */
export class SshFormatError extends Error {
  override name = "SshFormatError";
}

/** Reads RFC 4251 types (uint32, uint64, string) with bounds on every length. */
export class SshReader {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  get offset(): number {
    return this.pos;
  }

  u32(field: string): number {
    if (this.pos + 4 > this.buf.length) throw new SshFormatError(`truncated ${field}`);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(field: string): bigint {
    if (this.pos + 8 > this.buf.length) throw new SshFormatError(`truncated ${field}`);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A length-prefixed byte string of at most `max` bytes. */
  string(field: string, max = 16_384): Buffer {
    const len = this.u32(field);
    if (len > max) throw new SshFormatError(`${field} is too long`);
    if (this.pos + len > this.buf.length) throw new SshFormatError(`truncated ${field}`);
    const v = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return v;
  }

  /** A length-prefixed UTF-8 string without NUL bytes. */
  text(field: string, max = 1024): string {
    const raw = this.string(field, max);
    const s = raw.toString("utf8");
    if (s.includes("\0") || !Buffer.from(s, "utf8").equals(raw))
      throw new SshFormatError(`${field} is not text`);
    return s;
  }

  atEnd(): boolean {
    return this.pos === this.buf.length;
  }

  end(field: string): void {
    if (!this.atEnd()) throw new SshFormatError(`unexpected bytes after ${field}`);
  }
}

/** Writes RFC 4251 types. */
export class SshWriter {
  private readonly parts: Buffer[] = [];

  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    this.parts.push(b);
    return this;
  }

  u64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    this.parts.push(b);
    return this;
  }

  string(v: Buffer | string): this {
    const b = typeof v === "string" ? Buffer.from(v, "utf8") : v;
    this.u32(b.length);
    this.parts.push(b);
    return this;
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** A packed list of strings (e.g. certificate principals). */
export function packStrings(values: string[]): Buffer {
  const w = new SshWriter();
  for (const v of values) w.string(v);
  return w.bytes();
}
