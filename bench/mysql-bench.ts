/**
 * MySQL data-path benchmark against the machine's MariaDB (127.0.0.1:3306): direct vs a
 * bare Node pipe vs the agent's MySQL handler (recording on), with and without a policy.
 * Creates a throwaway database and user (dropped at the end). See bench/README.md.
 *
 *   node --import tsx bench/mysql-bench.ts [--rounds 3] [--duration 10] [--quick]
 *     [--targets direct,node-pipe,sluice-native,sluice-policy]
 *     [--workloads query-c8,query-c1,exec-c8,exec-c1,select-1m,stream]
 *     [--stream-rows 10000000] [--note "text"] [--no-write]
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { mysqlPolicyDetail } from "./lib/mysql-policy-spec";
import { buildMysqlReport, type MysqlRecord } from "./lib/mysql-report";
import { type LoadSample, type MysqlTarget, runLoad } from "./lib/mysql-run";
import {
  cleanup,
  freePort,
  installCleanupHandlers,
  registerFinalizer,
  registerTemp,
  repoRoot,
  runOk,
  startProcess,
} from "./lib/proc";
import { writeResultsSection } from "./lib/results-file";
import { fmt } from "./lib/stats";

const ALL_TARGETS = ["direct", "node-pipe", "sluice-native", "sluice-policy"];
const ALL_WORKLOADS = ["query-c8", "query-c1", "exec-c8", "exec-c1", "select-1m", "stream"];
const { values: argv } = parseArgs({
  options: {
    rounds: { type: "string" },
    duration: { type: "string" },
    quick: { type: "boolean", default: false },
    targets: { type: "string" },
    workloads: { type: "string" },
    "stream-rows": { type: "string" },
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
export const cfg = {
  rounds: Number(argv.rounds ?? (quick ? 1 : 3)),
  duration: Number(argv.duration ?? (quick ? 3 : 10)),
  streamRows: Number(argv["stream-rows"] ?? (quick ? 2_000_000 : 10_000_000)),
  bigRows: 1_000_000,
  targets: list(argv.targets ?? ALL_TARGETS.join(",")),
  workloads: list(argv.workloads ?? ALL_WORKLOADS.join(",")),
};
if (![cfg.rounds, cfg.duration, cfg.streamRows].every((x) => Number.isInteger(x) && x > 0))
  throw new Error("--rounds, --duration and --stream-rows must be positive integers");
if (cfg.rounds > 20 || cfg.duration > 300 || cfg.streamRows > 100_000_000)
  throw new Error("refusing unbounded settings: rounds ≤ 20, duration ≤ 300 s, stream rows ≤ 1e8");
for (const t of cfg.targets) if (!ALL_TARGETS.includes(t)) throw new Error(`unknown target ${t}`);
for (const w of cfg.workloads) if (!ALL_WORKLOADS.includes(w)) throw new Error(`unknown workload ${w}`);
if (!cfg.targets.includes("direct")) cfg.targets.unshift("direct");

const shellQuote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`);
const commandLine =
  `node --import tsx bench/mysql-bench.ts ${process.argv.slice(2).map(shellQuote).join(" ")}`.trim();
const log = (s: string) => process.stderr.write(`${s}\n`);
installCleanupHandlers(log);

const tag = randomBytes(4).toString("hex");
const DB = `sl_bench_${tag}`;
const USER = `sl_bench_${tag}`;
const PASSWORD = randomBytes(18).toString("base64url");
const root = (sql: string, timeoutMs = 300_000) =>
  runOk("mysql", ["-uroot", "-h127.0.0.1", "-P3306", "--batch", "-N", "-e", sql], { timeoutMs });

async function setupDatabase(): Promise<string> {
  registerFinalizer(async () => {
    await root(`DROP DATABASE IF EXISTS ${DB}; DROP USER IF EXISTS '${USER}'@'%';`);
    log(`dropped database ${DB} and user ${USER}`);
  });
  await root(
    `CREATE DATABASE ${DB}; CREATE USER '${USER}'@'%' IDENTIFIED BY '${PASSWORD}'; GRANT ALL ON ${DB}.* TO '${USER}'@'%';`,
  );
  log(`loading ${fmt(cfg.bigRows)} rows into ${DB}.big`);
  await root(
    `USE ${DB}; CREATE TABLE big (id INT PRIMARY KEY, k INT NOT NULL, payload CHAR(32) NOT NULL) ENGINE=InnoDB; INSERT INTO big SELECT seq, seq % 1000, md5(seq) FROM seq_1_to_${cfg.bigRows}; ANALYZE TABLE big;`,
  );
  return (await root("SELECT VERSION()")).stdout.trim();
}

/** Starts a TypeScript entry point in its own node process and waits for its JSON ready line. */
async function startNode(name: string, file: string, args: string[], env: NodeJS.ProcessEnv) {
  let ready: (o: Record<string, unknown>) => void = () => undefined;
  const got = new Promise<Record<string, unknown>>((r) => {
    ready = r;
  });
  const stats: { last?: Record<string, unknown> } = {};
  const proc = startProcess(
    process.execPath,
    ["--expose-gc", "--import", "tsx", join(repoRoot, file), ...args],
    {
      name,
      env,
      onStdoutLine: (line) => {
        try {
          const o = JSON.parse(line) as Record<string, unknown>;
          if ("ready" in o) ready(o);
          if ("stats" in o) stats.last = o.stats as Record<string, unknown>;
        } catch {
          /* not a JSON line */
        }
      },
    },
  );
  const r = await Promise.race([
    got,
    proc.exited.then((c) => ({ ready: false, reason: `exited ${c}: ${proc.output().slice(-300)}` })),
    new Promise<Record<string, unknown>>((r) =>
      setTimeout(() => r({ ready: false, reason: "no ready line in 60 s" }), 60_000).unref(),
    ),
  ]);
  return { proc, ready: r.ready === true, reason: String(r.reason ?? ""), stats };
}

