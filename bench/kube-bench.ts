/**
 * Kubernetes data-path benchmark: requests and kubectl direct to the fake API server vs
 * through the Sluice agent (real control plane and agent processes, recording on), with and
 * without a policy. Interleaved rounds, medians, paired differences to direct. See
 * bench/README.md.
 *
 *   node --import tsx bench/kube-bench.ts [--rounds 5] [--requests 1000] [--kubectl-runs 5]
 *     [--stream-bytes 104857600] [--quick] [--note "text"] [--no-write]
 */
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { execStream, kubectlWall, requestLatency, type StreamSample } from "./lib/kube-measure";
import { buildKubeReport, type KubeRound, type KubeWorkload } from "./lib/kube-report";
import { KUBECTL, type KubeTarget, LIST_NAMESPACE, startKubeFixture } from "./lib/kube-stack";
import { cleanup, installCleanupHandlers, repoRoot, runOk } from "./lib/proc";
import { writeResultsSection } from "./lib/results-file";
import { fmt, median } from "./lib/stats";

const { values: argv } = parseArgs({
  options: {
    rounds: { type: "string" },
    requests: { type: "string" },
    warmup: { type: "string" },
    "kubectl-runs": { type: "string" },
    "stream-bytes": { type: "string" },
    "stream-runs": { type: "string" },
    "list-pods": { type: "string" },
    quick: { type: "boolean", default: false },
    note: { type: "string" },
    "no-write": { type: "boolean", default: false },
  },
});
const quick = argv.quick ?? false;
const cfg = {
  rounds: Number(argv.rounds ?? (quick ? 1 : 5)),
  requests: Number(argv.requests ?? (quick ? 200 : 1000)),
  warmup: Number(argv.warmup ?? 50),
  kubectlRuns: Number(argv["kubectl-runs"] ?? (quick ? 2 : 5)),
  streamBytes: Number(argv["stream-bytes"] ?? 104_857_600),
  streamRuns: Number(argv["stream-runs"] ?? (quick ? 1 : 2)),
  listPods: Number(argv["list-pods"] ?? 100),
};
const counts = [cfg.rounds, cfg.requests, cfg.kubectlRuns, cfg.streamBytes, cfg.streamRuns, cfg.listPods];
if (!counts.every((x) => Number.isInteger(x) && x > 0) || !Number.isInteger(cfg.warmup) || cfg.warmup < 0)
  throw new Error(
    "--rounds, --requests, --kubectl-runs, --stream-* and --list-pods must be positive integers",
  );
if (cfg.rounds > 20 || cfg.requests > 100_000 || cfg.kubectlRuns > 50 || cfg.streamRuns > 10)
  throw new Error(
    "refusing unbounded settings: rounds ≤ 20, requests ≤ 100,000, kubectl runs ≤ 50, stream runs ≤ 10",
  );
if (cfg.streamBytes > 2 ** 32 || cfg.listPods > 5000)
  throw new Error("refusing unbounded settings: stream ≤ 4 GiB, list pods ≤ 5,000");

const shellQuote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`);
const commandLine =
  `node --import tsx bench/kube-bench.ts ${process.argv.slice(2).map(shellQuote).join(" ")}`.trim();
const log = (s: string) => process.stderr.write(`${s}\n`);
installCleanupHandlers(log);

const workloads: KubeWorkload[] = [
  { id: "pod", label: "pod GET", path: "/api/v1/namespaces/default/pods/web", requests: cfg.requests },
  {
    id: "list",
    label: `list of ${cfg.listPods} pods`,
    path: `/api/v1/namespaces/${LIST_NAMESPACE}/pods`,
    requests: Math.max(20, Math.round(cfg.requests / 5)),
  },
  {
    id: "secret",
    label: "Secret GET",
    path: "/api/v1/namespaces/default/secrets/db",
    requests: Math.max(20, Math.round(cfg.requests / 2)),
  },
  {
    id: "connect",
    label: "pod GET, new connection",
    path: "/api/v1/namespaces/default/pods/web",
    requests: Math.max(10, Math.round(cfg.requests / 25)),
    fresh: true,
  },
];

async function measureRound(t: KubeTarget, round: number, agentPid: number): Promise<KubeRound> {
  const pid = t.name === "direct" ? undefined : agentPid;
  const latency = new Map<string, Awaited<ReturnType<typeof requestLatency>>>();
  for (const w of workloads) {
    const s = await requestLatency(t, w.path, w.requests, cfg.warmup, pid, w.fresh);
    latency.set(w.id, s);
    log(
      `round ${round + 1}/${cfg.rounds} ${t.name.padEnd(13)} ${w.id.padEnd(7)} ${
        s.error ? `error: ${s.error}` : `p50 ${fmt(s.p50Ms, 3)} ms p99 ${fmt(s.p99Ms, 3)} ms (${s.bytes} B)`
      }`,
    );
  }
  const kubectlMs: number[] = [];
  for (let i = 0; i < cfg.kubectlRuns; i++) {
    const k = await kubectlWall(t);
    if (k.error) log(`round ${round + 1} ${t.name} kubectl get: ${k.error}`);
    kubectlMs.push(k.ms);
  }
  log(`round ${round + 1}/${cfg.rounds} ${t.name.padEnd(13)} kubectl get pods ${fmt(median(kubectlMs))} ms`);
  const streams: StreamSample[] = [];
  for (let i = 0; i < cfg.streamRuns; i++) {
    const s = await execStream(t, cfg.streamBytes, pid);
    streams.push(s);
    log(
      `round ${round + 1}/${cfg.rounds} ${t.name.padEnd(13)} exec ${
        s.error ? `error: ${s.error}` : `${fmt(s.ms / 1000, 2)} s ${fmt(s.mibPerS, 1)} MiB/s`
      }`,
    );
  }
  return { round, target: t.name, latency, kubectlMs, streams };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const load0 = loadavg();
  log(`sluice kube-bench: ${JSON.stringify(cfg)}`);
  const kubectlVersion = (await runOk(KUBECTL, ["version", "--client"], { timeoutMs: 30_000 })).stdout
    .split("\n")[0]
    ?.trim();
  const fixture = await startKubeFixture(log, cfg.listPods);
  const agentPid = fixture.agent.proc.child.pid ?? 0;
  const { targets } = fixture;
  // One untimed kubectl run per target fills its discovery cache, as a user's would be.
  for (const t of targets) await kubectlWall(t);
  const rounds: KubeRound[] = [];
  for (let round = 0; round < cfg.rounds; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length] as KubeTarget);
    for (const t of order) rounds.push(await measureRound(t, round, agentPid));
  }
  const markdown = buildKubeReport({
    cfg,
    commandLine,
    quick,
    note: argv.note,
    workloads,
    targets,
    rounds,
    kubectlVersion: kubectlVersion ?? "unknown",
    startedAt,
    load0,
    load1: loadavg(),
    machine: `${cpus().length} CPU(s) (${cpus()[0]?.model.trim() ?? "unknown"}), ${fmt(totalmem() / 2 ** 30, 1)} GiB RAM, Node ${process.version}`,
  });
  process.stdout.write(markdown);
  if (!argv["no-write"]) {
    writeResultsSection(join(repoRoot, "bench/RESULTS.md"), "kubernetes", markdown);
    log("wrote the kubernetes section of bench/RESULTS.md");
  }
}

try {
  await main();
} finally {
  log("cleaning up: stopping the agent, the control plane and the fake API server");
  await cleanup();
}
