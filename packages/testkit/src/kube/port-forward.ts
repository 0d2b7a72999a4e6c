/**
 * port-forward (`portforward.k8s.io` over SPDY/3.1, or that SPDY stream tunnelled in WebSocket
 * binary messages by kubectl ≥ 1.31). For each local connection kubectl opens an "error" and a
 * "data" stream sharing a requestid and a port; the pod shares this host's network, so the data
 * stream is joined to 127.0.0.1:<port>. A failed dial is reported on the error stream in the
 * kubelet's words, which kubectl prints.
 */
import { connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { type SpdyStream, serveSpdy } from "./spdy-session";
import type { KubeObject } from "./store";

interface Pair {
  error?: SpdyStream;
  data?: SpdyStream;
  tcp?: Socket;
}

export function runPortForward(socket: Duplex, pod: KubeObject, onConnection: (port: number) => void) {
  const pairs = new Map<string, Pair>();
  const sockets = new Set<Socket>();

  const server = serveSpdy(socket, (stream) => {
    const id = stream.headers.requestid ?? "";
    const pair = pairs.get(id) ?? {};
    pairs.set(id, pair);
    if (stream.headers.streamtype === "error") pair.error = stream;
    else if (stream.headers.streamtype === "data") pair.data = stream;
    stream.on("close", () => pairs.delete(id));
    if (pair.data && !pair.tcp) dial(id, pair, pair.data);
  });

  function dial(id: string, pair: Pair, data: SpdyStream) {
    const port = Number(data.headers.port);
    const tcp = connect({ host: "127.0.0.1", port });
    pair.tcp = tcp;
    sockets.add(tcp);
    onConnection(port);
    tcp.on("data", (chunk: Buffer) => data.write(chunk));
    data.on("data", (chunk: Buffer) => tcp.write(chunk));
    data.on("end", () => tcp.end());
    data.on("close", () => tcp.destroy());
    tcp.on("error", (err) => {
      const uid = pod.metadata.uid ?? "";
      pair.error?.write(
        `error forwarding port ${port} to pod ${pod.metadata.name}, uid ${uid}: failed to connect to localhost:${port} inside namespace: ${err.message}`,
      );
    });
    tcp.on("close", () => {
      sockets.delete(tcp);
      data.end();
      pair.error?.end();
      pairs.delete(id);
    });
  }

  server.onClose(() => {
    for (const tcp of sockets) tcp.destroy();
  });
  return server;
}
