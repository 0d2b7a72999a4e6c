import type { Duplex } from "node:stream";
import { type Frame, FrameReader } from "@sluice/pg-wire";
import { PgClientError } from "./pg-proxy-types";

/**
 * Reads whole frames from a socket one at a time during a handshake. The socket is
 * paused whenever nobody is waiting for a frame, so a peer cannot make us buffer more
 * than one chunk beyond the frame limit. `detach()` hands the socket and the reader
 * (with any bytes already received) to the next stage.
 */
export class FrameStream {
  private resolveWaiter: ((f: Frame) => void) | undefined;
  private rejectWaiter: ((e: Error) => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failure: Error | undefined;
  private readonly onData: (chunk: Buffer) => void;
  private readonly onGone: (err?: Error) => void;
  private readonly onTimeout: () => void;

  constructor(
    readonly socket: Duplex,
    readonly reader: FrameReader,
    private what: string,
  ) {
    this.onData = this.received.bind(this);
    this.onGone = this.gone.bind(this);
    this.onTimeout = this.timedOut.bind(this);
    socket.on("data", this.onData);
    socket.on("error", this.onGone);
    socket.on("close", this.onGone);
    socket.on("end", this.onGone);
  }

  /** The next frame when it has already arrived (no promise, no timer); undefined otherwise. */
  buffered(): Frame | undefined {
    if (this.failure) throw this.failure;
    try {
      return this.reader.next() ? this.reader.frame() : undefined;
    } catch (err) {
      this.fail(err as Error);
      throw err;
    }
  }

  /** Waits for the next frame; `buffered() ?? (await next(ms))` reads without a promise when it can. */
  next(timeoutMs: number): Promise<Frame> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Frame>((resolve, reject) => {
      this.resolveWaiter = resolve;
      this.rejectWaiter = reject;
      this.timer = setTimeout(this.onTimeout, timeoutMs);
      this.pump();
      if (this.waiting()) this.socket.resume();
    });
  }

  /** Names what the next frames are, for the timeout's message. */
  expecting(what: string): void {
    this.what = what;
  }

  /** Stops reading; the socket stays paused and unread bytes remain in the reader. */
  detach(): void {
    this.socket.pause();
    this.socket.off("data", this.onData);
    this.socket.off("error", this.onGone);
    this.socket.off("close", this.onGone);
    this.socket.off("end", this.onGone);
  }

  private waiting(): boolean {
    return this.resolveWaiter !== undefined;
  }

  private received(chunk: Buffer): void {
    this.reader.push(chunk);
    this.pump();
  }

  private gone(err?: Error): void {
    this.fail(err ?? new Error("connection closed"));
  }

  private timedOut(): void {
    this.fail(new PgClientError("08006", `timed out waiting for the ${this.what}`));
  }

  private pump(): void {
    const resolve = this.resolveWaiter;
    if (!resolve) {
      this.socket.pause();
      return;
    }
    try {
      if (!this.reader.next()) return;
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    this.clearWaiter();
    this.socket.pause();
    resolve(this.reader.frame());
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const reject = this.rejectWaiter;
    this.clearWaiter();
    reject?.(this.failure);
  }

  private clearWaiter(): void {
    this.resolveWaiter = undefined;
    this.rejectWaiter = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

export function newReader(
  startup: boolean,
  limits: { maxStartupFrame: number; maxFrame: number },
): FrameReader {
  return new FrameReader({
    startup,
    maxStartupFrameLength: limits.maxStartupFrame,
    maxFrameLength: limits.maxFrame,
  });
}
