/**
 * Postgres data-path benchmark: direct vs PgBouncer vs a bare Node pipe vs the Sluice
 * agent's Postgres proxy. Starts and tears down everything it uses (private cluster,
 * PgBouncer, proxy processes). See bench/README.md.
 *
 *   pnpm exec tsx bench/pg-bench.ts [--rounds 3] [--duration 10] [--quick]
 *     [--targets direct,pgbouncer,pgbouncer-session,node-pipe,sluice-native,sluice-tunnel,
 *                sluice-guarded,sluice-detect,sluice-masked]
 *     [--workloads select-c8,select-c1,tpcb-c8,select-1m,connect,idle,stream]
 *     [--idle-sessions 1000] [--stream-rows 10000000] [--connects 200] [--scale 10]
 *     [--tunnel-grant-per-connection] [--note "text for RESULTS.md"] [--no-write] [--profile DIR]
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { backendCount, type Cluster, clusterSettings, loadData, startCluster } from "./lib/cluster";
import { type Bouncer, startPgBouncer } from "./lib/pgbouncer";
import {
  cleanup,
  freePort,
  installCleanupHandlers,
  type Managed,
  registerTemp,
  repoRoot,
  startProcess,
  waitFor,
} from "./lib/proc";
import { writeResultsSection } from "./lib/results-file";
import { type BenchPolicyKind, checkPolicyTarget } from "./lib/sluice-target";
import { createTunnelFixture } from "./lib/sluice-tunnel-fixture";
import { fmt, median, range, ratio, table } from "./lib/stats";
import {
  type IdleResult,
  idleSessions,
  pgbench,
  psqlWall,
  type Sample,
  type StreamResult,
  smokeTest,
  streamRows,
  type Target,
} from "./lib/workloads";

const ALL_TARGETS = [
  "direct",
  "pgbouncer",
  "pgbouncer-session",
  "node-pipe",
  "sluice-native",
  "sluice-tunnel",
  "sluice-guarded",
  "sluice-detect",
  "sluice-masked",
];
/** sluice-native with a policy on every session; run only when named in --targets. */
const POLICY_TARGETS: Record<string, BenchPolicyKind> = {
  "sluice-guarded": "guard",
  "sluice-detect": "detect",
  "sluice-masked": "mask",
};
const DEFAULT_TARGETS = ALL_TARGETS.filter((t) => !(t in POLICY_TARGETS));
const ALL_WORKLOADS = ["select-c8", "select-c1", "tpcb-c8", "select-1m", "connect", "idle", "stream"];

const { values: argv } = parseArgs({
  options: {
    rounds: { type: "string" },
    duration: { type: "string" },
    quick: { type: "boolean", default: false },
    targets: { type: "string" },
    workloads: { type: "string" },
    profile: { type: "string" },
    "idle-sessions": { type: "string" },
    "stream-rows": { type: "string" },
    connects: { type: "string" },
    scale: { type: "string", default: "10" },
    "big-rows": { type: "string", default: "1000000" },
    note: { type: "string" },
    "tunnel-grant-per-connection": { type: "boolean", default: true },
    "no-write": { type: "boolean", default: false },
  },
});

const quick = argv.quick ?? false;
const cfg = {
  rounds: Number(argv.rounds ?? (quick ? 1 : 3)),
  duration: Number(argv.duration ?? (quick ? 3 : 10)),
  idleSessions: Number(argv["idle-sessions"] ?? (quick ? 200 : 1000)),
  streamRows: Number(argv["stream-rows"] ?? (quick ? 2_000_000 : 10_000_000)),
  connects: Number(argv.connects ?? (quick ? 100 : 200)),
  scale: Number(argv.scale),
  bigRows: Number(argv["big-rows"]),
  targets: (argv.targets ?? DEFAULT_TARGETS.join(","))
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean),
  workloads: (argv.workloads ?? ALL_WORKLOADS.join(","))
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean),
};
for (const [k, v] of Object.entries(cfg)) {
  if (typeof v === "number" && (!Number.isInteger(v) || v < 1))
    throw new Error(`--${k} must be a positive integer`);
}
if (cfg.rounds > 20 || cfg.duration > 300 || cfg.idleSessions > 5000 || cfg.streamRows > 100_000_000) {
  throw new Error(
    "refusing unbounded settings: rounds ≤ 20, duration ≤ 300 s, idle ≤ 5000, stream rows ≤ 1e8",
  );
}
for (const t of cfg.targets) if (!ALL_TARGETS.includes(t)) throw new Error(`unknown target ${t}`);
for (const w of cfg.workloads) if (!ALL_WORKLOADS.includes(w)) throw new Error(`unknown workload ${w}`);
if (!cfg.targets.includes("direct")) cfg.targets.unshift("direct");

