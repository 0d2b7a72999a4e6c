/**
 * "node-pipe": the simplest possible Node TCP proxy (socket.pipe both ways, no parsing).
 * It is the ceiling for any proxy written in Node on this machine. Run in its own
 * process: `node --import tsx bench/lib/byte-pipe.ts --port N --upstream-port M`.
 * Prints one JSON line `{"ready":true,"port":N}` when listening.
 */
import { connect, createServer, type Socket } from "node:net";
import { parseArgs } from "node:util";

export function startBytePipe(port: number, upstreamHost: string, upstreamPort: number): Promise<() => void> {
  const sockets = new Set<Socket>();
  const server = createServer({ noDelay: true }, (client) => {
    const upstream = connect({ host: upstreamHost, port: upstreamPort, noDelay: true });
    sockets.add(client);
    sockets.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((res, rej) => {
    server.once("error", rej);
    server.listen(port, "127.0.0.1", () =>
      res(() => {
        server.close();
        for (const s of sockets) s.destroy();
      }),
    );
  });
}

const isMain = process.argv[1]?.endsWith("byte-pipe.ts") ?? false;
if (isMain) {
  const { values } = parseArgs({
    options: {
      port: { type: "string" },
      "upstream-host": { type: "string", default: "127.0.0.1" },
      "upstream-port": { type: "string" },
    },
  });
  const stop = await startBytePipe(
    Number(values.port),
    values["upstream-host"] ?? "127.0.0.1",
    Number(values["upstream-port"]),
  );
  process.stdout.write(`${JSON.stringify({ ready: true, port: Number(values.port) })}\n`);
  process.on("SIGUSR2", () => {
    (globalThis as { gc?: () => void }).gc?.();
    process.stdout.write(`${JSON.stringify({ stats: { heapUsed: process.memoryUsage().heapUsed } })}\n`);
  });
  const quit = () => {
    stop();
    process.exit(0);
  };
  process.on("SIGTERM", quit);
  process.on("SIGINT", quit);
}