/** Checks the policy target: a DROP and a DELETE without WHERE refused (1227), an email masked. */
async function checkPolicy(t: MysqlTarget): Promise<string | undefined> {
  const cli = (sql: string) =>
    runOk(
      "mysql",
      ["-h127.0.0.1", `-P${t.port}`, `-u${t.user}`, "--skip-ssl", "--batch", "-N", t.db, "-e", sql],
      {
        timeoutMs: 20_000,
        env: { MYSQL_PWD: t.password },
      },
    ).then(
      (r) => r.stdout.replace(/^WARNING:.*$/gm, "").trim(),
      (e: Error) => `ERR ${e.message.split("\n").slice(1).join(" ")}`,
    );
  const drop = await cli("DROP TABLE IF EXISTS payroll");
  if (!drop.includes("ERROR 1227")) return `DROP was not refused (${drop.slice(0, 200)})`;
  const del = await cli("DELETE FROM payroll");
  if (!del.includes("ERROR 1227")) return `DELETE without WHERE was not refused (${del.slice(0, 200)})`;
  const mail = await cli("SELECT 'write to ada@example.com'");
  if (mail !== "write to [email]") return `an email came back as ${JSON.stringify(mail)}`;
  return undefined;
}

async function startTargets(unavailable: Map<string, string>) {
  const targets: MysqlTarget[] = [
    {
      name: "direct",
      port: 3306,
      user: USER,
      password: PASSWORD,
      db: DB,
      clearPassword: false,
      detail: "MariaDB on 127.0.0.1:3306 (mysql_native_password)",
    },
  ];
  const procs = new Map<string, Awaited<ReturnType<typeof startNode>>>();
  if (cfg.targets.includes("node-pipe")) {
    const port = await freePort();
    const np = await startNode(
      "node-pipe",
      "bench/lib/byte-pipe.ts",
      ["--port", String(port), "--upstream-port", "3306"],
      {},
    );
    if (np.ready)
      targets.push({
        ...targets[0]!,
        name: "node-pipe",
        port,
        pid: np.proc.pid,
        detail: `bare Node net pipe (bench/lib/byte-pipe.ts), ${process.version}`,
      });
    else unavailable.set("node-pipe", np.reason);
  }
  const token = `bench-${randomBytes(16).toString("hex")}`;
  for (const [name, policy] of [
    ["sluice-native", "none"],
    ["sluice-policy", "guard-mask"],
  ] as const) {
    if (!cfg.targets.includes(name)) continue;
    const port = await freePort();
    const spoolDir = mkdtempSync("/tmp/sluice-bench-mysql-spool-");
    registerTemp(spoolDir);
    const np = await startNode(
      name,
      "bench/lib/sluice-mysql-server.ts",
      [
        "--port",
        String(port),
        "--upstream-port",
        "3306",
        "--upstream-user",
        USER,
        "--upstream-db",
        DB,
        "--spool-dir",
        spoolDir,
        "--policy",
        policy,
      ],
      { BENCH_TOKEN: token, BENCH_MYSQL_PASSWORD: PASSWORD },
    );
    if (!np.ready) {
      unavailable.set(name, np.reason);
      continue;
    }
    procs.set(name, np);
    const t: MysqlTarget = {
      name,
      port,
      user: "bench",
      password: token,
      db: "bench-mysql",
      clearPassword: true,
      pid: np.proc.pid,
      detail: `agent createMysqlHandler behind createSessionBroker (stub authorizer, token as mysql_clear_password over loopback plaintext), recording through createSpool in a temp dir (fsync'd, not uploaded), recordRowsLimit 100${policy === "none" ? "" : `; policy: ${mysqlPolicyDetail}`}`,
    };
    const why = policy === "none" ? undefined : await checkPolicy(t);
    if (why) unavailable.set(name, `policy check failed: ${why}`);
    else targets.push(t);
  }
  return { targets, procs };
}

