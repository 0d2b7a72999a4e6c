/** The markdown report of bench/mysql-bench.ts (the `mysql` section of bench/RESULTS.md). */
import type { LoadSample, MysqlTarget } from "./mysql-run";
import { fmt, median, range, ratio, table } from "./stats";

export interface MysqlRecord {
  workload: string;
  target: string;
  round: number;
  sample: LoadSample;
}

export interface MysqlReportInput {
  cfg: { rounds: number; duration: number; streamRows: number; bigRows: number; workloads: string[] };
  commandLine: string;
  quick: boolean;
  note: string | undefined;
  version: string;
  targets: MysqlTarget[];
  unavailable: Map<string, string>;
  records: MysqlRecord[];
  streams: Map<string, LoadSample>;
  stats: Map<string, Record<string, unknown> | undefined>;
  startedAt: Date;
  load0: number[];
  load1: number[];
  machine: string;
}

const TITLES: Record<string, string> = {
  "query-c8": "Point SELECT by primary key, `query()` (text protocol), 8 connections",
  "query-c1": "Point SELECT by primary key, `query()` (text protocol), 1 connection",
  "exec-c8": "Point SELECT by primary key, `execute()` (prepared, binary protocol), 8 connections",
  "exec-c1": "Point SELECT by primary key, `execute()` (prepared, binary protocol), 1 connection",
};

