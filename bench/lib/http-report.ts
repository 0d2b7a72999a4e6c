/** The markdown report of bench/http-bench.ts (the `http` section of bench/RESULTS.md). */
import type { HttpSample, HttpTarget } from "./http-run";
import { fmt, median, range, ratio, table } from "./stats";

export interface HttpRecord {
  connections: number;
  target: string;
  round: number;
  sample: HttpSample;
}

export interface HttpReportInput {
  cfg: { rounds: number; duration: number; warmup: number; connections: number[] };
  commandLine: string;
  quick: boolean;
  note: string | undefined;
  targets: HttpTarget[];
  unavailable: Map<string, string>;
  records: HttpRecord[];
  stats: Map<string, Record<string, unknown> | undefined>;
  responseBytes: number;
  startedAt: Date;
  load0: number[];
  load1: number[];
  machine: string;
}

const BASE = "node-proxy";
/** The targets the goals are checked for: Sluice with policy and recording. */
const GOAL_TARGETS = ["sluice-policy", "sluice-masked"];

export function buildHttpReport(r: HttpReportInput): string {
  const names = r.targets.map((t) => t.name);
  const recs = (c: number, n: string) => r.records.filter((x) => x.connections === c && x.target === n);
  const vals = (c: number, n: string, pick: (s: HttpSample) => number) =>
    recs(c, n).map((x) => pick(x.sample));
  const med = (c: number, n: string, pick: (s: HttpSample) => number) => median(vals(c, n, pick));
  /** Per-round figure against the baseline's in the same round, median over rounds. */
  const paired = (
    c: number,
    n: string,
    pick: (s: HttpSample) => number,
    op: (a: number, b: number) => number,
  ) => {
    const b = new Map(recs(c, BASE).map((x) => [x.round, pick(x.sample)]));
    return median(recs(c, n).map((x) => op(pick(x.sample), b.get(x.round) ?? Number.NaN)));
  };
  const rps = (s: HttpSample) => s.rps;
  const p50 = (s: HttpSample) => s.p50Ms;
  const rpsRatio = (c: number, n: string) => paired(c, n, rps, (a, b) => a / b);
  const p50Delta = (c: number, n: string) => paired(c, n, p50, (a, b) => a - b);
  const hasBase = names.includes(BASE);

  const rows: string[][] = [];
  for (const c of r.cfg.connections) {
    for (const n of names) {
      const base = n === BASE || !hasBase;
      rows.push([
        `${n}`,
        String(c),
        fmt(med(c, n, rps)),
        range(vals(c, n, rps)),
        base ? (n === BASE ? "1.00" : "–") : ratio(rpsRatio(c, n)),
        fmt(med(c, n, p50), 3),
        base ? (n === BASE ? "0" : "–") : signed(p50Delta(c, n)),
        fmt(
          med(c, n, (s) => s.p99Ms),
          2,
        ),
        n === "direct" ? "–" : fmt(med(c, n, (s) => s.cpuPct)),
        n === "direct" ? "–" : fmt(med(c, n, (s) => s.cpuUsPerReq)),
        fmt(med(c, n, (s) => s.loadCpuPct)),
      ]);
    }
  }
  const errors = r.records
    .filter((x) => x.sample.error)
    .map((x) => `- c=${x.connections} / ${x.target} round ${x.round + 1}: ${x.sample.error}`);

  const sluice = GOAL_TARGETS.filter((n) => names.includes(n));
  const mark = (x: number, ok: boolean, s: string) =>
    Number.isFinite(x) ? `${s} ${ok ? "(met)" : "(NOT met)"}` : "not measured";
  const goalRows = r.cfg.connections.flatMap((c) => [
    [
      `c=${c}: requests/s vs ${BASE}`,
      "≥ 0.95",
      ...sluice.map((n) => mark(rpsRatio(c, n), rpsRatio(c, n) >= 0.95, ratio(rpsRatio(c, n)))),
    ],
    [
      `c=${c}: p50 latency vs ${BASE}`,
      "≤ +0.3 ms",
      ...sluice.map((n) => mark(p50Delta(c, n), p50Delta(c, n) <= 0.3, `${signed(p50Delta(c, n))} ms`)),
    ],
  ]);
  const verdicts = sluice.flatMap((n) =>
    r.cfg.connections.map((c) => rpsRatio(c, n) >= 0.95 && p50Delta(c, n) <= 0.3),
  );
  const allMet = verdicts.length > 0 && verdicts.every(Boolean);

  const header = [
    "# Benchmark results: HTTP data path",
    "",
    `- Date: ${r.startedAt.toISOString()}`,
    `- Command: \`${r.commandLine}\``,
    `- Mode: ${r.quick ? "--quick (smoke test; numbers are indicative only)" : "full"}`,
    `- Machine: ${r.machine}`,
    `- Upstream: a node:http server in its own process (\`bench/lib/http-api-server.ts\`): \`GET /v1/items/42\` answers a ${r.responseBytes}-byte JSON object (names, an email, a card-like number) with Content-Length, keep-alive, only to the bearer token the proxies inject`,
    `- Load: autocannon 8 in a separate process (\`bench/lib/http-load.ts\`; wrk is not installed), pipelining 1, keep-alive, ${r.cfg.warmup} s warm-up then ${r.cfg.duration} s measured per run; latency percentiles from every 2xx response's own time (autocannon's histogram rounds to 1 ms). Each target in its own process, CPU from /proc/<pid>/stat between the load's start and end marks`,
    `- Plain HTTP on loopback everywhere: the agent runs with SLUICE_HTTP_PLAINTEXT=true, so TLS (which production callers use) is not in these figures, as it is not in the baseline's`,
    `- Load average (1/5/15 min) at start: ${r.load0.map((x) => x.toFixed(2)).join(" / ")}, at end: ${r.load1.map((x) => x.toFixed(2)).join(" / ")}. Load generator, upstream and proxy share the same 2 cores, and other test runs were using them too: absolute figures are noisy, the ratios paired within a round are what to compare.${r.note ? ` ${r.note}` : ""}`,
  ].join("\n");
  const body = [
    "## Targets",
    "",
    ...r.targets.map((t) => `- **${t.name}**: ${t.detail}`),
    ...[...r.unavailable].map(([n, why]) => `- ${n}: unavailable (${why})`),
    ...[...r.stats].filter(([, s]) => s).map(([n, s]) => `- ${n} stats at the end: \`${JSON.stringify(s)}\``),
    "",
    "## Results",
    "",
    `Medians over ${r.cfg.rounds} interleaved round(s); in each round every target runs once per connection count, in an order rotated by one each round. \`vs ${BASE}\` (requests/s) and \`+p50\` are paired with ${BASE} in the same round, median over rounds. CPU µs/req is the target process's user+system CPU per completed request; \`load CPU %\` is autocannon's own process.`,
    "",
    table(
      [
        "target",
        "c",
        "req/s",
        "rounds",
        `vs ${BASE}`,
        "p50 ms",
        `+p50 ms vs ${BASE}`,
        "p99 ms",
        "proxy CPU %",
        "proxy CPU µs/req",
        "load CPU %",
      ],
      rows,
    ),
    "",
    errors.length ? `### Runs with errors\n\n${errors.slice(0, 20).join("\n")}\n` : "",
    "## Against the goals",
    "",
    `Goal (issue): Sluice with policy and recording at ≥ 0.95 of the plain Node proxy's requests/s and ≤ +0.3 ms p50 over it. **Goals: ${allMet ? "met" : "not met"}.**`,
    "",
    table(["goal", "target", ...sluice], goalRows),
    "",
  ].join("\n");
  return `${header}\n\n${body}`.replace(/\n{3,}/g, "\n\n").replace(/\n*$/, "\n");
}

function signed(x: number): string {
  if (!Number.isFinite(x)) return "–";
  return `${x >= 0 ? "+" : ""}${x.toFixed(3)}`;
}
