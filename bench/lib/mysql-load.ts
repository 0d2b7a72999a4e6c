/**
 * The MySQL bench's load generator, in its own process (so a proxy's CPU is measured apart
 * from the load): mysql2 clients against one endpoint.
 *   node --import tsx bench/lib/mysql-load.ts --port N --user U --db D --mode query|execute
 *     --concurrency C --duration S --ids 1000000 [--clear-password]
 *   node --import tsx bench/lib/mysql-load.ts --port N --user U --db D --stream "SELECT ..."
 * The password comes from BENCH_MYSQL_LOAD_PASSWORD. Prints {"phase":"measure"} when every
 * connection is open and warmed up, {"phase":"done"} when the measured period ends, then
 * one result line {"result":{...}}.
 */
import { createRequire } from "node:module";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { repoRoot } from "./proc";

interface Conn {
  query(sql: string, values?: unknown[]): Promise<unknown>;
  execute(sql: string, values?: unknown[]): Promise<unknown>;
  end(): Promise<void>;
  connection: { query(o: { sql: string; rowsAsArray: boolean }): { stream(): NodeJS.ReadableStream } };
}
const mysql = createRequire(join(repoRoot, "packages/mysql-wire/package.json"))("mysql2/promise") as {
  createConnection(o: Record<string, unknown>): Promise<Conn>;
};

const { values: a } = parseArgs({
  options: {
    port: { type: "string" },
    user: { type: "string" },
    db: { type: "string" },
    mode: { type: "string", default: "query" },
    concurrency: { type: "string", default: "1" },
    duration: { type: "string", default: "10" },
    ids: { type: "string", default: "1000000" },
    stream: { type: "string" },
    "clear-password": { type: "boolean", default: false },
  },
});
const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

const open = () =>
  mysql.createConnection({
    host: "127.0.0.1",
    port: Number(a.port),
    user: a.user,
    password: process.env.BENCH_MYSQL_LOAD_PASSWORD ?? "",
    database: a.db,
    enableCleartextPlugin: a["clear-password"],
  });

async function stream(sql: string): Promise<void> {
  const c = await open();
  say({ phase: "measure" });
  const t0 = process.hrtime.bigint();
  let rows = 0;
  await new Promise<void>((res, rej) => {
    const s = c.connection.query({ sql, rowsAsArray: true }).stream();
    s.on("data", () => {
      rows++;
    });
    s.on("end", () => res());
    s.on("error", rej);
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  say({ phase: "done" });
  await c.end();
  say({ result: { rows, ms } });
}

const SQL = "SELECT id, k, payload FROM big WHERE id = ?";

async function points(): Promise<void> {
  const n = Number(a.concurrency);
  const ids = Number(a.ids);
  const exec = a.mode === "execute";
  const conns = await Promise.all(Array.from({ length: n }, open));
  const one = (c: Conn) => {
    const id = 1 + Math.floor(Math.random() * ids);
    return exec ? c.execute(SQL, [id]) : c.query(SQL, [id]);
  };
  for (const c of conns) for (let i = 0; i < 200; i++) await one(c);
  const cap = 4_000_000;
  const lat = new Float64Array(cap);
  let count = 0;
  let errors = 0;
  say({ phase: "measure" });
  const t0 = process.hrtime.bigint();
  const until = t0 + BigInt(Math.round(Number(a.duration) * 1e9));
  await Promise.all(
    conns.map(async (c) => {
      while (process.hrtime.bigint() < until) {
        const s = process.hrtime.bigint();
        try {
          await one(c);
        } catch {
          errors++;
        }
        if (count < cap) lat[count] = Number(process.hrtime.bigint() - s) / 1000;
        count++;
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  say({ phase: "done" });
  await Promise.all(conns.map((c) => c.end()));
  const sorted = lat.subarray(0, Math.min(count, cap)).sort();
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
  say({ result: { tx: count, seconds, tps: count / seconds, p50Us: q(0.5), p99Us: q(0.99), errors } });
}

try {
  await (a.stream ? stream(a.stream) : points());
  process.exit(0);
} catch (e) {
  say({ error: (e instanceof Error ? e.message : String(e)).slice(0, 300) });
  process.exit(1);
}
