import { MAX_PACKET_CHUNK } from "./constants";
import { ProtocolError } from "./errors";

/** Default bound of one logical (joined) payload: 64 MiB, MySQL's default max_allowed_packet. */
export const DEFAULT_MAX_PAYLOAD = 64 * 1024 * 1024;
/** Hard upper bound a caller may configure: 1 GiB, MySQL's largest max_allowed_packet. */
export const MAX_CONFIGURABLE_PAYLOAD = 1024 * 1024 * 1024;

/** One logical packet: physical packets of 0xFFFFFF bytes and their continuation joined. */
export interface Packet {
  /** Sequence id of the first physical packet. */
  seq: number;
  /** Number of physical packets it took (the next packet's seq is `seq + fragments`). */
  fragments: number;
  payload: Buffer;
  /**
   * The packet as it arrived (header and payload, a view of the received bytes) when it was
   * one physical packet lying inside one chunk; a relay that changes nothing can write it as is.
   */
  frame?: Buffer;
}

export interface PacketReaderOptions {
  /** Upper bound of a joined payload; default 64 MiB, at most 1 GiB. */
  maxPayload?: number;
}

const EMPTY = Buffer.alloc(0);

/**
 * Incremental packet decoder. Push chunks as they arrive (split anywhere), then call
 * {@link next} until it returns undefined. A payload lying inside one chunk is returned as
 * a view of it (no copy). Every declared length is checked against `maxPayload` as soon as
 * its header is complete, so buffering never exceeds one maximum payload plus one chunk.
 */
export class PacketReader {
  private chunks: Buffer[] = [];
  private pos = 0;
  private avail = 0;
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private firstSeq = 0;
  private readonly max: number;
  private failure: ProtocolError | undefined;

  constructor(options: PacketReaderOptions = {}) {
    const max = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    if (!Number.isInteger(max) || max < 1 || max > MAX_CONFIGURABLE_PAYLOAD) {
      throw new RangeError(`maxPayload must be an integer in [1, ${MAX_CONFIGURABLE_PAYLOAD}]`);
    }
    this.max = max;
  }

  get maxPayload(): number {
    return this.max;
  }

  /** Bytes received and not yet returned (including fragments of an incomplete packet). */
  get buffered(): number {
    return this.avail + this.pendingLength;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0 || this.failure) return;
    this.chunks.push(chunk);
    this.avail += chunk.length;
  }

  next(): Packet | undefined {
    if (this.failure) throw this.failure;
    if (this.pending.length === 0) {
      const whole = this.wholeInHead();
      if (whole) return whole;
    }
    for (;;) {
      if (this.avail < 4) return undefined;
      const length = this.byteAt(0) | (this.byteAt(1) << 8) | (this.byteAt(2) << 16);
      const seq = this.byteAt(3);
      if (this.pending.length === 0) this.firstSeq = seq;
      else if (((this.firstSeq + this.pending.length) & 0xff) !== seq) {
        this.fail("malformed_packet", `continuation packet has sequence id ${seq}, out of order`);
      }
      if (this.pendingLength + length > this.max) {
        this.fail("packet_too_large", `packet payload exceeds the limit of ${this.max} bytes`);
      }
      if (this.avail < 4 + length) return undefined;
      this.consume(4);
      this.pending.push(this.take(length));
      this.pendingLength += length;
      if (length < MAX_PACKET_CHUNK) return this.finish();
    }
  }

  /** A complete single-fragment packet lying in the first chunk, as views of it (the common case). */
  private wholeInHead(): Packet | undefined {
    const head = this.chunks[0];
    if (!head) return undefined;
    const at = this.pos;
    if (head.length - at < 4) return undefined;
    const length = head[at]! | (head[at + 1]! << 8) | (head[at + 2]! << 16);
    if (length >= MAX_PACKET_CHUNK || length > this.max || head.length - at < 4 + length) return undefined;
    const frame = head.subarray(at, at + 4 + length);
    this.pos = at + 4 + length;
    this.avail -= 4 + length;
    if (this.pos === head.length) {
      this.chunks.shift();
      this.pos = 0;
    }
    return { seq: head[at + 3]!, fragments: 1, payload: length === 0 ? EMPTY : frame.subarray(4), frame };
  }

  /** Returns and forgets every buffered byte not yet returned as a packet (before a TLS upgrade or hand-over). */
  drain(): Buffer[] {
    const out = [...this.pendingRaw()];
    for (let i = 0; i < this.chunks.length; i++) {
      const c = i === 0 ? this.chunks[0]!.subarray(this.pos) : this.chunks[i]!;
      if (c.length > 0) out.push(c);
    }
    this.chunks = [];
    this.pos = 0;
    this.avail = 0;
    this.pending = [];
    this.pendingLength = 0;
    return out;
  }

  private pendingRaw(): Buffer[] {
    const out: Buffer[] = [];
    this.pending.forEach((p, i) => {
      out.push(packetHeader(p.length, (this.firstSeq + i) & 0xff), p);
    });
    return out;
  }

  private finish(): Packet {
    const fragments = this.pending.length;
    const payload = fragments === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLength);
    this.pending = [];
    this.pendingLength = 0;
    return { seq: this.firstSeq, fragments, payload };
  }

  private fail(code: "malformed_packet" | "packet_too_large", message: string): never {
    this.failure = new ProtocolError(code, message);
    this.chunks = [];
    this.avail = 0;
    this.pending = [];
    this.pendingLength = 0;
    throw this.failure;
  }

  private byteAt(offset: number): number {
    let i = this.pos + offset;
    for (const c of this.chunks) {
      if (i < c.length) return c[i]!;
      i -= c.length;
    }
    return 0;
  }

  private consume(n: number): void {
    let left = n;
    while (left > 0) {
      const head = this.chunks[0]!;
      const inHead = head.length - this.pos;
      if (left < inHead) {
        this.pos += left;
        break;
      }
      left -= inHead;
      this.chunks.shift();
      this.pos = 0;
    }
    this.avail -= n;
  }

  private take(n: number): Buffer {
    if (n === 0) return EMPTY;
    const head = this.chunks[0]!;
    if (head.length - this.pos >= n) {
      const view = head.subarray(this.pos, this.pos + n);
      this.consume(n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const part = Math.min(c.length - this.pos, n - filled);
      c.copy(out, filled, this.pos, this.pos + part);
      filled += part;
      this.consume(part);
    }
    return out;
  }
}

export function packetHeader(length: number, seq: number): Buffer {
  return Buffer.from([length & 0xff, (length >> 8) & 0xff, (length >> 16) & 0xff, seq & 0xff]);
}

/** Number of physical packets a payload of `length` bytes takes. */
export function fragmentCount(length: number): number {
  return Math.floor(length / MAX_PACKET_CHUNK) + 1;
}

/**
 * Frames a payload as physical packets starting at `seq`: payloads of 0xFFFFFF bytes or
 * more are split, and one of exactly a multiple of 0xFFFFFF ends with an empty packet.
 * Returns header/payload buffers to write in order (payload bytes are not copied).
 */
export function encodePacket(seq: number, payload: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  let s = seq;
  for (;;) {
    const length = Math.min(MAX_PACKET_CHUNK, payload.length - offset);
    out.push(packetHeader(length, s));
    if (length > 0) out.push(payload.subarray(offset, offset + length));
    offset += length;
    s = (s + 1) & 0xff;
    if (length < MAX_PACKET_CHUNK) return out;
  }
}

/** {@link encodePacket} joined into one buffer (for small packets and tests). */
export function packet(seq: number, payload: Buffer): Buffer {
  return Buffer.concat(encodePacket(seq, payload));
}
