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
  private waiter: { resolve: (f: Frame) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private readonly onData = (chunk: Buffer) => {
    this.reader.push(chunk);
    this.pump();
  };
  private readonly onGone = (err?: Error) => this.fail(err ?? new Error("connection closed"));

  constructor(
    readonly socket: Duplex,
    readonly reader: FrameReader,
    private readonly what: string,
  ) {
    socket.on("data", this.onData);
    socket.on("error", this.onGone);
    socket.on("close", this.onGone);
    socket.on("end", this.onGone);
  }

  next(timeoutMs: number): Promise<Frame> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(
        () => this.fail(new PgClientError("08006", `timed out waiting for the ${this.what}`)),
        timeoutMs,
      );
      this.waiter = {
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.pump();
      if (this.waiter) this.socket.resume();
    });
  }

  /** Stops reading; the socket stays paused and unread bytes remain in the reader. */
  detach(): void {
    this.socket.pause();
    this.socket.off("data", this.onData);
    this.socket.off("error", this.onGone);
    this.socket.off("close", this.onGone);
    this.socket.off("end", this.onGone);
  }

  private pump(): void {
    if (!this.waiter) {
      this.socket.pause();
      return;
    }
    try {
      if (!this.reader.next()) return;
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    const w = this.waiter;
    this.waiter = undefined;
    this.socket.pause();
    w.resolve(this.reader.frame());
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(this.failure);
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