const shellQuote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`);
const commandLine =
  `pnpm exec tsx bench/pg-bench.ts ${process.argv.slice(2).map(shellQuote).join(" ")}`.trim();
const log = (s: string) => process.stderr.write(`${s}\n`);
const out = (s = "") => process.stdout.write(`${s}\n`);
installCleanupHandlers(log);

interface NodeProc {
  proc?: Managed;
  ready?: Record<string, unknown>;
  reason?: string;
  lastStats?: Record<string, unknown>;
}

/**
 * `--profile DIR` writes a V8 CPU profile of every proxy process into DIR (one .cpuprofile
 * per process, named after the target); figures from a profiled run are not comparable.
 */
function profileArgs(name: string): string[] {
  if (!argv.profile) return [];
  return ["--cpu-prof", `--cpu-prof-dir=${join(argv.profile, name)}`];
}

/** Starts a TypeScript entry point with tsx as its own node process and waits for its JSON ready line. */
async function startNodeProcess(
  name: string,
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<NodeProc> {
  const np: NodeProc = {};
  let onReady: ((o: Record<string, unknown>) => void) | undefined;
  const ready = new Promise<Record<string, unknown>>((res) => {
    onReady = res;
  });
  const proc = startProcess(
    process.execPath,
    [...profileArgs(name), "--expose-gc", "--import", "tsx", join(repoRoot, file), ...args],
    {
      name,
      env,
      stopSignal: "SIGTERM",
      onStdoutLine: (line) => {
        let o: unknown;
        try {
          o = JSON.parse(line);
        } catch {
          return;
        }
        if (typeof o !== "object" || o === null) return;
        const rec = o as Record<string, unknown>;
        if ("ready" in rec) onReady?.(rec);
        if ("stats" in rec) np.lastStats = rec.stats as Record<string, unknown>;
      },
    },
  );
  const timeout = new Promise<Record<string, unknown>>((res) =>
    setTimeout(() => res({ ready: false, reason: "no ready line within 60 s" }), 60_000).unref(),
  );
  const exited = proc.exited.then(
    (code): Record<string, unknown> => ({
      ready: false,
      reason: `exited with ${code}: ${lastLines(proc.output())}`,
    }),
  );
  const r = await Promise.race([ready, timeout, exited]);
  if (r.ready === true) {
    np.proc = proc;
    np.ready = r;
  } else {
    np.reason = String(r.reason ?? "unknown");
  }
  return np;
}

/** Sends SIGUSR2 (forced GC in bench Node proxies started with --expose-gc) and lets it finish. */
function gcSettle(...pids: number[]): () => Promise<void> {
  return async () => {
    let signalled = false;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGUSR2");
        signalled = true;
      } catch {
        /* gone */
      }
    }
    if (signalled) await new Promise((r) => setTimeout(r, 1000));
  };
}

/**
 * sluice-native and the policy targets: the agent's Postgres proxy in its own process
 * (sluice-proxy-server.ts), recording on, with `policy` on every session.
 */
async function startSluiceNative(
  cluster: Cluster,
  name: string,
  policy: BenchPolicyKind,
): Promise<{ np: NodeProc; target?: Target }> {
  const port = await freePort();
  const token = `bench-${randomBytes(16).toString("hex")}`;
  const spoolDir = mkdtempSync("/tmp/sluice-bench-spool-");
  registerTemp(spoolDir);
  const np = await startNodeProcess(
    name,
    "bench/lib/sluice-proxy-server.ts",
    [
      "--port",
      String(port),
      "--upstream-port",
      String(cluster.port),
      "--upstream-user",
      "bench",
      "--upstream-db",
      "bench",
      "--spool-dir",
      spoolDir,
      "--policy",
      policy,
    ],
    { BENCH_UPSTREAM_PASSWORD: cluster.conn.password, BENCH_TOKEN: token },
  );
  if (!np.proc) return { np };
  const conn = { ...cluster.conn, port, password: token };
  const why = await checkPolicyTarget(conn, policy);
  if (why) {
    np.reason = `policy check failed: ${why}`;
    return { np };
  }
  const recording = `recording: ${String(np.ready?.recorderDetail ?? np.ready?.recorder)}`;
  return {
    np,
    target: {
      name,
      conn,
      pid: np.proc.pid,
      settle: gcSettle(np.proc.pid),
      detail:
        policy === "none"
          ? `agent Postgres proxy, ${recording}`
          : `agent Postgres proxy with a policy on every session (${String(np.ready?.policyDetail)}; checked at start: a DROP is refused${policy === "mask" ? ", big.id comes back masked" : policy === "detect" ? ", an email in a value comes back masked" : ""}), ${recording}`,
    },
  };
}

interface TunnelProcs {
  agent: NodeProc;
  cli: NodeProc;
}

/**
 * sluice-tunnel: a throwaway CA and grant key (sluice-tunnel-fixture.ts), the agent's
 * tunnel listener + Postgres service in one process (sluice-tunnel-server.ts) and the
 * `sluice connect` side in another (sluice-connect-client.ts).
 */
async function startSluiceTunnel(
  cluster: Cluster,
): Promise<{ target?: Target; procs?: TunnelProcs; reason?: string }> {
  const dir = mkdtempSync("/tmp/sluice-bench-tunnel-");
  registerTemp(dir);
  const fixture = await createTunnelFixture(dir, { grantTtlSeconds: 86_400 });
  const fixtureFile = join(dir, "agent-fixture.json");
  writeFileSync(
    fixtureFile,
    JSON.stringify({
      certFile: fixture.certFile,
      keyFile: fixture.keyFile,
      agent: fixture.agent,
      connection: fixture.connection,
      key: fixture.key,
    }),
    { mode: 0o600 },
  );
  const agentPort = await freePort();
  const agent = await startNodeProcess(
    "sluice-tunnel-agent",
    "bench/lib/sluice-tunnel-server.ts",
    [
      "--port",
      String(agentPort),
      "--fixture",
      fixtureFile,
      "--upstream-port",
      String(cluster.port),
      "--upstream-user",
      "bench",
      "--upstream-db",
      "bench",
      "--spool-dir",
      join(dir, "spool"),
    ],
    { BENCH_PG_PASSWORD: cluster.conn.password },
  );
  if (!agent.proc) return { reason: `agent side: ${agent.reason ?? "failed"}` };
  const perConnection = argv["tunnel-grant-per-connection"] ?? false;
  const port = await freePort();
  const cli = await startNodeProcess(
    "sluice-tunnel-cli",
    "bench/lib/sluice-connect-client.ts",
    [
      "--port",
      String(port),
      "--agent-port",
      String(agentPort),
      "--ca-file",
      fixture.caFile,
      "--connection",
      fixture.connection.name,
      "--agent-name",
      fixture.agent.name,
      "--session-id",
      fixture.sessionId,
      "--expires-at",
      fixture.expiresAt.toISOString(),
      ...(perConnection
        ? [
            "--grant-per-connection",
            "--kid",
            fixture.key.kid,
            "--agent-id",
            fixture.agent.id,
            "--connection-id",
            fixture.connection.id,
          ]
        : []),
    ],
    { BENCH_GRANT: fixture.grant, ...(perConnection ? { BENCH_GRANT_KEY: fixture.signingKeyPem } : {}) },
  );
  if (!cli.proc) return { reason: `sluice connect side: ${cli.reason ?? "failed"}` };
  return {
    procs: { agent, cli },
    target: {
      name: "sluice-tunnel",
      // The user name is not checked and no password is asked: the grant is the identity.
      conn: { ...cluster.conn, port, user: "bench", password: "" },
      pid: agent.proc.pid,
      clientPid: cli.proc.pid,
      settle: gcSettle(agent.proc.pid, cli.proc.pid),
      detail:
        `${perConnection ? "one session (a freshly signed grant) per client socket, as `sluice connect` does. " : "one grant for every socket (refused by the agent after the first connection). "}` +
        "`sluice connect` side (CLI openTunnel + GrantSource, own process, 127.0.0.1 listener, one TLS tunnel per client socket, CA-pinned) → agent createTunnelServer (ECDSA P-256 cert from a throwaway CA; each tunnel's Ed25519 grant verified by the agent's createAuthorizer/createGrantVerifier) → createPgService().serveTunnel (preauthorized; upstream password via createSecretResolver/env provider; recording through createSpool in a temp dir, not uploaded). Proxy CPU/RSS columns are the agent process; the CLI process is reported separately below",
    },
  };
}

function lastLines(s: string): string {
  return s.trim().split("\n").slice(-3).join(" / ").slice(0, 400);
}

interface RunRecord {
  target: string;
  round: number;
  sample: Sample;
}

const workloadsInRounds = [
  { id: "select-c8", title: "Select-only TPS, `pgbench -S -c 8 -j 2`" },
  { id: "select-c1", title: "Select-only latency, `pgbench -S -c 1 -j 1`" },
  { id: "tpcb-c8", title: "TPC-B-like TPS, `pgbench -c 8 -j 2`" },
  { id: "select-1m", title: `Bulk SELECT of ${fmt(cfg.bigRows)} rows (psql → /dev/null), wall time` },
  { id: "connect", title: "Connection setup, `pgbench -S -C -c 1 -t N` (connect + SELECT + close)" },
] as const;
type WorkloadId = (typeof workloadsInRounds)[number]["id"];

async function runWorkload(id: WorkloadId, t: Target): Promise<Sample> {
  const d = cfg.duration;
  const limit = (d + 90) * 1000;
  switch (id) {
    case "select-c8":
      return pgbench(t, ["-S", "-c", "8", "-j", "2", "-T", String(d)], limit);
    case "select-c1":
      return pgbench(t, ["-S", "-c", "1", "-j", "1", "-T", String(d)], limit);
    case "tpcb-c8":
      return pgbench(t, ["-c", "8", "-j", "2", "-T", String(d)], limit);
    case "select-1m":
      return psqlWall(t, "SELECT * FROM big", 300_000);
    case "connect": {
      const r = await pgbench(t, ["-S", "-C", "-c", "1", "-j", "1", "-t", String(cfg.connects)], 300_000);
      return { ...r, value: Number.isFinite(r.tps) ? r.connMs : Number.NaN };
    }
  }
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const load0 = loadavg();
  log(`sluice pg-bench: ${JSON.stringify(cfg)}`);

  const cluster: Cluster = await startCluster(log);
  await loadData(cluster, cfg.scale, cfg.bigRows, log);
  const unavailable = new Map<string, string>();
  const targets: Target[] = [
    { name: "direct", conn: cluster.conn, detail: `PostgreSQL on 127.0.0.1:${cluster.port}` },
  ];

  let bouncer: Bouncer | undefined;
  if (cfg.targets.some((t) => t.startsWith("pgbouncer"))) {
    try {
      bouncer = await startPgBouncer(cluster, log);
    } catch (e) {
      const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
      unavailable.set("pgbouncer", why ?? "failed");
      unavailable.set("pgbouncer-session", why ?? "failed");
    }
  }
  if (bouncer && cfg.targets.includes("pgbouncer")) {
    targets.push({
      name: "pgbouncer",
      conn: bouncer.transaction,
      pid: bouncer.proc.pid,
      detail: `${bouncer.version}, pool_mode=transaction`,
    });
  }
  if (bouncer && cfg.targets.includes("pgbouncer-session")) {
    targets.push({
      name: "pgbouncer-session",
      conn: bouncer.session,
      pid: bouncer.proc.pid,
      detail: `${bouncer.version}, pool_mode=session`,
    });
  }

  if (cfg.targets.includes("node-pipe")) {
    const port = await freePort();
    const np = await startNodeProcess(
      "node-pipe",
      "bench/lib/byte-pipe.ts",
      ["--port", String(port), "--upstream-port", String(cluster.port)],
      {},
    );
    if (np.proc) {
      targets.push({
        name: "node-pipe",
        conn: { ...cluster.conn, port },
        pid: np.proc.pid,
        detail: `bare Node net pipe, ${process.version}`,
        settle: gcSettle(np.proc.pid),
      });
    } else unavailable.set("node-pipe", np.reason ?? "failed");
  }

  let sluice: NodeProc | undefined;
  const policyProcs = new Map<string, NodeProc>();
  for (const name of ["sluice-native", ...Object.keys(POLICY_TARGETS)]) {
    if (!cfg.targets.includes(name)) continue;
    const started = await startSluiceNative(cluster, name, POLICY_TARGETS[name] ?? "none");
    if (name === "sluice-native") sluice = started.np;
    else policyProcs.set(name, started.np);
    if (started.target) targets.push(started.target);
    else unavailable.set(name, started.np.reason ?? "failed");
  }
  let tunnel: TunnelProcs | undefined;
  if (cfg.targets.includes("sluice-tunnel")) {
    try {
      const started = await startSluiceTunnel(cluster);
      if (started.target) {
        targets.push(started.target);
        tunnel = started.procs;
      } else unavailable.set("sluice-tunnel", started.reason ?? "failed");
    } catch (e) {
      unavailable.set(
        "sluice-tunnel",
        (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "failed",
      );
    }
  }

  for (const t of [...targets]) {
    const why = await smokeTest(t);
    if (why) {
      unavailable.set(t.name, `smoke test failed: ${why}`);
      targets.splice(targets.indexOf(t), 1);
    }
  }
  if (!targets.some((t) => t.name === "direct"))
    throw new Error(`direct connection to the private cluster failed: ${unavailable.get("direct")}`);
  for (const [name, why] of unavailable) log(`${name}: unavailable (${why})`);

  const proxies = targets.filter((t) => t.pid !== undefined && t.name !== "pgbouncer-session");
  const idle = new Map<string, IdleResult>();
  for (const t of cfg.workloads.includes("idle") ? proxies : []) {
    log(`idle sessions: ${cfg.idleSessions} through ${t.name}`);
    try {
      idle.set(t.name, await idleSessions(t, cfg.idleSessions, 50, 180_000));
    } catch (e) {
      idle.set(t.name, {
        sessions: 0,
        rssBeforeKiB: Number.NaN,
        rssAfterKiB: Number.NaN,
        kibPerSession: Number.NaN,
        openMs: 0,
        error: e instanceof Error ? e.message : String(e),
      });
    }
    await waitFor("idle backends to exit", 60_000, async () => (await backendCount(cluster)) <= 2).catch(
      (e: Error) => log(e.message),
    );
  }

  const records = new Map<WorkloadId, RunRecord[]>();
  for (const w of workloadsInRounds) records.set(w.id, []);
  const inRounds = workloadsInRounds.filter((w) => cfg.workloads.includes(w.id));
  for (let round = 0; round < cfg.rounds; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length] as Target);
    for (const w of inRounds) {
      for (const t of order) {
        const sample = await runWorkload(w.id, t);
        records.get(w.id)?.push({ target: t.name, round, sample });
        const shown =
          w.id === "select-1m" || w.id === "connect"
            ? `${fmt(sample.value, 2)} ms`
            : `${fmt(sample.value)} tps`;
        log(
          `round ${round + 1}/${cfg.rounds} ${w.id.padEnd(9)} ${t.name.padEnd(17)} ${sample.error ? `error: ${sample.error}` : shown}`,
        );
      }
    }
  }

  const streams = new Map<string, StreamResult>();
  const streamed = cfg.workloads.includes("stream") ? targets : [];
  for (const t of streamed.filter((x) => x.name !== "pgbouncer-session")) {
    log(`stream: ${fmt(cfg.streamRows)} rows through ${t.name}`);
    streams.set(t.name, await streamRows(t, cfg.streamRows, 600_000));
  }

  const statProcs = [
    sluice?.proc,
    tunnel?.agent.proc,
    tunnel?.cli.proc,
    ...[...policyProcs.values()].map((np) => np.proc),
  ].filter((p) => p !== undefined);
  for (const p of statProcs) process.kill(p.pid, "SIGUSR2");
  if (statProcs.length) await new Promise((r) => setTimeout(r, 500));
  for (const [name, np] of policyProcs)
    if (np.lastStats) log(`${name} stats at the end: ${JSON.stringify(np.lastStats)}`);
  const load1 = loadavg();
  const report = buildReport({
    cluster,
    bouncer,
    targets,
    unavailable,
    records,
    idle,
    streams,
    startedAt,
    load0,
    load1,
    sluice,
    tunnel,
  });
  process.stdout.write(report.stdout);
  if (!argv["no-write"]) {
    writeResultsSection(join(repoRoot, "bench/RESULTS.md"), "pg", report.markdown);
    log("wrote the pg section of bench/RESULTS.md");
  }
}

interface ReportInput {
  cluster: Cluster;
  bouncer: Bouncer | undefined;
  targets: Target[];
  unavailable: Map<string, string>;
  records: Map<WorkloadId, RunRecord[]>;
  idle: Map<string, IdleResult>;
  streams: Map<string, StreamResult>;
  startedAt: Date;
  load0: number[];
  load1: number[];
  sluice: NodeProc | undefined;
  tunnel: TunnelProcs | undefined;
}

function buildReport(r: ReportInput): { stdout: string; markdown: string } {
  const names = r.targets.map((t) => t.name);
  const vals = (w: WorkloadId, name: string, pick: (s: Sample) => number = (s) => s.value) =>
    (r.records.get(w) ?? []).filter((x) => x.target === name).map((x) => pick(x.sample));
  const med = (w: WorkloadId, name: string, pick?: (s: Sample) => number) => median(vals(w, name, pick));
  const errs = (w: WorkloadId, name: string) =>
    (r.records.get(w) ?? []).filter((x) => x.target === name && x.sample.error).map((x) => x.sample.error);
  const hasBouncer = names.includes("pgbouncer");
  const sections: string[] = [];
  const errorNotes: string[] = [];
  const noteErrors = (w: WorkloadId) => {
    for (const n of names) {
      const e = errs(w, n);
      if (e.length) errorNotes.push(`- ${w} / ${n}: ${e.length} failed run(s): ${e[0]}`);
    }
  };

  const throughput = (w: WorkloadId) => {
    const d = med(w, "direct");
    const b = med(w, "pgbouncer");
    const rows = names.map((n) => {
      const m = med(w, n);
      return [
        n,
        fmt(m),
        range(vals(w, n)),
        ratio(m / d),
        hasBouncer ? ratio(m / b) : "–",
        n === "direct" ? "–" : fmt(med(w, n, (s) => s.cpuPct ?? Number.NaN)),
        n === "direct"
          ? "–"
          : fmt(
              med(w, n, (s) => s.cpuUsPerTx ?? Number.NaN),
              1,
            ),
      ];
    });
    noteErrors(w);
    return table(
      ["target", "TPS (median)", "rounds", "vs direct", "vs pgbouncer", "proxy CPU %", "proxy CPU µs/tx"],
      rows,
    );
  };

  sections.push(`### ${workloadsInRounds[0].title}\n\n${throughput("select-c8")}`);

  {
    const w: WorkloadId = "select-c1";
    const d = med(w, "direct");
    const directByRound = new Map(
      (r.records.get(w) ?? []).filter((x) => x.target === "direct").map((x) => [x.round, x.sample.value]),
    );
    const rows = names.map((n) => {
      const m = med(w, n);
      const added = median(
        (r.records.get(w) ?? [])
          .filter((x) => x.target === n)
          .map((x) => (1 / x.sample.value - 1 / (directByRound.get(x.round) ?? Number.NaN)) * 1e6),
      );
      return [
        n,
        fmt(m),
        range(vals(w, n)),
        fmt(1e6 / m, 1),
        n === "direct" ? "0" : fmt(added, 1),
        ratio(m / d),
        n === "direct"
          ? "–"
          : fmt(
              med(w, n, (s) => s.cpuUsPerTx ?? Number.NaN),
              1,
            ),
      ];
    });
    noteErrors(w);
    sections.push(
      `### ${workloadsInRounds[1].title}\n\n${table(["target", "TPS (median)", "rounds", "µs/tx", "added µs/tx", "vs direct", "proxy CPU µs/tx"], rows)}\n\nadded µs/tx = (1/tps_target − 1/tps_direct) × 1e6, paired per round, median over rounds.`,
    );
  }

  sections.push(`### ${workloadsInRounds[2].title}\n\n${throughput("tpcb-c8")}`);

  {
    const w: WorkloadId = "select-1m";
    const d = med(w, "direct");
    const b = med(w, "pgbouncer");
    const rows = names.map((n) => {
      const m = med(w, n);
      return [
        n,
        fmt(m),
        range(vals(w, n)),
        ratio(d / m),
        hasBouncer ? ratio(b / m) : "–",
        n === "direct" ? "–" : fmt(med(w, n, (s) => s.cpuPct ?? Number.NaN)),
      ];
    });
    noteErrors(w);
    sections.push(
      `### ${workloadsInRounds[3].title}\n\n${table(["target", "wall ms (median)", "rounds", "vs direct", "vs pgbouncer", "proxy CPU %"], rows)}\n\nvs direct = direct_time / target_time (1.00 = as fast as direct).`,
    );
  }

  {
    const w: WorkloadId = "connect";
    const d = med(w, "direct");
    const rows = names.map((n) => {
      const m = med(w, n);
      return [
        n,
        fmt(m, 2),
        range(vals(w, n), 2),
        fmt(
          med(w, n, (s) => s.latencyMs ?? Number.NaN),
          2,
        ),
        ratio(d / m),
        n === "direct" ? "–" : fmt(med(w, n, (s) => s.cpuUsPerTx ?? Number.NaN)),
      ];
    });
    noteErrors(w);
    sections.push(
      `### ${workloadsInRounds[4].title.replace("N", String(cfg.connects))}\n\n${table(["target", "connect ms (median)", "rounds", "ms per connect+query+close", "vs direct", "proxy CPU µs/conn"], rows)}\n\nconnect ms = pgbench's "average connection time" (includes SCRAM against the cluster or PgBouncer, and the proxy's own upstream login); vs direct = direct_ms / target_ms.`,
    );
  }

  {
    const rows = [...r.idle].map(([n, i]) => [
      n,
      fmt(i.sessions),
      fmt(i.rssBeforeKiB / 1024, 1),
      fmt(i.rssAfterKiB / 1024, 1),
      fmt(i.kibPerSession, 1),
      fmt(i.openMs),
      i.error ?? "",
    ]);
    sections.push(
      `### RSS per idle session (${fmt(cfg.idleSessions)} authenticated idle clients, proxy process VmRSS)\n\n${table(["target", "sessions", "RSS before MiB", "RSS after MiB", "KiB/session", "open ms", "note"], rows)}\n\nnode-pipe, sluice-native and sluice-tunnel hold one upstream backend per client (sluice-tunnel: the agent process; the \`sluice connect\` process is reported below) (max_connections = 1100). PgBouncer is measured in transaction mode, where idle clients hold no server connection; its figure is client-side state only. Node proxies are started with --expose-gc and collect garbage before each reading, so the figure is live memory, not garbage.`,
    );
  }

  {
    const rows = [...r.streams].map(([n, s]) => [
      n,
      fmt(s.rows),
      fmt(s.ms / 1000, 1),
      s.rssBeforeKiB !== undefined ? fmt(s.rssBeforeKiB / 1024, 1) : "–",
      s.peakRssKiB !== undefined ? `${fmt(s.peakRssKiB / 1024, 1)} (${s.peakFrom})` : "–",
      s.cpuPct !== undefined ? fmt(s.cpuPct) : "–",
      s.error ?? "",
    ]);
    sections.push(
      `### Streaming ${fmt(cfg.streamRows)} rows (\`SELECT g, md5(g::text) FROM generate_series(1, N) g\`, psql → /dev/null)\n\n${table(["target", "rows", "wall s", "proxy RSS before MiB", "proxy peak RSS MiB", "proxy CPU %", "note"], rows)}`,
    );
  }

  if (names.includes("sluice-tunnel")) {
    const n = "sluice-tunnel";
    const cli = (w: WorkloadId) => med(w, n, (s) => s.clientCpuPct ?? Number.NaN);
    const cliUs = (w: WorkloadId) => med(w, n, (s) => s.clientCpuUsPerTx ?? Number.NaN);
    const agentUs = (w: WorkloadId) => med(w, n, (s) => s.cpuUsPerTx ?? Number.NaN);
    const rows = workloadsInRounds.map((w) => [
      w.id,
      fmt(med(w.id, n, (s) => s.cpuPct ?? Number.NaN)),
      w.id === "select-1m" ? "–" : fmt(agentUs(w.id), 1),
      fmt(cli(w.id)),
      w.id === "select-1m" ? "–" : fmt(cliUs(w.id), 1),
    ]);
    const idle = r.idle.get(n);
    sections.push(
      `### sluice-tunnel: agent process vs \`sluice connect\` process\n\n${table(["workload", "agent CPU %", "agent CPU µs/tx", "sluice connect CPU %", "sluice connect CPU µs/tx"], rows)}\n\nIn production the \`sluice connect\` process runs on the user's machine; here it shares the cores with the agent, PostgreSQL and the load generator, so its CPU also comes out of the TPS above. sluice connect RSS per idle session: ${fmt(idle?.clientKibPerSession ?? Number.NaN, 1)} KiB.`,
    );
  }

  const goals = goalsTable(r, med);
  const unavailableLines = [...r.unavailable].map(([n, why]) => `- ${n}: unavailable (${why})`);
  const targetLines = r.targets.map((t) => `- **${t.name}**: ${t.detail}`);
  const recStats = [
    r.sluice?.lastStats &&
      `- sluice-native recorder stats at the end: \`${JSON.stringify(r.sluice.lastStats)}\``,
    r.tunnel?.agent.lastStats &&
      `- sluice-tunnel agent stats at the end: \`${JSON.stringify(r.tunnel.agent.lastStats)}\``,
    r.tunnel?.cli.lastStats &&
      `- sluice-tunnel sluice connect stats at the end: \`${JSON.stringify(r.tunnel.cli.lastStats)}\``,
  ]
    .filter(Boolean)
    .join("\n");

  const body = [
    "## Targets",
    "",
    ...targetLines,
    ...unavailableLines,
    ...(recStats ? [recStats.trim()] : []),
    "",
    "## Results",
    "",
    `Medians over ${cfg.rounds} interleaved round(s) of ${cfg.duration} s per pgbench run; targets run in rotating order within each round.`,
    "",
    sections.join("\n\n"),
    "",
    errorNotes.length ? `### Failed runs\n\n${errorNotes.join("\n")}\n` : "",
    "## Against the goals",
    "",
    goals,
    "",
  ].join("\n");

  const shared = `Load average (1/5/15 min) at start: ${r.load0.map((x) => x.toFixed(2)).join(" / ")}, at end: ${r.load1.map((x) => x.toFixed(2)).join(" / ")}.`;
  const header = [
    "# Benchmark results: Postgres data path",
    "",
    `- Date: ${r.startedAt.toISOString()}`,
    `- Command: \`${commandLine}\``,
    `- Mode: ${quick ? "--quick (smoke test; numbers are indicative only)" : "full"}`,
    `- Machine: ${cpus().length} CPU(s) (${cpus()[0]?.model.trim() ?? "unknown"}), ${fmt(totalmem() / 2 ** 30, 1)} GiB RAM, Node ${process.version}`,
    `- PostgreSQL: ${r.cluster.version}, private cluster, SCRAM-SHA-256 over 127.0.0.1; settings changed from defaults: ${clusterSettings.filter((s) => !s.startsWith("log_")).join(", ")} (fsync stays on)`,
    `- Data: pgbench scale ${cfg.scale}; \`big\` = ${fmt(cfg.bigRows)} rows of (int, md5 text)`,
    `- PgBouncer: ${r.bouncer?.version ?? "not run"}`,
    `- ${shared} The load generator (pgbench/psql), PostgreSQL and the proxy share the same ${cpus().length} cores; this is a shared development box, so other work may have been running.${argv.note ? ` ${argv.note}` : ""}`,
    "",
  ].join("\n");
  const markdown = `${header}\n${body}`.replace(/\n{3,}/g, "\n\n").replace(/\n*$/, "\n");
  return { stdout: markdown, markdown };
}

