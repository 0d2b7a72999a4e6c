import net from "node:net";
import type { Duplex } from "node:stream";
import type { ConnectionSpec } from "@sluice/proto";
import type { EventSink } from "../recording/event-sink";
import type { SessionRegistry } from "../sessions/session-registry";

export interface TcpRelayOptions {
  client: Duplex;
  initial: Buffer;
  sessionId: string;
  identity: string;
  clientAddress: string;
  connection: ConnectionSpec;
  sink: EventSink;
  registry: SessionRegistry;
  connectTimeoutMs?: number;
}

/**
 * Relays a raw TCP session unchanged (type `tcp` connections) with backpressure via
 * pipe(). The recording holds connection metadata and byte counts.
 */
export function relayTcp(o: TcpRelayOptions): void {
  let bytesIn = o.initial.length;
  let bytesOut = 0;
  let ended = false;
  o.sink.append(o.sessionId, "session.start", {
    connection: o.connection.name,
    protocol: "tcp",
    target: `${o.connection.host}:${o.connection.port}`,
    identity: o.identity,
    clientAddress: o.clientAddress,
  });
  const upstream = net.connect({ host: o.connection.host, port: o.connection.port });
  upstream.setNoDelay(true);
  const timer = setTimeout(
    () => upstream.destroy(new Error("connect timeout")),
    o.connectTimeoutMs ?? 10_000,
  );
  const unregister = o.registry.add({
    sessionId: o.sessionId,
    connection: o.connection.name,
    identity: o.identity,
    startedAt: Date.now(),
    terminate: (reason) => finish(reason),
  });

  function finish(reason: string, error?: string): void {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    unregister();
    o.sink.append(o.sessionId, "tcp.stats", { bytesIn, bytesOut });
    o.sink.append(o.sessionId, "session.end", { reason, bytesIn, bytesOut, ...(error ? { error } : {}) });
    o.sink.endSession(o.sessionId);
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
