/**
 * The HTTP bench's load generator, in its own process (so a proxy's CPU is measured apart
 * from the load): autocannon, pipelining 1, keep-alive connections, one small JSON GET.
 *   node --import tsx bench/lib/http-load.ts --url http://127.0.0.1:N/v1/items/42 \
 *     --connections C --duration S [--warmup S]
 * The Authorization header is `Bearer $BENCH_LOAD_TOKEN`. Runs a warm-up (not measured),
 * prints {"phase":"measure"}, runs the measured period, prints {"phase":"done"}, then one
 * result line {"result":{...}}. Latency percentiles come from every response's own time
 * (autocannon's histogram has 1 ms resolution, too coarse for the goals).
 */
import { createRequire } from "node:module";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { repoRoot } from "./proc";

interface CannonResult {
  requests: { total: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  "2xx": number;
}
interface CannonInstance {
  on(event: "response", fn: (client: unknown, status: number, bytes: number, ms: number) => void): void;
  on(event: "done", fn: (r: CannonResult) => void): void;
}
type Autocannon = (
  opts: Record<string, unknown>,
  cb?: (err: Error | null, r: CannonResult) => void,
) => CannonInstance;
const autocannon = createRequire(join(repoRoot, "tests/e2e/package.json"))("autocannon") as Autocannon;

const { values: a } = parseArgs({
  options: {
    url: { type: "string" },
    connections: { type: "string", default: "1" },
    duration: { type: "string", default: "8" },
    warmup: { type: "string", default: "1" },
  },
});
const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
const connections = Number(a.connections);
const base = {
  url: a.url,
  connections,
  pipelining: 1,
  headers: { authorization: `Bearer ${process.env.BENCH_LOAD_TOKEN ?? ""}`, accept: "application/json" },
  timeout: 10,
};

function run(duration: number, onResponse?: (status: number, ms: number) => void): Promise<CannonResult> {
  return new Promise((resolve, reject) => {
    const inst = autocannon({ ...base, duration }, (err, r) => (err ? reject(err) : resolve(r)));
    if (onResponse) inst.on("response", (_c, status, _b, ms) => onResponse(status, ms));
  });
}

/** The q-quantile of the first n values (sorts them in place). */
function quantile(xs: Float64Array, n: number, q: number): number {
  if (n === 0) return Number.NaN;
  const v = xs.subarray(0, n).sort();
  return v[Math.min(n - 1, Math.floor(q * n))] ?? Number.NaN;
}

try {
  const warm = Number(a.warmup);
  if (warm > 0) await run(warm);
  let lat = new Float64Array(1 << 16);
  let n = 0;
  say({ phase: "measure" });
  const t0 = process.hrtime.bigint();
  const r = await run(Number(a.duration), (status, ms) => {
    if (status < 200 || status >= 300) return;
    if (n === lat.length) {
      const next = new Float64Array(lat.length * 2);
      next.set(lat);
      lat = next;
    }
    lat[n++] = ms;
  });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  say({ phase: "done" });
  say({
    result: {
      requests: n,
      rps: n / wall,
      p50Ms: quantile(lat, n, 0.5),
      p99Ms: quantile(lat, n, 0.99),
      meanMs: lat.subarray(0, n).reduce((s, x) => s + x, 0) / n,
      non2xx: r.non2xx,
      errors: r.errors,
      timeouts: r.timeouts,
      wall,
    },
  });
} catch (e) {
  say({ error: e instanceof Error ? e.message : String(e) });
  process.exitCode = 1;
}
