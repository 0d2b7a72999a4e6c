import type { Duplex } from "node:stream";

/**
 * Pause bookkeeping for one socket: the socket reads only while no reason to pause it is
 * set (the other side's write buffer is full, our own read-ahead is full, a verdict is held).
 */
export class FlowControl {
  private reasons = new Set<string>();

  constructor(private readonly socket: Duplex) {}

  pause(reason: string): void {
    this.reasons.add(reason);
    this.socket.pause();
  }

  resume(reason: string): void {
    this.reasons.delete(reason);
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