function workloadArgs(w: string): string[] {
  const d = String(cfg.duration);
  const [mode, c] = w.split("-");
  if (w === "select-1m") return ["--stream", "SELECT id, k, payload FROM big"];
  return [
    "--mode",
    mode === "exec" ? "execute" : "query",
    "--concurrency",
    c === "c8" ? "8" : "1",
    "--duration",
    d,
    "--ids",
    String(cfg.bigRows),
  ];
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const load0 = loadavg();
  log(`sluice mysql-bench: ${JSON.stringify(cfg)}`);
  const version = await setupDatabase();
  const unavailable = new Map<string, string>();
  const { targets, procs } = await startTargets(unavailable);
  for (const [n, why] of unavailable) log(`${n}: unavailable (${why})`);
  const records: MysqlRecord[] = [];
  const inRounds = cfg.workloads.filter((w) => w !== "stream");
  for (let round = 0; round < cfg.rounds; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length] as MysqlTarget);
    for (const w of inRounds) {
      for (const t of order) {
        const sample = await runLoad(t, workloadArgs(w), (cfg.duration + 120) * 1000);
        records.push({ workload: w, target: t.name, round, sample });
        const shown =
          w === "select-1m"
            ? `${fmt(sample.value)} ms`
            : `${fmt(sample.value)} tx/s p50 ${fmt(sample.p50Us ?? Number.NaN)} µs`;
        log(
          `round ${round + 1}/${cfg.rounds} ${w.padEnd(9)} ${t.name.padEnd(14)} ${sample.error ? `error: ${sample.error}` : shown}`,
        );
      }
    }
  }
  const streams = new Map<string, LoadSample>();
  if (cfg.workloads.includes("stream")) {
    for (const t of targets) {
      log(`stream: ${fmt(cfg.streamRows)} rows through ${t.name}`);
      streams.set(
        t.name,
        await runLoad(t, ["--stream", `SELECT seq, md5(seq) FROM seq_1_to_${cfg.streamRows}`], 900_000),
      );
      log(
        `  ${fmt((streams.get(t.name)?.ms ?? Number.NaN) / 1000, 1)} s, peak RSS ${fmt((streams.get(t.name)?.peakRssKiB ?? Number.NaN) / 1024, 1)} MiB`,
      );
    }
  }
  for (const np of procs.values()) process.kill(np.proc.pid, "SIGUSR2");
  await new Promise((r) => setTimeout(r, 500));
  const markdown = buildMysqlReport({
    cfg,
    commandLine,
    quick,
    note: argv.note,
    version,
    targets,
    unavailable,
    records,
    streams,
    stats: new Map([...procs].map(([n, np]) => [n, np.stats.last])),
    startedAt,
    load0,
    load1: loadavg(),
    machine: `${cpus().length} CPU(s) (${cpus()[0]?.model.trim() ?? "unknown"}), ${fmt(totalmem() / 2 ** 30, 1)} GiB RAM, Node ${process.version}`,
  });
  process.stdout.write(markdown);
  if (!argv["no-write"]) {
    writeResultsSection(join(repoRoot, "bench/RESULTS.md"), "mysql", markdown);
    log("wrote the mysql section of bench/RESULTS.md");
  }
}

try {
  await main();
} finally {
  log("cleaning up: stopping proxies, dropping the bench database and user");
  await cleanup();
}
