/** The markdown report of bench/kube-bench.ts (the `kubernetes` section of bench/RESULTS.md). */
import type { LatencySample, StreamSample } from "./kube-measure";
import type { KubeTarget } from "./kube-stack";
import { fmt, median, range, ratio, table } from "./stats";

export interface KubeWorkload {
  id: string;
  label: string;
  path: string;
  requests: number;
  /** A new connection (TCP + TLS, and for Sluice a new session) for every request. */
  fresh?: boolean;
}

export interface KubeRound {
  round: number;
  target: string;
  latency: Map<string, LatencySample>;
  kubectlMs: number[];
  streams: StreamSample[];
}

export interface KubeReportInput {
  cfg: { rounds: number; warmup: number; kubectlRuns: number; streamBytes: number; streamRuns: number };
  commandLine: string;
  quick: boolean;
  note: string | undefined;
  workloads: KubeWorkload[];
  targets: KubeTarget[];
  rounds: KubeRound[];
  kubectlVersion: string;
  startedAt: Date;
  load0: number[];
  load1: number[];
  machine: string;
}

const SLUICE = ["sluice", "sluice-policy"];
const LATENCY_GOAL_MS = 2;
const STREAM_GOAL = 0.8;
const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(" / ");
const signed = (x: number, d: number) => (Number.isFinite(x) ? `${x >= 0 ? "+" : ""}${fmt(x, d)}` : "–");
const met = (ok: boolean) => (ok ? "met" : "NOT met");

