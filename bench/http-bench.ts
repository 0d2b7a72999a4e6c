/**
 * HTTP data-path benchmark: small JSON GETs direct to an upstream vs a plain Node reverse
 * proxy (node:http + undici Pool, no policy) vs the agent's HTTP handler with recording,
 * with and without a policy and masking. Interleaved rounds, medians, ratios to the plain
 * proxy. See bench/README.md.
 *
 *   node --import tsx bench/http-bench.ts [--rounds 3] [--duration 8] [--quick]
 *     [--connections 1,8,32] [--targets direct,node-proxy,sluice,sluice-policy,sluice-masked,sluice-norec]
 *     [--warmup 1] [--profile DIR] [--note "text"] [--no-write]
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type HttpBenchPolicy, httpPolicyDetail } from "./lib/http-policy-spec";
import { buildHttpReport, type HttpRecord } from "./lib/http-report";
import { type HttpTarget, runLoad, type Started, startNode } from "./lib/http-run";
import {
  cleanup,
  freePort,
  installCleanupHandlers,
  registerTemp,
  repoRoot,
  sleep,
  stopProcess,
} from "./lib/proc";
import { writeResultsSection } from "./lib/results-file";
import { fmt } from "./lib/stats";

const SLUICE_TARGETS: Record<string, { policy: HttpBenchPolicy; recording: "spool" | "off" }> = {
  sluice: { policy: "none", recording: "spool" },
  "sluice-policy": { policy: "guard", recording: "spool" },
  "sluice-masked": { policy: "guard-mask", recording: "spool" },
  "sluice-norec": { policy: "none", recording: "off" },
};
const ALL_TARGETS = ["direct", "node-proxy", ...Object.keys(SLUICE_TARGETS)];
/** Diagnostic targets run only when named. */
const DEFAULT_TARGETS = ALL_TARGETS.filter((t) => t !== "sluice-norec");
const { values: argv } = parseArgs({
  options: {
    rounds: { type: "string" },
    duration: { type: "string" },
    warmup: { type: "string" },
    quick: { type: "boolean", default: false },
    connections: { type: "string" },
    targets: { type: "string" },
    profile: { type: "string" },
    note: { type: "string" },
    "no-write": { type: "boolean", default: false },
  },
});
const quick = argv.quick ?? false;
const list = (s: string) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
const cfg = {
  rounds: Number(argv.rounds ?? (quick ? 1 : 3)),
  duration: Number(argv.duration ?? (quick ? 3 : 8)),
  warmup: Number(argv.warmup ?? 1),
  connections: list(argv.connections ?? (quick ? "1,8" : "1,8,32")).map(Number),
  targets: list(argv.targets ?? DEFAULT_TARGETS.join(",")),
};
if (![cfg.rounds, cfg.duration, ...cfg.connections].every((x) => Number.isInteger(x) && x > 0))
  throw new Error("--rounds, --duration and --connections must be positive integers");
if (!Number.isFinite(cfg.warmup) || cfg.warmup < 0) throw new Error("--warmup must be ≥ 0");
if (cfg.rounds > 20 || cfg.duration > 300 || cfg.connections.some((c) => c > 1024))
  throw new Error("refusing unbounded settings: rounds ≤ 20, duration ≤ 300 s, connections ≤ 1024");
for (const t of cfg.targets) if (!ALL_TARGETS.includes(t)) throw new Error(`unknown target ${t}`);
if (!cfg.targets.includes("node-proxy")) cfg.targets.unshift("node-proxy");
if (!cfg.targets.includes("direct")) cfg.targets.unshift("direct");

