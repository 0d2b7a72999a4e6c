/** The replacement of one value, written straight into the outgoing DataRow frame. */

export type TextEncoding = "latin1" | "utf8";

/** Text up to this many characters is written byte by byte (cheaper than Buffer#write's argument handling). */
const SHORT = 48;

/**
 * New text for a value, written straight into the outgoing frame: as latin1 (one byte
 * per character, for text decoded that way) or as UTF-8, after an optional leading byte
 * (the jsonb version).
 */
export class MaskedText {
  readonly byteLength: number;

  constructor(
    readonly text: string,
    readonly encoding: TextEncoding,
    readonly prefix = -1,
  ) {
    this.byteLength =
      (encoding === "latin1" ? text.length : Buffer.byteLength(text, "utf8")) + (prefix >= 0 ? 1 : 0);
  }

  writeTo(out: Buffer, offset: number): void {
    let at = offset;
    if (this.prefix >= 0) out[at++] = this.prefix;
    const { text } = this;
    if (this.encoding === "latin1" && text.length <= SHORT) {
      for (let i = 0; i < text.length; i++) out[at + i] = text.charCodeAt(i);
    } else {
      out.write(text, at, this.encoding);
    }
  }
}

/**
 * keep_last of an ASCII value, written straight from the source bytes: '*' for every
 * byte but the last `keep`, then those bytes (ids and card numbers: no string at all).
 */
export class KeptTail {
  readonly byteLength: number;

  constructor(
    private readonly src: Buffer,
    private readonly from: number,
    private readonly to: number,
    private readonly stars: number,
    private readonly prefix: number,
  ) {
    this.byteLength = stars + (to - from) + (prefix >= 0 ? 1 : 0);
  }

  writeTo(out: Buffer, offset: number): void {
    let at = offset;
    if (this.prefix >= 0) out[at++] = this.prefix;
    for (let i = 0; i < this.stars; i++) out[at++] = 0x2a;
    for (let i = this.from; i < this.to; i++) out[at++] = this.src[i]!;
  }
}

/** A masked value: new bytes, `null` for SQL NULL, `undefined` when unchanged. */
export type MaskedValue = MaskedText | KeptTail | null | undefined;
