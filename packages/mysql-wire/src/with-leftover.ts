import { Duplex } from "node:stream";

/**
 * A stream that yields `leftover` (bytes already read from `socket`) before the rest of
 * `socket`'s data; writes go to `socket`. Used to hand a socket to TLS when the peer's
 * ClientHello arrived in the same chunk as its SSLRequest. Backpressure is kept: the
 * socket is paused while the consumer does not read.
 */
export function withLeftover(socket: Duplex, leftover: readonly Buffer[]): Duplex {
  if (leftover.length === 0) {
    return socket;
  }
  const out = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      socket.write(chunk, cb);
    },
    final(cb) {
      socket.end();
      cb();
    },
    destroy(err, cb) {
      socket.destroy(err ?? undefined);
      cb(err);
    },
  });
  for (const b of leftover) out.push(b);
  socket.on("data", (chunk: Buffer) => {
    if (!out.push(chunk)) socket.pause();
  });
  socket.on("end", () => out.push(null));
  socket.on("error", (err) => out.destroy(err));
  socket.on("close", () => out.destroy());
  return out;
}
