import { ProtocolError } from "./errors";

export const DEFAULT_MAX_STARTUP_FRAME = 10 * 1024;
export const DEFAULT_MAX_FRAME = 64 * 1024 * 1024;

export interface FrameReaderOptions {
  /** Startup phase: frames have no type byte (StartupMessage, SSLRequest, CancelRequest...). */
  startup?: boolean;
  /** Upper bound for the declared length of a typed frame. Default 64 MiB. */
  maxFrameLength?: number;
  /** Upper bound for the declared length of a startup-phase frame. Default 10 KiB. */
  maxStartupFrameLength?: number;
}

/** One complete frame. `raw` is the whole frame including its header, for pass-through. */
export interface Frame {
  /** Message type byte; 0 for untyped startup-phase frames. */
  type: number;
  body: Buffer;
  raw: Buffer;
}

const EMPTY = Buffer.alloc(0);

/**
 * Incremental frame decoder. Push chunks with {@link push}, then call {@link next}
 * until it returns false. After `next()` returns true the current frame is
 * `buf[start, end)` with the body at `buf[bodyStart, end)`; when the frame lies
 * inside one chunk `buf` is that chunk (no copy), so consecutive frames of a chunk
 * are adjacent and can be forwarded as one slice (see `SliceBatch`). Only a frame
 * that spans chunks is copied. Declared lengths are checked as soon as the header
 * is complete, so buffering never exceeds one maximum frame plus one chunk.
 */
export class FrameReader {
  type = 0;
  buf: Buffer = EMPTY;
  start = 0;
  bodyStart = 0;
  end = 0;

  private chunks: Buffer[] = [];
  private pos = 0;
  private avail = 0;
  private startupMode: boolean;
  private maxTyped: number;
  private maxStartup: number;
  private failure: ProtocolError | undefined;

  constructor(options: FrameReaderOptions = {}) {
    this.startupMode = options.startup ?? false;
    this.maxTyped = options.maxFrameLength ?? DEFAULT_MAX_FRAME;
    this.maxStartup = options.maxStartupFrameLength ?? DEFAULT_MAX_STARTUP_FRAME;
  }

  get startup(): boolean {
    return this.startupMode;
  }

  /** Switches between startup (untyped) and typed framing; takes effect at the next frame. */
  setStartup(startup: boolean): void {
    this.startupMode = startup;
  }

  setMaxFrameLength(max: number): void {
    this.maxTyped = max;
  }

  /** Upper bound for the declared length of a typed frame. */
  get maxFrameLength(): number {
    return this.maxTyped;
  }

  /** Bytes received but not yet returned as frames. */
  get buffered(): number {
    return this.avail;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0 || this.failure) return;
    this.chunks.push(chunk);
    this.avail += chunk.length;
  }

  /**
   * Advances to the next complete frame. Returns false when more bytes are needed; the
   * previous frame is then forgotten, so an idle reader holds no chunk it has read.
   */
  next(): boolean {
    if (this.failure) throw this.failure;
    this.buf = EMPTY;
    const headerLength = this.startupMode ? 4 : 5;
    if (this.avail < headerLength) return false;
    const head = this.chunks[0]!;
    const inHead = head.length - this.pos;
    let type: number;
    let declared: number;
    if (inHead >= headerLength) {
      type = this.startupMode ? 0 : head[this.pos]!;
      declared = head.readUInt32BE(this.pos + headerLength - 4);
    } else {
      type = this.startupMode ? 0 : this.byteAt(0);
      declared = this.uint32At(headerLength - 4);
    }
    this.check(declared, type);
    const total = declared + headerLength - 4;
    if (this.avail < total) return false;
    this.type = type;
    if (inHead >= total) {
      this.buf = head;
      this.start = this.pos;
      this.end = this.pos + total;
      this.consumeInHead(total, inHead);
    } else {
      this.buf = this.copyOut(total);
      this.start = 0;
      this.end = total;
    }
    this.bodyStart = this.start + headerLength;
    return true;
  }

  /** The current frame including its header (a view, not a copy). */
  raw(): Buffer {
    return this.buf.subarray(this.start, this.end);
  }

  /** The current frame's body (a view, not a copy). */
  body(): Buffer {
    return this.buf.subarray(this.bodyStart, this.end);
  }

  frame(): Frame {
    return { type: this.type, body: this.body(), raw: this.raw() };
  }

  /**
   * Returns and forgets every buffered byte (e.g. before handing the socket to TLS or to
   * a relay); the current frame is forgotten too, so the reader holds no chunk.
   */
  drain(): Buffer[] {
    const out: Buffer[] = [];
    for (let i = 0; i < this.chunks.length; i++) {
      const c = i === 0 ? this.chunks[0]!.subarray(this.pos) : this.chunks[i]!;
      if (c.length > 0) out.push(c);
    }
    this.chunks = [];
    this.pos = 0;
    this.avail = 0;
    this.buf = EMPTY;
    this.start = 0;
    this.bodyStart = 0;
    this.end = 0;
    return out;
  }

  private check(declared: number, type: number): void {
    const min = this.startupMode ? 8 : 4;
    const max = this.startupMode ? this.maxStartup : this.maxTyped;
    if (declared < min) {
      this.fail("frame_too_short", `message length ${declared} is invalid (minimum ${min})`);
    }
    if (declared > max) {
      const what = this.startupMode ? "startup message" : `message of type ${describeType(type)}`;
      this.fail("frame_too_large", `${what} length ${declared} exceeds the limit of ${max} bytes`);
    }
  }

  private fail(code: "frame_too_short" | "frame_too_large", message: string): never {
    this.failure = new ProtocolError(code, message);
    this.chunks = [];
    this.avail = 0;
    throw this.failure;
  }

  private consumeInHead(n: number, inHead: number): void {
    this.avail -= n;
    if (n === inHead) {
      this.chunks.shift();
      this.pos = 0;
    } else {
      this.pos += n;
    }
  }

  private byteAt(offset: number): number {
    let i = this.pos + offset;
    for (const c of this.chunks) {
      if (i < c.length) return c[i]!;
      i -= c.length;
    }
    return 0;
  }

  private uint32At(offset: number): number {
    return (
      (this.byteAt(offset) * 0x1000000 +
        ((this.byteAt(offset + 1) << 16) | (this.byteAt(offset + 2) << 8) | this.byteAt(offset + 3))) >>>
      0
    );
  }

  private copyOut(total: number): Buffer {
    const out = Buffer.allocUnsafe(total);
    let filled = 0;
    while (filled < total) {
      const head = this.chunks[0]!;
      const take = Math.min(head.length - this.pos, total - filled);
      head.copy(out, filled, this.pos, this.pos + take);
      filled += take;
      this.consumeInHead(take, head.length - this.pos);
    }
    return out;
  }
}

/** A message type byte as shown in error messages: `'Q'` or `0x00`. */
export function describeType(type: number): string {
  return type >= 0x20 && type < 0x7f ? `'${String.fromCharCode(type)}'` : `0x${type.toString(16)}`;
}

/** Convenience for non-hot paths: every complete frame currently buffered. */
export function readFrames(reader: FrameReader): Frame[] {
  const out: Frame[] = [];
  while (reader.next()) out.push(reader.frame());
  return out;
}
