import type { Duplex } from "node:stream";
import { TLSSocket, type TLSSocketOptions } from "node:tls";

/** An `upgradeToTls` for {@link readClientLogin}: server-side TLS over the client's socket. */
export function createTlsUpgrader(
  options: TLSSocketOptions,
  defaultTimeoutMs = 10_000,
): (socket: Duplex, timeoutMs?: number) => Promise<Duplex> {
  return (socket, timeoutMs = defaultTimeoutMs) =>
    new Promise((resolve, reject) => {
      const t = new TLSSocket(socket, { ...options, isServer: true });
      const timer = setTimeout(() => {
        t.destroy();
        reject(new Error("client TLS handshake timed out"));
      }, timeoutMs);
      t.once("secure", () => {
        clearTimeout(timer);
        resolve(t);
      });
      t.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
}