const shellQuote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`);
const commandLine =
  `node --import tsx bench/http-bench.ts ${process.argv.slice(2).map(shellQuote).join(" ")}`.trim();
const log = (s: string) => process.stderr.write(`${s}\n`);
installCleanupHandlers(log);

const CONNECTION = "bench-http";
const PATH = "/v1/items/42";
const apiToken = `api-${randomBytes(18).toString("base64url")}`;
const callerToken = `bench-${randomBytes(18).toString("hex")}`;

/** What a policy target must do before it is measured: deny, take the allow lane, mask. */
async function checkTarget(base: string, policy: HttpBenchPolicy): Promise<string | undefined> {
  const headers = { authorization: `Bearer ${callerToken}` };
  const get = await fetch(`${base}${PATH}`, { headers });
  const text = await get.text();
  if (get.status !== 200) return `GET ${PATH} answered ${get.status}: ${text.slice(0, 200)}`;
  const item = JSON.parse(text) as { email?: string; card?: string };
  if (policy === "none") return undefined;
  const del = await fetch(`${base}/v1/orders/1`, { method: "DELETE", headers });
  await del.arrayBuffer();
  if (del.status !== 403) return `DELETE /v1/orders/1 answered ${del.status}, not 403`;
  const other = await fetch(`${base}/v1/other`, { headers });
  await other.arrayBuffer();
  if (other.status !== 403) return `GET /v1/other answered ${other.status}, not 403 (default deny)`;
  const masked = item.email === "[email]" && /^\*+\d{4}$/.test(item.card ?? "");
  if (policy === "guard-mask" && !masked) return `the response was not masked: ${text.slice(0, 200)}`;
  if (policy === "guard" && masked) return "the response was masked without a masking rule";
  return undefined;
}

async function startTargets(unavailable: Map<string, string>) {
  const env = { BENCH_API_TOKEN: apiToken, BENCH_TOKEN: callerToken };
  const apiPort = await freePort();
  const api = await startNode("upstream", "bench/lib/http-api-server.ts", ["--port", String(apiPort)], env);
  if (!api.ready) throw new Error(`the upstream did not start: ${api.reason}`);
  const procs = new Map<string, Started>([["upstream", api]]);
  const targets: HttpTarget[] = [
    {
      name: "direct",
      url: `http://127.0.0.1:${apiPort}${PATH}`,
      token: apiToken,
      detail: "autocannon straight to the upstream",
    },
  ];
  const port = await freePort();
  const np = await startNode(
    "node-proxy",
    "bench/lib/http-node-proxy.ts",
    ["--port", String(port), "--upstream-port", String(apiPort)],
    env,
  );
  if (!np.ready) throw new Error(`node-proxy did not start: ${np.reason}`);
  procs.set("node-proxy", np);
  targets.push({
    name: "node-proxy",
    url: `http://127.0.0.1:${port}${PATH}`,
    token: callerToken,
    pid: np.proc.pid,
    detail: `plain reverse proxy (\`bench/lib/http-node-proxy.ts\`): node:http server + undici Pool (the agent's undici, 64 connections), request and response streamed with \`pool.request\` + \`pipeline\`, hop-by-hop headers dropped, the caller's Authorization replaced by the upstream token; no policy, no recording — the baseline of the goals`,
  });
  for (const [name, { policy, recording }] of Object.entries(SLUICE_TARGETS)) {
    if (!cfg.targets.includes(name)) continue;
    const p = await freePort();
    const spoolDir = mkdtempSync("/tmp/sluice-bench-http-spool-");
    registerTemp(spoolDir);
    const flags = argv.profile ? ["--cpu-prof", `--cpu-prof-dir=${join(argv.profile, name)}`] : [];
    const s = await startNode(
      name,
      "bench/lib/http-sluice-server.ts",
      [
        ...["--port", String(p), "--upstream-port", String(apiPort), "--spool-dir", spoolDir],
        ...["--policy", policy, "--recording", recording],
      ],
      env,
      flags,
    );
    if (!s.ready) {
      unavailable.set(name, s.reason);
      continue;
    }
    procs.set(name, s);
    const base = `http://127.0.0.1:${p}/${CONNECTION}`;
    const why = await checkTarget(base, policy).catch((e: Error) => e.message);
    if (why) {
      unavailable.set(name, `check failed: ${why}`);
      continue;
    }
    targets.push({
      name,
      url: `${base}${PATH}`,
      token: callerToken,
      pid: s.proc.pid,
      detail: `agent createHttpHandler (native listener, SLUICE_HTTP_PLAINTEXT=true) behind createSessionBroker with a stub authorizer for one connection (\`/${CONNECTION}/…\`, bearer injected from credentialRef env:), ${recording === "off" ? "recording off (events built, counted and dropped; a diagnostic, not a product configuration)" : "every exchange recorded through createSpool in a temp dir (written per exchange, fsync'd in batches, not uploaded)"}, recordBodyBytes 4096; policy: ${httpPolicyDetail[policy]}`,
    });
  }
  return { targets, procs };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const load0 = loadavg();
  log(`sluice http-bench: ${JSON.stringify(cfg)}`);
  const unavailable = new Map<string, string>();
  const { targets, procs } = await startTargets(unavailable);
  for (const [n, why] of unavailable) log(`${n}: unavailable (${why})`);
  const records: HttpRecord[] = [];
  for (let round = 0; round < cfg.rounds; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length] as HttpTarget);
    for (const c of cfg.connections) {
      for (const t of order) {
        const sample = await runLoad(t, c, cfg.duration, cfg.warmup);
        records.push({ connections: c, target: t.name, round, sample });
        log(
          `round ${round + 1}/${cfg.rounds} c=${String(c).padEnd(3)} ${t.name.padEnd(14)} ${
            sample.error && !Number.isFinite(sample.rps)
              ? `error: ${sample.error}`
              : `${fmt(sample.rps)} req/s p50 ${fmt(sample.p50Ms, 3)} ms p99 ${fmt(sample.p99Ms, 2)} ms cpu ${fmt(sample.cpuUsPerReq)} µs/req${sample.error ? ` (${sample.error})` : ""}`
          }`,
        );
      }
    }
  }
  for (const [n, s] of procs) if (n.startsWith("sluice")) process.kill(s.proc.pid, "SIGUSR2");
  await sleep(500);
  if (argv.profile) for (const [n, s] of procs) if (n.startsWith("sluice")) await stopProcess(s.proc);
  const markdown = buildHttpReport({
    cfg,
    commandLine,
    quick,
    note: argv.note,
    targets,
    unavailable,
    records,
    stats: new Map([...procs].filter(([n]) => n.startsWith("sluice")).map(([n, s]) => [n, s.stats.last])),
    responseBytes: Number(procs.get("upstream")?.info.bytes ?? Number.NaN),
    startedAt,
    load0,
    load1: loadavg(),
    machine: `${cpus().length} CPU(s) (${cpus()[0]?.model.trim() ?? "unknown"}), ${fmt(totalmem() / 2 ** 30, 1)} GiB RAM, Node ${process.version}`,
  });
  process.stdout.write(markdown);
  if (!argv["no-write"]) {
    writeResultsSection(join(repoRoot, "bench/RESULTS.md"), "http", markdown);
    log("wrote the http section of bench/RESULTS.md");
  }
}

try {
  await main();
} finally {
  log("cleaning up: stopping the upstream and the proxies");
  await cleanup();
}
