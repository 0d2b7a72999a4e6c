/**
 * A plain Node reverse proxy on the agent's own libraries (node:http server, undici Pool),
 * in its own process: the HTTP bench's baseline.
 *   node --import tsx bench/lib/http-node-proxy.ts --port N --upstream-port M
 * Streams each request and response through (`pool.request` + `pipeline`), drops hop-by-hop
 * headers and replaces the caller's Authorization with `Bearer $BENCH_API_TOKEN`, as the
 * agent injects its credential. No policy, no masking, no recording.
 * Prints one JSON line: {"ready":true,...} or {"ready":false,"reason":"..."}.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pipeline } from "node:stream";
import { parseArgs } from "node:util";
import type { HttpSession } from "../../apps/agent/src/protocols/http/http-exchange";
import { repoRoot } from "./proc";

/** undici's Pool, the class the agent's upstream pools are (loaded from the agent's dependencies). */
type Pool = HttpSession["pool"];
const { Pool } = createRequire(join(repoRoot, "apps/agent/package.json"))("undici") as {
  Pool: new (origin: string, opts: Record<string, unknown>) => Pool;
};
const { values } = parseArgs({ options: { port: { type: "string" }, "upstream-port": { type: "string" } } });
const upstreamHost = `127.0.0.1:${values["upstream-port"]}`;
const authorization = `Bearer ${process.env.BENCH_API_TOKEN ?? ""}`;
const pool = new Pool(`http://${upstreamHost}`, {
  connections: 64,
  keepAliveTimeout: 30_000,
  headersTimeout: 60_000,
  bodyTimeout: 0,
});
const HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
]);
let served = 0;
let failed = 0;

function forwardHeaders(
  from: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(from))
    if (value !== undefined && !HOP.has(name)) out[name] = value;
  return out;
}

async function proxy(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const headers = forwardHeaders(req.headers);
  headers.host = upstreamHost;
  headers.authorization = authorization;
  const hasBody =
    req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
  let upstream: Awaited<ReturnType<Pool["request"]>>;
  try {
    upstream = await pool.request({
      method: (req.method ?? "GET") as "GET",
      path: req.url ?? "/",
      headers,
      ...(hasBody ? { body: req } : {}),
    });
  } catch {
    failed += 1;
    res.writeHead(502, { "content-type": "text/plain" }).end("upstream failed\n");
    return;
  }
  res.writeHead(upstream.statusCode, forwardHeaders(upstream.headers));
  pipeline(upstream.body, res, (err) => {
    if (err) {
      failed += 1;
      res.destroy();
    } else served += 1;
  });
}

const server = http.createServer(
  { keepAliveTimeout: 30_000, requestTimeout: 0, headersTimeout: 30_000 },
  (req, res) => void proxy(req, res),
);
server.on("error", (e) => {
  process.stdout.write(`${JSON.stringify({ ready: false, reason: e.message })}\n`);
  process.exit(3);
});
server.listen(Number(values.port), "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
});
const quit = () => {
  process.stdout.write(`${JSON.stringify({ stats: { served, failed } })}\n`);
  server.closeAllConnections();
  server.close();
  void pool.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on("SIGTERM", quit);
process.on("SIGINT", quit);