export function buildMysqlReport(r: MysqlReportInput): string {
  const names = r.targets.map((t) => t.name);
  const recs = (w: string, n: string) => r.records.filter((x) => x.workload === w && x.target === n);
  const vals = (w: string, n: string, pick: (s: LoadSample) => number = (s) => s.value) =>
    recs(w, n).map((x) => pick(x.sample));
  const med = (w: string, n: string, pick?: (s: LoadSample) => number) => median(vals(w, n, pick));
  /** Per-round difference of a figure against another target's in the same round, median. */
  const paired = (w: string, n: string, base: string, pick: (s: LoadSample) => number) => {
    const b = new Map(recs(w, base).map((x) => [x.round, pick(x.sample)]));
    return median(recs(w, n).map((x) => pick(x.sample) - (b.get(x.round) ?? Number.NaN)));
  };
  const p50 = (s: LoadSample) => s.p50Us ?? Number.NaN;
  const sections: string[] = [];
  const errors: string[] = [];
  for (const x of r.records)
    if (x.sample.error) errors.push(`- ${x.workload} / ${x.target} round ${x.round + 1}: ${x.sample.error}`);

  for (const w of ["query-c8", "query-c1", "exec-c8", "exec-c1"]) {
    if (!r.cfg.workloads.includes(w)) continue;
    const d = med(w, "direct");
    const p = med(w, "node-pipe");
    const rows = names.map((n) => [
      n,
      fmt(med(w, n)),
      range(vals(w, n)),
      ratio(med(w, n) / d),
      ratio(med(w, n) / p),
      fmt(med(w, n, p50)),
      n === "direct" ? "0" : fmt(paired(w, n, "direct", p50)),
      n === "direct" || n === "node-pipe" ? "–" : fmt(paired(w, n, "node-pipe", p50)),
      n === "direct" ? "–" : fmt(med(w, n, (s) => s.cpuPct ?? Number.NaN)),
      n === "direct"
        ? "–"
        : fmt(
            med(w, n, (s) => s.cpuUsPerTx ?? Number.NaN),
            1,
          ),
    ]);
    sections.push(
      `### ${TITLES[w]}\n\n${table(["target", "tx/s (median)", "rounds", "vs direct", "vs node-pipe", "p50 µs", "+µs vs direct", "+µs vs pipe", "proxy CPU %", "proxy CPU µs/tx"], rows)}`,
    );
  }
  if (r.cfg.workloads.includes("select-1m")) {
    const w = "select-1m";
    const d = med(w, "direct");
    const p = med(w, "node-pipe");
    const rows = names.map((n) => [
      n,
      fmt(med(w, n)),
      range(vals(w, n)),
      ratio(d / med(w, n)),
      ratio(p / med(w, n)),
      n === "direct" ? "–" : fmt(med(w, n, (s) => s.cpuPct ?? Number.NaN)),
    ]);
    sections.push(
      `### SELECT of ${fmt(r.cfg.bigRows)} rows, streamed (mysql2 \`.stream()\`, rowsAsArray), wall time\n\n${table(["target", "wall ms (median)", "rounds", "vs direct", "vs node-pipe", "proxy CPU %"], rows)}\n\nvs direct = direct_time / target_time. The mysql2 client decodes every row in its own process; at full speed it is the bottleneck for every target.`,
    );
  }
  if (r.streams.size) {
    const rows = [...r.streams].map(([n, s]) => [
      n,
      fmt(s.rows ?? Number.NaN),
      fmt((s.ms ?? Number.NaN) / 1000, 1),
      s.rssBeforeKiB !== undefined ? fmt(s.rssBeforeKiB / 1024, 1) : "–",
      s.peakRssKiB !== undefined ? `${fmt(s.peakRssKiB / 1024, 1)} (${s.peakFrom})` : "–",
      s.cpuPct !== undefined ? fmt(s.cpuPct) : "–",
      s.error ?? "",
    ]);
    sections.push(
      `### Streaming ${fmt(r.cfg.streamRows)} rows (\`SELECT seq, md5(seq) FROM seq_1_to_N\`, mysql2 \`.stream()\`)\n\n${table(["target", "rows", "wall s", "proxy RSS before MiB", "proxy peak RSS MiB", "proxy CPU %", "note"], rows)}`,
    );
  }

  const goal = (w: string, n: string) => med(w, n) / med(w, "node-pipe");
  const lat = (w: string, n: string) => paired(w, n, "node-pipe", p50);
  const peak = (n: string) => ((r.streams.get(n)?.peakRssKiB ?? Number.NaN) * 1024) / 1e6;
  const sluice = names.filter((n) => n.startsWith("sluice"));
  const mark = (x: number, ok: boolean, s: string) =>
    Number.isFinite(x) ? `${s} ${ok ? "(met)" : "(NOT met)"}` : "not measured";
  const goalRows = [
    ...["query-c8", "exec-c8"].map((w) => [
      `${w}: throughput vs node-pipe`,
      "≥ 0.95",
      ...sluice.map((n) => mark(goal(w, n), goal(w, n) >= 0.95, ratio(goal(w, n)))),
    ]),
    ...["query-c1", "exec-c1"].map((w) => [
      `${w}: p50 latency vs node-pipe`,
      "≤ +20 µs",
      ...sluice.map((n) => mark(lat(w, n), lat(w, n) <= 20, `+${fmt(lat(w, n))} µs`)),
    ]),
    [
      `${fmt(r.cfg.streamRows)}-row stream, agent peak RSS`,
      "bounded (< 200 MB)",
      ...sluice.map((n) => mark(peak(n), peak(n) < 200, `${fmt(peak(n))} MB`)),
    ],
  ];

  const header = [
    "# Benchmark results: MySQL data path",
    "",
    `- Date: ${r.startedAt.toISOString()}`,
    `- Command: \`${r.commandLine}\``,
    `- Mode: ${r.quick ? "--quick (smoke test; numbers are indicative only)" : "full"}`,
    `- Machine: ${r.machine}`,
    `- Server: MariaDB ${r.version} on 127.0.0.1:3306 (the machine's shared server, defaults), a throwaway database and user (password login), dropped at the end`,
    `- Data: \`big\` = ${fmt(r.cfg.bigRows)} rows of (id INT PRIMARY KEY, k INT, payload CHAR(32)); point selects \`SELECT id, k, payload FROM big WHERE id = ?\` on random ids`,
    `- Load: mysql2 clients in a separate process (\`bench/lib/mysql-load.ts\`), sysbench is not installed; each proxy in its own process, CPU from /proc/<pid>/stat between the load's start and end marks`,
    `- Load average (1/5/15 min) at start: ${r.load0.map((x) => x.toFixed(2)).join(" / ")}, at end: ${r.load1.map((x) => x.toFixed(2)).join(" / ")}. Client, proxy and MariaDB share the same cores; this is a shared development box.${r.note ? ` ${r.note}` : ""}`,
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
    `Medians over ${r.cfg.rounds} interleaved round(s) of ${r.cfg.duration} s per point-select run; targets in rotating order. p50 µs = median statement latency measured in the client; +µs columns are paired with the other target in the same round, median over rounds.`,
    "",
    sections.join("\n\n"),
    "",
    errors.length ? `### Failed runs\n\n${errors.slice(0, 20).join("\n")}\n` : "",
    "## Against the goals",
    "",
    table(["goal", "target", ...sluice], goalRows),
    "",
  ].join("\n");
  return `${header}\n\n${body}`.replace(/\n{3,}/g, "\n\n").replace(/\n*$/, "\n");
}
