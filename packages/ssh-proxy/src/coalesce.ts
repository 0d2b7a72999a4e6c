import type { Socket } from "node:net";

/**
 * Merges the writes of one event-loop turn into one vectored write. ssh2 writes every
 * packet (at most 32 KiB) to the socket on its own; a bulk transfer then costs one system
 * call per packet on each side of the proxy.
 */
export function coalesceWrites(sock: Socket): void {
  const write = sock.write;
  let corked = false;
  sock.write = function (this: Socket, ...args: Parameters<Socket["write"]>) {
    if (!corked) {
      corked = true;
      sock.cork();
      process.nextTick(() => {
        corked = false;
        sock.uncork();
      });
    }
    return write.apply(this, args);
  } as Socket["write"];
}
