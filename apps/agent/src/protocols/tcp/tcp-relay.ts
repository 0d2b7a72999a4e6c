import net from "node:net";
import type { Duplex } from "node:stream";
import type { SessionContext } from "../../core/broker";

export interface TcpRelayOptions {
  client: Duplex;
  initial: Buffer;
  session: Pick<SessionContext, "connection" | "record" | "started" | "onTerminate" | "end">;
  connectTimeoutMs?: number;
}

/**
 * Relays a raw TCP session unchanged (type `tcp` connections) with backpressure via
 * pipe(). The recording holds connection metadata and byte counts.
 */
export function relayTcp(o: TcpRelayOptions): void {
  const conn = o.session.connection;
  let bytesIn = o.initial.length;
  let bytesOut = 0;
  let ended = false;
  o.session.started({ target: `${conn.host}:${conn.port}` });
  const upstream = net.connect({ host: conn.host, port: conn.port });
  upstream.setNoDelay(true);
  const timer = setTimeout(
    () => upstream.destroy(new Error("connect timeout")),
    o.connectTimeoutMs ?? 10_000,
  );
  o.session.onTerminate((reason) => finish(reason));

  function finish(reason: string, error?: string): void {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    o.session.record("tcp.stats", { bytesIn, bytesOut });
    void o.session.end({ reason, bytesIn, bytesOut, ...(error ? { error } : {}) });
    o.client.destroy();
    upstream.destroy();
  }

  upstream.once("connect", () => {
    clearTimeout(timer);
    if (o.initial.length > 0) upstream.write(o.initial);
    o.client.on("data", (c: Buffer) => {
      bytesIn += c.length;
    });
    upstream.on("data", (c: Buffer) => {
      bytesOut += c.length;
    });
    o.client.pipe(upstream);
    upstream.pipe(o.client);
    o.client.resume();
  });
  upstream.on("error", (err) => finish("upstream error", err.message));
  o.client.on("error", () => finish("client error"));
  upstream.on("close", () => finish("upstream closed"));
  o.client.on("close", () => finish("client closed"));
}