export function buildKubeReport(r: KubeReportInput): string {
  const of = (target: string) => r.rounds.filter((x) => x.target === target);
  /** A target's per-round value minus direct's in the same round, median over rounds. */
  const paired = (target: string, pick: (x: KubeRound) => number) =>
    median(
      of(target).map((x) => {
        const d = r.rounds.find((y) => y.round === x.round && y.target === "direct");
        return d ? pick(x) - pick(d) : Number.NaN;
      }),
    );
  const lat = (w: string, f: keyof LatencySample) => (x: KubeRound) => Number(x.latency.get(w)?.[f]);
  const kubectlMed = (x: KubeRound) => median(x.kubectlMs);
  const names = r.targets.map((t) => t.name);
  const errors = r.rounds.flatMap((x) => [
    ...[...x.latency]
      .filter(([, s]) => s.error)
      .map(([w, s]) => `${x.target} ${w} round ${x.round + 1}: ${s.error}`),
    ...x.streams.filter((s) => s.error).map((s) => `${x.target} exec round ${x.round + 1}: ${s.error}`),
  ]);

  const latencyRows = r.workloads.flatMap((w) =>
    names.map((n) => {
      const xs = of(n);
      const p50 = xs.map(lat(w.id, "p50Ms"));
      return [
        `${w.label}`,
        n,
        fmt(median(p50), 3),
        range(p50, 3),
        fmt(median(xs.map(lat(w.id, "p99Ms"))), 3),
        n === "direct" ? "0" : signed(paired(n, lat(w.id, "p50Ms")), 3),
        n === "direct" ? "–" : fmt(median(xs.map(lat(w.id, "agentCpuUsPerReq")))),
        fmt(median(xs.map(lat(w.id, "bytes")))),
      ];
    }),
  );
  const kubectlRows = names.map((n) => {
    const xs = of(n).map(kubectlMed);
    const direct = median(of("direct").map(kubectlMed));
    return [
      n,
      fmt(median(xs)),
      range(xs),
      n === "direct" ? "0" : signed(paired(n, kubectlMed), 0),
      ratio(direct / median(xs)),
    ];
  });
  /** Median over rounds of each round's median. */
  const perRound = (n: string, pick: (s: StreamSample) => number) =>
    of(n).map((x) => median(x.streams.map(pick)));
  const mibs = (n: string) => median(perRound(n, (s) => s.mibPerS));
  const streamRows = names.map((n) => {
    const xs = of(n).flatMap((x) => x.streams);
    return [
      n,
      fmt(median(perRound(n, (s) => s.ms)) / 1000, 2),
      fmt(mibs(n), 1),
      range(
        perRound(n, (s) => s.mibPerS),
        1,
      ),
      ratio(mibs(n) / mibs("direct")),
      n === "direct" ? "–" : fmt(median(xs.map((s) => s.agentCpuPct))),
      n === "direct" ? "–" : fmt(median(xs.map((s) => s.agentRssBeforeMiB)), 1),
      n === "direct" ? "–" : fmt(Math.max(...xs.map((s) => s.agentPeakRssMiB)), 1),
      `${xs.filter((s) => !s.error && s.bytes === r.cfg.streamBytes).length}/${xs.length}`,
    ];
  });
  const podGet = r.workloads[0]?.id ?? "";
  const goalRows = SLUICE.filter((n) => names.includes(n)).flatMap((n) => {
    const added = paired(n, lat(podGet, "p50Ms"));
    const streamRatio = mibs(n) / mibs("direct");
    return [
      [
        `${n}: added p50, pod GET`,
        `≤ +${LATENCY_GOAL_MS} ms`,
        `${signed(added, 3)} ms (${met(added <= LATENCY_GOAL_MS)})`,
      ],
      [
        `${n}: exec stream vs direct`,
        `≥ ${STREAM_GOAL.toFixed(2)}`,
        `${ratio(streamRatio)} (${met(streamRatio >= STREAM_GOAL)})`,
      ],
    ];
  });

  const out = [
    "# Benchmark results: Kubernetes",
    "",
    `- Date: ${r.startedAt.toISOString()}`,
    `- Command: \`${r.commandLine}\``,
    `- Mode: ${r.quick ? "quick (smoke test: do not quote these figures)" : "full"}`,
    `- Machine: ${r.machine}`,
    `- Load average (1/5/15 min) at start: ${load(r.load0)}, at end: ${load(r.load1)}. The client, kubectl, the fake API server, the control plane, PostgreSQL, Redis and the agent share the same cores.`,
    `- kubectl: \`${r.kubectlVersion}\`; API server: the testkit fake (\`startFakeKubeApiServer\`, Node, TLS, own process); exec runs \`head\` as a real process on this host`,
    ...(r.note ? [`- Note: ${r.note}`] : []),
    "",
    "## Targets",
    "",
    ...r.targets.map((t) => `- **${t.name}**: ${t.detail}`),
    "",
    "## Results",
    "",
    `Medians over ${r.cfg.rounds} interleaved round(s); the target order rotates by one each round.`,
    "",
    "### Per-request latency (one keep-alive TLS connection, sequential GETs)",
    "",
    `undici Pool with 1 connection from the bench process, ${r.cfg.warmup} untimed requests first, then the timed ones, one after another; each request timed until its body's last byte. The last row opens a new connection for every request (TCP and TLS handshakes; through Sluice also a new session, the API key authorized by the control plane) — the part of kubectl's wall time below that is not kubectl itself.`,
    "",
    table(
      [
        "request",
        "target",
        "p50 ms",
        "p50 rounds",
        "p99 ms",
        "added p50 ms",
        "agent CPU µs/req",
        "body bytes",
      ],
      latencyRows,
    ),
    "",
    r.workloads.map((w) => `- ${w.label}: \`GET ${w.path}\`, ${fmt(w.requests)} per round`).join("\n"),
    "- added p50 = target p50 − direct p50 in the same round, median over rounds. Sluice's body bytes for the Secret differ from direct's: its values are replaced.",
    "",
    "### `kubectl get pods -n default`, wall time",
    "",
    `${r.cfg.kubectlRuns} runs per round (median per round, then over rounds), after one untimed run per target that fills kubectl's discovery cache. This is the whole process: kubectl's start-up (tens of ms of its own), a TLS handshake, and for Sluice a new session authorized by the control plane on every run.`,
    "",
    table(["target", "wall ms", "rounds", "added ms", "vs direct"], kubectlRows),
    "",
    `### Stream throughput: \`kubectl exec web -n default -- head -c ${r.cfg.streamBytes} /dev/zero\``,
    "",
    `${r.cfg.streamRuns} run(s) per round (median per round, then over rounds). kubectl's stdout is read and counted by the bench; a run counts only if exactly that many bytes arrived and kubectl exited 0. Wall time includes kubectl's start-up and the exec handshake. MiB/s = bytes / 2^20 / wall s. Agent RSS: VmRSS just before the run (median) and VmHWM over it (reset at the start; highest over rounds).`,
    "",
    table(
      [
        "target",
        "wall s",
        "MiB/s",
        "rounds MiB/s",
        "vs direct",
        "agent CPU %",
        "agent RSS before MiB",
        "agent peak RSS MiB",
        "complete",
      ],
      streamRows,
    ),
    "",
    "## Against the goals",
    "",
    table(["goal", "target", "result"], goalRows),
    ...(errors.length ? ["", "## Errors", "", ...errors.map((e) => `- ${e}`)] : []),
    "",
  ];
  return out.join("\n");
}
