/** Encodes a length-encoded integer (numbers up to 2^53, or a bigint up to 2^64-1). */
export function lenencInt(value: number | bigint): Buffer {
  const v = typeof value === "bigint" ? value : BigInt(value);
  if (v < 0n || v > 0xffffffffffffffffn) throw new RangeError("length-encoded integer out of range");
  if (v < 0xfbn) return Buffer.from([Number(v)]);
  if (v <= 0xffffn) {
    const b = Buffer.alloc(3);
    b[0] = 0xfc;
    b.writeUInt16LE(Number(v), 1);
    return b;
  }
  if (v <= 0xffffffn) {
    const b = Buffer.alloc(4);
    b[0] = 0xfd;
    b.writeUIntLE(Number(v), 1, 3);
    return b;
  }
  const b = Buffer.alloc(9);
  b[0] = 0xfe;
  b.writeBigUInt64LE(v, 1);
  return b;
}

/** Number of bytes `lenencInt(n)` takes. */
export function lenencIntSize(n: number): number {
  if (n < 0xfb) return 1;
  if (n <= 0xffff) return 3;
  if (n <= 0xffffff) return 4;
  return 9;
}

export function lenencBytes(data: Buffer | string): Buffer {
  const b = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  return Buffer.concat([lenencInt(b.length), b]);
}

export function nulString(data: Buffer | string): Buffer {
  const b = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  return Buffer.concat([b, Buffer.from([0])]);
}

/** Small append-only builder for payloads. */
export class PayloadWriter {
  private parts: Buffer[] = [];

  u8(v: number): this {
    this.parts.push(Buffer.from([v & 0xff]));
    return this;
  }

  u16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v & 0xffff);
    this.parts.push(b);
    return this;
  }

  u24(v: number): this {
    const b = Buffer.alloc(3);
    b.writeUIntLE(v & 0xffffff, 0, 3);
    this.parts.push(b);
    return this;
  }

  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    this.parts.push(b);
    return this;
  }

  u64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(v);
    this.parts.push(b);
    return this;
  }

  lenencInt(v: number | bigint): this {
    this.parts.push(lenencInt(v));
    return this;
  }

  lenencBytes(v: Buffer | string): this {
    this.parts.push(lenencBytes(v));
    return this;
  }

  nulString(v: Buffer | string): this {
    this.parts.push(nulString(v));
    return this;
  }

  bytes(v: Buffer | string): this {
    this.parts.push(typeof v === "string" ? Buffer.from(v, "utf8") : v);
    return this;
  }

  zeros(n: number): this {
    this.parts.push(Buffer.alloc(n));
    return this;
  }

  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}