function goalsTable(
  r: ReportInput,
  med: (w: WorkloadId, name: string, pick?: (s: Sample) => number) => number,
): string {
  const names = r.targets.map((t) => t.name);
  const addedUs = (n: string) => {
    const recs = r.records.get("select-c1") ?? [];
    const direct = new Map(recs.filter((x) => x.target === "direct").map((x) => [x.round, x.sample.value]));
    return median(
      recs
        .filter((x) => x.target === n)
        .map((x) => (1 / x.sample.value - 1 / (direct.get(x.round) ?? Number.NaN)) * 1e6),
    );
  };
  type Goal = {
    name: string;
    goal: string;
    measure: (n: string) => number;
    show: (x: number) => string;
    ok: (x: number) => boolean;
  };
  const goals: Goal[] = [
    {
      name: "select-only -c 8, ratio to direct",
      goal: "≥ 0.60 (bare Node pipe ≈ 0.59, PgBouncer ≈ 0.78)",
      measure: (n) => med("select-c8", n) / med("select-c8", "direct"),
      show: ratio,
      ok: (x) => x >= 0.6,
    },
    {
      name: "added latency at -c 1",
      goal: "≤ 80 µs",
      measure: addedUs,
      show: (x) => `${fmt(x, 1)} µs`,
      ok: (x) => x <= 80,
    },
    {
      name: "1M-row SELECT, direct_time / target_time",
      goal: "≥ 0.90",
      measure: (n) => med("select-1m", "direct") / med("select-1m", n),
      show: ratio,
      ok: (x) => x >= 0.9,
    },
    {
      name: "proxy RSS per idle session",
      goal: "≤ 32 KiB",
      measure: (n) => r.idle.get(n)?.kibPerSession ?? Number.NaN,
      show: (x) => `${fmt(x, 1)} KiB`,
      ok: (x) => x <= 32,
    },
    {
      name: `${fmt(cfg.streamRows)}-row stream, proxy peak RSS`,
      goal: "bounded (< 200 MB)",
      measure: (n) => {
        const s = r.streams.get(n);
        return s?.error ? Number.NaN : ((s?.peakRssKiB ?? Number.NaN) * 1024) / 1e6;
      },
      show: (x) => `${fmt(x, 0)} MB`,
      ok: (x) => x < 200,
    },
  ];
  const sluiceCols = ["sluice-native", "sluice-tunnel"];
  const cols = [...sluiceCols, "node-pipe", "pgbouncer"].filter(
    (n) => names.includes(n) || sluiceCols.includes(n),
  );
  const rows = goals.map((g) => [
    g.name,
    g.goal,
    ...cols.map((n) => {
      if (!names.includes(n)) return "not measured";
      const x = g.measure(n);
      if (!Number.isFinite(x)) return "not measured";
      return sluiceCols.includes(n) ? `${g.show(x)} ${g.ok(x) ? "(met)" : "(NOT met)"}` : g.show(x);
    }),
  ]);
  return table(["goal", "target", ...cols], rows);
}

try {
  await main();
} finally {
  log("cleaning up: stopping proxies, PgBouncer and the private cluster; removing temp dirs");
  await cleanup();
}
