/**
 * The HTTP bench's upstream API, in its own process:
 *   node --import tsx bench/lib/http-api-server.ts --port N
 * GET /v1/items/:id answers a ~300-byte JSON object (keep-alive, Content-Length) when the
 * request carries `Authorization: Bearer $BENCH_API_TOKEN`, 401 otherwise; anything else
 * is 404. Prints one JSON line: {"ready":true,...} or {"ready":false,"reason":"..."}.
 */
import http from "node:http";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { port: { type: "string" } } });
const expected = `Bearer ${process.env.BENCH_API_TOKEN ?? ""}`;
const FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"];
const LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"];
let served = 0;
let refused = 0;

/** One customer-like record: names, an email and a card-like number among plain fields. */
function item(id: number): string {
  const first = FIRST[id % FIRST.length] ?? "Ada";
  const last = LAST[(id >> 3) % LAST.length] ?? "Lovelace";
  const card = `4111 1111 ${String(1000 + (id % 9000))} ${String(1000 + ((id * 7) % 9000))}`;
  return JSON.stringify({
    id,
    first_name: first,
    last_name: last,
    email: `${first.toLowerCase()}.${last.toLowerCase()}${id}@example.com`,
    card,
    plan: id % 3 === 0 ? "enterprise" : "team",
    status: "active",
    region: "eu-west-1",
    currency: "EUR",
    seats: 5 + (id % 40),
    created_at: "2024-03-14T09:26:53.589Z",
    notes: "prefers invoices by post; renewal handled by the account team",
  });
}

const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const m = /^\/v1\/items\/(\d{1,9})$/.exec(req.url ?? "");
  if (req.headers.authorization !== expected || expected === "Bearer ") {
    refused += 1;
    res.writeHead(401, { "content-type": "application/json", "content-length": "2" }).end("{}");
    return;
  }
  if (!m || (req.method !== "GET" && req.method !== "HEAD")) {
    res.writeHead(404, { "content-type": "application/json", "content-length": "2" }).end("{}");
    return;
  }
  served += 1;
  const body = item(Number(m[1]));
  res.writeHead(200, {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(body)),
    "cache-control": "no-store",
  });
  res.end(req.method === "HEAD" ? undefined : body);
});
server.on("error", (e) => {
  process.stdout.write(`${JSON.stringify({ ready: false, reason: e.message })}\n`);
  process.exit(3);
});
server.listen(Number(values.port), "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ ready: true, bytes: Buffer.byteLength(item(42)) })}\n`);
});
const quit = () => {
  process.stdout.write(`${JSON.stringify({ stats: { served, refused } })}\n`);
  server.closeAllConnections();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on("SIGTERM", quit);
process.on("SIGINT", quit);
