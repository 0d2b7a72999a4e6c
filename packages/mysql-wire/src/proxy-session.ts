import type { Duplex } from "node:stream";

/**
 * Pause bookkeeping for one socket: the socket reads only while no reason to pause it is
 * set (the other side's write buffer is full, our own read-ahead is full, a verdict is held).
 */
export class FlowControl {
  private reasons = new Set<string>();

  constructor(private readonly socket: Duplex) {}

  pause(reason: string): void {
    if (this.reasons.has(reason)) return;
    this.reasons.add(reason);
    this.socket.pause();
  }

  /** Lifts one reason; the socket reads again once none is left (a reason never set changes nothing). */
  resume(reason: string): void {
    if (!this.reasons.delete(reason)) return;
    if (this.reasons.size === 0) this.socket.resume();
  }
}

/** Writes a batch of buffers with one corked flush; returns whether the socket wants more. */
export function writeBatch(socket: Duplex, buffers: Buffer[]): boolean {
  if (buffers.length === 0) return true;
  if (buffers.length === 1) return socket.write(buffers[0]!);
  socket.cork();
  let ok = true;
  for (const b of buffers) ok = socket.write(b) && ok;
  socket.uncork();
  return ok;
}

/**
 * Packets queued for one socket until the next flush. Received packets relayed unchanged
 * that lie next to each other in memory (one read's worth of a result set) leave as one
 * view of the bytes that arrived, without copying or re-framing them.
 */
export class Outbox {
  private out: Buffer[] = [];
  private span: Buffer | undefined;
  private spanLength = 0;

  /** Queues a received packet (header and payload) as it is. */
  frame(frame: Buffer): void {
    const span = this.span;
    if (span && span.buffer === frame.buffer && span.byteOffset + this.spanLength === frame.byteOffset) {
      this.spanLength += frame.length;
      return;
    }
    this.closeSpan();
    this.span = frame;
    this.spanLength = frame.length;
  }

  /** Queues an encoded packet (header and payload buffers, in order). */
  packets(buffers: Buffer[]): void {
    this.closeSpan();
    for (const b of buffers) this.out.push(b);
  }

  /** Everything queued, in order; the outbox is empty afterwards. */
  take(): Buffer[] {
    this.closeSpan();
    const out = this.out;
    this.out = [];
    return out;
  }

  private closeSpan(): void {
    const span = this.span;
    if (!span) return;
    this.span = undefined;
    this.out.push(
      this.spanLength === span.length ? span : Buffer.from(span.buffer, span.byteOffset, this.spanLength),
    );
  }
}
