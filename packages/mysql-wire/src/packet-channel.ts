import type { Duplex } from "node:stream";
import { ProtocolError } from "./errors";
import { encodePacket, type Packet, PacketReader } from "./packet-reader";

/**
 * Request/response packet I/O over a socket for the handshake phase. Reads are awaited one
 * at a time; the socket is paused while nobody waits, so a peer cannot make it buffer more
 * than one chunk beyond the packet limit. {@link release} hands the socket on (to TLS or to
 * the proxy engine) with whatever bytes were read ahead.
 */
export class PacketChannel {
  private readonly reader: PacketReader;
  private waiter: { resolve: (p: Packet) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private readonly onData = (chunk: Buffer) => {
    this.reader.push(chunk);
    this.pump();
  };
  private readonly onEnd = () =>
    this.fail(new ProtocolError("connection_closed", "connection closed during handshake"));
  private readonly onError = (err: Error) =>
    this.fail(new ProtocolError("connection_closed", `connection failed during handshake: ${err.message}`));

  constructor(
    readonly socket: Duplex,
    options: { maxPayload?: number; leftover?: Buffer[] } = {},
  ) {
    this.reader = new PacketReader({ maxPayload: options.maxPayload ?? 64 * 1024 });
    for (const b of options.leftover ?? []) this.reader.push(b);
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("close", this.onEnd);
    socket.on("error", this.onError);
    socket.pause();
  }

  /** Resolves with the next packet; rejects on close, error, bad framing or after `timeoutMs`. */
  read(timeoutMs: number): Promise<Packet> {
    if (this.waiter) return Promise.reject(new Error("concurrent read on a packet channel"));
    return new Promise<Packet>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new ProtocolError("timeout", "handshake timed out"));
      }, timeoutMs);
      this.waiter = {
        resolve: (p) => {
          clearTimeout(timer);
          resolve(p);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.pump();
    });
  }

  write(seq: number, payload: Buffer): void {
    for (const b of encodePacket(seq, payload)) this.socket.write(b);
  }

  /** Stops reading; returns the socket and the bytes received but not yet read as packets. */
  release(): { socket: Duplex; leftover: Buffer[] } {
    this.socket.off("data", this.onData);
    this.socket.off("end", this.onEnd);
    this.socket.off("close", this.onEnd);
    this.socket.off("error", this.onError);
    this.socket.pause();
    return { socket: this.socket, leftover: this.reader.drain() };
  }

  private pump(): void {
    const w = this.waiter;
    if (!w) {
      this.socket.pause();
      return;
    }
    let p: Packet | undefined;
    try {
      p = this.reader.next();
    } catch (err) {
      this.failure = err as Error;
    }
    if (p) {
      this.waiter = undefined;
      w.resolve(p);
    } else if (this.failure) {
      this.waiter = undefined;
      w.reject(this.failure);
    } else {
      this.socket.resume();
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.pump();
  }
}
