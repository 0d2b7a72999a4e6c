import type { Duplex } from "node:stream";
import { type FrameReader, FrameScanner, type FrameSink } from "@sluice/pg-wire";

/** The session a pump works for. */
export interface PumpOwner {
  readonly ended: boolean;
  bytesIn: number;
  bytesOut: number;
  protocolError(fromClient: boolean, err: unknown): void;
  /**
   * Called before upstream frames go to the client: what the recording made of the frames
   * read so far is handed to the kernel first, so the client never sees a result the
   * recording lacks. Ends the session (`ended`) when the recording cannot be written.
   */
  commit(): void;
}

/** Moves one direction's bytes. */
export interface Pump {
  /** Everything written to the destination so far ends on a frame boundary. */
  readonly atBoundary: boolean;
  /** Relays the bytes the handshake left in the reader, then reads the source. */
  start(reader: FrameReader): void;
}

/**
 * Forwards every chunk as it arrives, in one write, then lets the sink read the chunk's
 * frames in place (FrameScanner); frames nobody reads are never copied. Only a frame
 * header cut by a chunk's end waits (at most 4 bytes) until its length is checked.
 */
export class PassPump implements Pump {
  private readonly scanner: FrameScanner;
  private waiting = false;
  /** Resumes the source once the destination drained; made on the first full buffer. */
  private onDrain: (() => void) | undefined = undefined;

  constructor(
    private readonly owner: PumpOwner,
    private readonly src: Duplex,
    private readonly dst: Duplex,
    sink: FrameSink,
    types: Uint8Array,
    private readonly fromClient: boolean,
  ) {
    this.scanner = new FrameScanner(types, sink);
  }

  get atBoundary(): boolean {
    return this.scanner.atBoundary;
  }

  /** Continues from where the handshake's reader stopped; the reader is not kept. */
  start(reader: FrameReader): void {
    this.scanner.maxFrameLength = reader.maxFrameLength;
    for (const chunk of reader.drain()) this.push(chunk);
    this.src.on("data", this.push.bind(this));
    this.src.resume();
  }

  private push(chunk: Buffer): void {
    const owner = this.owner;
    if (owner.ended) return;
    if (this.fromClient) owner.bytesIn += chunk.length;
    const scanner = this.scanner;
    let n: number;
    try {
      n = scanner.scan(chunk);
    } catch (err) {
      owner.protocolError(this.fromClient, err);
      return;
    }
    if (!this.fromClient && !this.recordFirst()) return;
    const held = scanner.released;
    const dst = this.dst;
    let ok = true;
    if (held !== undefined) {
      dst.cork();
      ok = dst.write(held);
      if (n > 0) ok = dst.write(chunk.subarray(0, n)) && ok;
      dst.uncork();
      n += held.length;
    } else if (n > 0) {
      ok = dst.write(n === chunk.length ? chunk : chunk.subarray(0, n));
    }
    if (!this.fromClient) owner.bytesOut += n;
    if (!ok && !this.waiting) {
      this.waiting = true;
      this.src.pause();
      this.onDrain ??= this.drained.bind(this);
      dst.once("drain", this.onDrain);
    }
    // Client bytes are on their way; reading their frames for the recording is off the latency path.
    try {
      scanner.deliver();
    } catch (err) {
      owner.protocolError(this.fromClient, err);
    }
  }

  private drained(): void {
    this.waiting = false;
    this.src.resume();
  }

  /** Upstream: the recording reads the chunk's frames and commits before they are forwarded. */
  private recordFirst(): boolean {
    const owner = this.owner;
    try {
      this.scanner.deliver();
    } catch (err) {
      owner.protocolError(false, err);
      return false;
    }
    owner.commit();
    return !owner.ended;
  }
}
