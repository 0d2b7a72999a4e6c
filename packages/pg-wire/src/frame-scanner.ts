import { ProtocolError } from "./errors";
import { DEFAULT_MAX_FRAME, describeType } from "./frame-reader";

/** Receives the frames a {@link FrameScanner} delivers. */
export interface FrameSink {
  /**
   * One whole frame of a type the scanner delivers: `buf[start, end)`, body from
   * `start + 5`. `buf` is the chunk itself when the frame lies inside it (a view: use
   * it before the call returns), otherwise a copy.
   */
  onFrame(type: number, buf: Buffer, start: number, end: number): void;
  /**
   * A frame of a delivered type spans chunks: true to have it reassembled (copied) and
   * passed to `onFrame`, false to let it through uncopied (then `onPassed` is called).
   */
  collect(type: number, length: number): boolean;
  /** A frame of a delivered type went through without `onFrame` (see `collect`). */
  onPassed(type: number): void;
}

/** Which frame types a scanner delivers to its sink: `table[type] !== 0`. */
export function frameTypes(...types: number[]): Uint8Array {
  const table = new Uint8Array(256);
  for (const t of types) table[t] = 1;
  return table;
}

const HEADER = 5;

/**
 * Finds the typed frames in a byte stream that is forwarded chunk by chunk, without
 * holding bytes back: each chunk is forwarded as it came, except a frame header cut
 * by the chunk's end (at most 4 bytes), which waits until its declared length has been
 * checked. Frames of the types in `types` go to the sink, in place when they lie inside
 * one chunk; every other frame is skipped over without being copied. Declared lengths
 * are bounded by `maxFrameLength`; a bad one throws a ProtocolError before any of its
 * bytes (or of the chunk it is in) are released, so nothing forwarded belongs to it; a
 * frame that spanned into that chunk went out only in part.
 *
 * The sink hears of a chunk's frames from `deliver()`, so a relay can forward the chunk
 * first and read its frames afterwards, off the latency path (only a frame spanning
 * chunks that the sink may decline makes `scan` deliver what came before it, so the sink
 * decides with everything before it seen).
 */
export class FrameScanner {
  /** A held partial header, completed and checked: send these bytes before the chunk's. */
  released: Buffer | undefined = undefined;
  /** Body bytes of the current frame not seen yet; 0 between frames. */
  private remaining = 0;
  /** Held bytes of a header cut by a chunk's end. */
  private partial: Buffer | undefined = undefined;
  /** A delivered frame being reassembled across chunks. */
  private collecting: Buffer | undefined = undefined;
  private filled = 0;
  /** Type of the frame being skipped when the sink must hear of it (onPassed), else -1. */
  private passing = -1;
  /**
   * Frames found and not delivered yet, in order, four slots each: type, buffer
   * (`undefined`: passed unread), start, end. Created on the first frame found, so a
   * scanner that has seen none (an idle session) holds no array.
   */
  private pending: (number | Buffer | undefined)[] | undefined = undefined;
  private pendingCount = 0;

  constructor(
    private readonly types: Uint8Array,
    private readonly sink: FrameSink,
    /** Upper bound for a frame's declared length. */
    public maxFrameLength = DEFAULT_MAX_FRAME,
  ) {}

  /** True when everything forwarded so far ends on a frame boundary. */
  get atBoundary(): boolean {
    return this.remaining === 0;
  }

  /**
   * Hands the frames found by `scan` to the sink, in order. Views of a chunk stay valid
   * as long as the chunk is not reused, so call it before the next `scan`.
   */
  deliver(): void {
    const n = this.pendingCount;
    if (n === 0) return;
    this.pendingCount = 0;
    const pending = this.pending!;
    const sink = this.sink;
    const last = n * 4;
    try {
      for (let i = 0; i < last; i += 4) {
        const buf = pending[i + 1] as Buffer | undefined;
        if (buf === undefined) sink.onPassed(pending[i] as number);
        else sink.onFrame(pending[i] as number, buf, pending[i + 2] as number, pending[i + 3] as number);
      }
    } finally {
      // Chunks are not kept beyond their delivery.
      for (let i = 1; i < last; i += 4) pending[i] = undefined;
    }
  }

  /**
   * Scans one chunk. Returns how many of its leading bytes may be forwarded now; when
   * `released` is set, those bytes go first. The frames found wait for `deliver()`.
   */
  scan(chunk: Buffer): number {
    this.released = undefined;
    const end = chunk.length;
    let pos = 0;
    if (this.partial) {
      pos = this.completeHeader(chunk);
      if (pos < 0) return 0;
    }
    for (;;) {
      if (this.remaining > 0) {
        pos = this.continueFrame(chunk, pos);
        if (this.remaining > 0) return end;
      }
      if (pos >= end) return end;
      if (end - pos < HEADER) {
        this.partial = Buffer.from(chunk.subarray(pos, end));
        return pos;
      }
      const type = chunk[pos]!;
      const length = chunk.readUInt32BE(pos + 1);
      this.check(type, length);
      const frameEnd = pos + length + 1;
      if (frameEnd <= end) {
        if (this.types[type] !== 0) this.found(type, chunk, pos, frameEnd);
        pos = frameEnd;
        continue;
      }
      this.startFrame(type, length, chunk, pos);
      return end;
    }
  }

  /** Completes a held header from the chunk's first bytes; -1 when the chunk was too short. */
  private completeHeader(chunk: Buffer): number {
    const held = this.partial!;
    const need = HEADER - held.length;
    if (chunk.length < need) {
      this.partial = Buffer.concat([held, chunk]);
      return -1;
    }
    const header = Buffer.concat([held, chunk.subarray(0, need)]);
    const type = header[0]!;
    const length = header.readUInt32BE(1);
    this.check(type, length);
    this.partial = undefined;
    this.released = held;
    this.remaining = length - 4;
    if (this.types[type] !== 0 && this.collect(type, length)) {
      this.collecting = Buffer.allocUnsafe(length + 1);
      header.copy(this.collecting, 0);
      this.filled = HEADER;
      this.passing = -1;
    } else {
      this.passing = this.types[type] !== 0 ? type : -1;
    }
    if (this.remaining === 0) this.endFrame();
    return need;
  }

  private startFrame(type: number, length: number, chunk: Buffer, pos: number): void {
    const have = chunk.length - pos;
    this.remaining = length + 1 - have;
    if (this.types[type] !== 0 && this.collect(type, length)) {
      this.collecting = Buffer.allocUnsafe(length + 1);
      chunk.copy(this.collecting, 0, pos);
      this.filled = have;
      this.passing = -1;
    } else {
      this.passing = this.types[type] !== 0 ? type : -1;
    }
  }

  private continueFrame(chunk: Buffer, pos: number): number {
    const n = Math.min(this.remaining, chunk.length - pos);
    if (this.collecting) {
      chunk.copy(this.collecting, this.filled, pos, pos + n);
      this.filled += n;
    }
    this.remaining -= n;
    if (this.remaining === 0) this.endFrame();
    return pos + n;
  }

  /** The frame that spanned chunks is complete: deliver it, or tell the sink it went through. */
  private endFrame(): void {
    const frame = this.collecting;
    if (frame) {
      this.collecting = undefined;
      this.filled = 0;
      this.found(frame[0]!, frame, 0, frame.length);
    } else if (this.passing >= 0) {
      const type = this.passing;
      this.passing = -1;
      this.found(type, undefined, 0, 0);
    }
  }

  private found(type: number, buf: Buffer | undefined, start: number, end: number): void {
    const i = this.pendingCount++ * 4;
    this.pending ??= [];
    const pending = this.pending;
    pending[i] = type;
    pending[i + 1] = buf;
    pending[i + 2] = start;
    pending[i + 3] = end;
  }

  /** Asks the sink whether to copy a spanning frame, once it has seen every frame before it. */
  private collect(type: number, length: number): boolean {
    this.deliver();
    return this.sink.collect(type, length);
  }

  private check(type: number, length: number): void {
    if (length < 4) {
      throw new ProtocolError("frame_too_short", `message length ${length} is invalid (minimum 4)`);
    }
    if (length > this.maxFrameLength) {
      throw new ProtocolError(
        "frame_too_large",
        `message of type ${describeType(type)} length ${length} exceeds the limit of ${this.maxFrameLength} bytes`,
      );
    }
  }
}
