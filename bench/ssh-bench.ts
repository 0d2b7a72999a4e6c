/**
 * SSH data-path benchmark: OpenSSH straight to sshd vs through the Sluice agent's SSH
 * listener (apps/agent/src/ssh) with recording off and on. Bulk download and upload,
 * interactive echo latency and login time, cipher pinned to aes128-gcm@openssh.com on
 * every leg, several interleaved rounds, medians. See bench/README.md.
 *
 *   pnpm exec tsx bench/ssh-bench.ts [--rounds 3] [--bytes 1073741824] [--logins 10]
 *     [--keystrokes 200] [--quick] [--note "text"] [--no-write] [--profile DIR]
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startSshd } from "../packages/testkit/src/sshd";
import {
  cleanup,
  cpuSeconds,
  freePort,
  installCleanupHandlers,
  type Managed,
  registerFinalizer,
  registerTemp,
  repoRoot,
  startProcess,
  waitFor,
} from "./lib/proc";
import { writeResultsSection } from "./lib/results-file";
import { fmt, median, range, ratio, table } from "./lib/stats";

const CIPHER = "aes128-gcm@openssh.com";
/** ssh2 has no post-quantum key exchange; pinning one both sides support keeps logins comparable. */
const KEX = "curve25519-sha256";
const signed = (x: number) => `${x >= 0 ? "+" : ""}${fmt(x)}`;
const USER = "sluicebench";

const { values: argv } = parseArgs({
  options: {
    rounds: { type: "string" },
    bytes: { type: "string" },
    logins: { type: "string" },
    keystrokes: { type: "string" },
    profile: { type: "string" },
    quick: { type: "boolean", default: false },
    note: { type: "string" },
    "no-write": { type: "boolean", default: false },
  },
});
const quick = argv.quick === true;
const rounds = Number(argv.rounds ?? (quick ? 1 : 3));
const bytes = Number(argv.bytes ?? (quick ? 256 * 1024 * 1024 : 1024 * 1024 * 1024));
const logins = Number(argv.logins ?? (quick ? 3 : 10));
const keystrokes = Number(argv.keystrokes ?? (quick ? 50 : 200));
const log = (s: string) => process.stderr.write(`${s}\n`);

interface Target {
  name: "direct" | "sluice" | "sluice-recorded";
  port: number;
  user: string;
  proc?: Managed;
}

interface Row {
  download: number[];
  upload: number[];
  downloadCpu: number[];
  uploadCpu: number[];
  cpuPerGiB: number[];
  busy: number[];
  login: number[];
  echoP50: number[];
  echoP99: number[];
}

function sshArgs(t: Target, dir: string): string[] {
  return [
    ...[
      "-F",
      "/dev/null",
      "-o",
      `UserKnownHostsFile=${join(dir, "known_hosts")}`,
      "-o",
      "StrictHostKeyChecking=yes",
    ],
    ...[
      "-o",
      "IdentitiesOnly=yes",
      "-i",
      join(dir, "client_key"),
      "-o",
      "BatchMode=yes",
      "-o",
      "Compression=no",
    ],
    ...[
      "-c",
      CIPHER,
      "-o",
      `KexAlgorithms=${KEX}`,
      "-o",
      "LogLevel=ERROR",
      "-p",
      String(t.port),
      `${t.user}@127.0.0.1`,
    ],
  ];
}

/** Runs a shell pipeline, returning wall seconds; fails on a non-zero exit. */
function timed(script: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn("sh", ["-c", script], { stdio: ["ignore", openSync("/dev/null", "w"), "pipe"] });
    let err = "";
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.once("exit", (code) =>
      code === 0
        ? resolve(Number(process.hrtime.bigint() - t0) / 1e9)
        : reject(new Error(`${script}: exit ${code}\n${err.slice(-1000)}`)),
    );
  });
}

const q = (args: string[]) => args.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");

/** Busy and total jiffies of the whole machine, from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const f = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

async function transfer(t: Target, dir: string, direction: "download" | "upload") {
  const cpu0 = t.proc ? cpuSeconds(t.proc.pid) : 0;
  const box0 = machineTicks();
  const ssh = q(["ssh", ...sshArgs(t, dir)]);
  const seconds =
    direction === "download"
      ? await timed(`${ssh} 'head -c ${bytes} /dev/zero' > /dev/null`)
      : await timed(`head -c ${bytes} /dev/zero | ${ssh} 'cat > /dev/null'`);
  const cpu = t.proc ? cpuSeconds(t.proc.pid) - cpu0 : Number.NaN;
  const box1 = machineTicks();
  return {
    mbps: bytes / 1024 / 1024 / seconds,
    cpuPct: (cpu / seconds) * 100,
    cpuPerGiB: cpu / (bytes / 1024 ** 3),
    busyPct: (100 * (box1.busy - box0.busy)) / Math.max(1, box1.total - box0.total),
  };
}

async function loginMs(t: Target, dir: string): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < logins; i++)
    samples.push((await timed(`${q(["ssh", ...sshArgs(t, dir)])} true`)) * 1000);
  return median(samples);
}

/** Types one character at a time into `cat` on a remote pty and times each echo. */
function echoLatency(t: Target, dir: string): Promise<{ p50: number; p99: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn("ssh", ["-tt", ...sshArgs(t, dir), "stty -echoctl; exec cat"], { stdio: "pipe" });
    const samples: number[] = [];
    let pending: { t0: bigint; ch: string } | undefined;
    let ready = false;
    let seen = "";
    const next = () => {
      if (samples.length >= keystrokes) {
        // Ctrl-D at the start of a line ends cat, the remote shell, then ssh.
        child.stdin.end("\r\x04");
        const sorted = [...samples].sort((a, b) => a - b);
        resolve({ p50: median(samples), p99: sorted[Math.floor(sorted.length * 0.99)] ?? Number.NaN });
        return;
      }
      const ch = String.fromCharCode(97 + (samples.length % 26));
      pending = { t0: process.hrtime.bigint(), ch };
      child.stdin.write(samples.length % 60 === 59 ? "\r" : ch);
      if (samples.length % 60 === 59) pending.ch = "\n";
    };
    child.stdout.on("data", (d: Buffer) => {
      const s = d.toString("latin1");
      if (!ready) {
        seen += s;
        if (seen.includes("ready")) {
          ready = true;
          setTimeout(next, 200);
        }
        return;
      }
      if (pending && s.includes(pending.ch)) {
        samples.push(Number(process.hrtime.bigint() - pending.t0) / 1e3);
        pending = undefined;
        setImmediate(next);
      }
    });
    child.once("exit", (code) => {
      if (samples.length < keystrokes) reject(new Error(`echo test: ssh exited ${code}`));
    });
    // The pty echoes what it is sent; wait until the line discipline is live.
    const poke = setInterval(() => (ready ? clearInterval(poke) : child.stdin.write("ready\r")), 300);
  });
}

async function startAgent(dir: string, sshdPort: number, spool: boolean, env: NodeJS.ProcessEnv) {
  const port = await freePort();
  const stateDir = join(dir, spool ? "agent-rec" : "agent");
  mkdirSync(stateDir, { recursive: true });
  let ready: Record<string, unknown> | undefined;
  const proc = startProcess(
    process.execPath,
    [
      // --profile DIR: a V8 CPU profile of each agent process (figures from such a run are not comparable)
      ...(argv.profile
        ? ["--cpu-prof", `--cpu-prof-dir=${join(argv.profile, spool ? "sluice-recorded" : "sluice")}`]
        : []),
      ...["--import", "tsx", join(repoRoot, "bench/lib/sluice-ssh-server.ts")],
      ...["--port", String(port), "--target-port", String(sshdPort), "--target-user", USER],
      ...["--state-dir", stateDir, ...(spool ? ["--spool-dir", join(stateDir, "spool")] : [])],
    ],
    {
      name: spool ? "sluice-recorded" : "sluice",
      env,
      onStdoutLine: (line) => {
        try {
          const o = JSON.parse(line) as Record<string, unknown>;
          if ("ready" in o) ready = o;
        } catch {
          /* not a status line */
        }
      },
    },
  );
  await waitFor("the agent's SSH listener", 30_000, async () => ready !== undefined);
  if (ready?.ready !== true)
    throw new Error(`agent SSH listener failed: ${String(ready?.reason)}\n${proc.output()}`);
  return { port, proc, info: ready };
}

async function main(): Promise<void> {
  installCleanupHandlers(log);
  const startedAt = new Date();
  const load0 = loadavg();
  const dir = mkdtempSync("/tmp/sluice-bench-ssh-");
  registerTemp(dir);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "client_key")]);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "upstream_key")]);
  const clientPub = readFileSync(join(dir, "client_key.pub"), "utf8").trim();
  const sshd = await startSshd({
    // A password only unlocks the account (sshd refuses locked accounts without PAM); keys log in.
    users: [
      {
        name: USER,
        password: randomBytes(18).toString("base64url"),
        authorizedKeys: [clientPub, readFileSync(join(dir, "upstream_key.pub"), "utf8").trim()],
      },
    ],
    config: [`Ciphers ${CIPHER}`, `KexAlgorithms ${KEX}`, "Compression no", "MaxStartups 100", "UseDNS no"],
  });
  registerFinalizer(() => sshd.stop());
  const sshdVersion = spawnSync("ssh", ["-V"], { encoding: "utf8" }).stderr.trim() || "OpenSSH";
  const env = {
    BENCH_CLIENT_PUBLIC_KEY: clientPub,
    BENCH_TARGET_KEY: readFileSync(join(dir, "upstream_key"), "utf8"),
    BENCH_TARGET_HOSTKEY: sshd.hostKeyFingerprint,
  };
  const plain = await startAgent(dir, sshd.port, false, env);
  const recorded = await startAgent(dir, sshd.port, true, env);
  writeFileSync(
    join(dir, "known_hosts"),
    [
      `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}`,
      `[127.0.0.1]:${plain.port} ${String(plain.info.hostKey)}`,
      `[127.0.0.1]:${recorded.port} ${String(recorded.info.hostKey)}`,
    ].join("\n"),
  );
  const targets: Target[] = [
    { name: "direct", port: sshd.port, user: USER },
    { name: "sluice", port: plain.port, user: "bench-web", proc: plain.proc },
    { name: "sluice-recorded", port: recorded.port, user: "bench-web", proc: recorded.proc },
  ];
  const rows = new Map<string, Row>(
    targets.map((t) => [
      t.name,
      {
        download: [],
        upload: [],
        downloadCpu: [],
        uploadCpu: [],
        cpuPerGiB: [],
        busy: [],
        login: [],
        echoP50: [],
        echoP99: [],
      },
    ]),
  );
  log(`ssh bench: ${rounds} round(s), ${fmt(bytes / 1024 / 1024)} MiB each way, cipher ${CIPHER}`);
  for (let r = 0; r < rounds; r++) {
    const order = targets.map((_, i) => targets[(i + r) % targets.length] as Target);
    for (const t of order) {
      const row = rows.get(t.name) as Row;
      const down = await transfer(t, dir, "download");
      const up = await transfer(t, dir, "upload");
      row.download.push(down.mbps);
      row.downloadCpu.push(down.cpuPct);
      row.upload.push(up.mbps);
      row.uploadCpu.push(up.cpuPct);
      row.cpuPerGiB.push(down.cpuPerGiB, up.cpuPerGiB);
      row.busy.push(down.busyPct, up.busyPct);
      row.login.push(await loginMs(t, dir));
      const echo = await echoLatency(t, dir);
      row.echoP50.push(echo.p50);
      row.echoP99.push(echo.p99);
      log(
        `round ${r + 1} ${t.name}: down ${fmt(down.mbps)} MiB/s, up ${fmt(up.mbps)} MiB/s, login ${fmt(row.login.at(-1) ?? 0)} ms, echo p50 ${fmt(echo.p50)} µs`,
      );
    }
  }
  const load1 = loadavg();
  const report = render({ rows, startedAt, load0, load1, crypto: plain.info.crypto, sshdVersion });
  process.stdout.write(report);
  if (!argv["no-write"]) {
    writeResultsSection(join(repoRoot, "bench/RESULTS.md"), "ssh", report);
    log("wrote the ssh section of bench/RESULTS.md");
  }
}

function render(o: {
  rows: Map<string, Row>;
  startedAt: Date;
  load0: number[];
  load1: number[];
  crypto: unknown;
  sshdVersion: string;
}): string {
  const direct = o.rows.get("direct") as Row;
  const d = (xs: number[]) => median(xs);
  const throughput = [...o.rows].map(([name, r]) => [
    name,
    fmt(d(r.download)),
    range(r.download),
    ratio(d(r.download) / d(direct.download)),
    fmt(d(r.upload)),
    range(r.upload),
    ratio(d(r.upload) / d(direct.upload)),
    name === "direct" ? "–" : `${fmt(d(r.downloadCpu))} / ${fmt(d(r.uploadCpu))}`,
    name === "direct" ? "–" : fmt(d(r.cpuPerGiB), 1),
    fmt(d(r.busy)),
  ]);
  const interactive = [...o.rows].map(([name, r]) => [
    name,
    fmt(d(r.login)),
    ratio(d(r.login) / d(direct.login)),
    fmt(d(r.echoP50)),
    fmt(d(r.echoP99)),
    name === "direct" ? "–" : signed(d(r.echoP50) - d(direct.echoP50)),
  ]);
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`);
  const cmd = `pnpm exec tsx bench/ssh-bench.ts ${process.argv.slice(2).map(quote).join(" ")}`.trim();
  return `# Benchmark results: SSH data path

- Date: ${o.startedAt.toISOString()}
- Command: \`${cmd}\`
- Machine: ${cpus().length} CPU(s) (${cpus()[0]?.model.split(" ").slice(0, 2).join(" ") ?? "?"}), ${fmt(totalmem() / 1024 ** 3, 1)} GiB RAM, Node ${process.version}; ${o.sshdVersion}
- Load average (1/5/15 min) at start: ${o.load0.map((x) => x.toFixed(2)).join(" / ")}, at end: ${o.load1.map((x) => x.toFixed(2)).join(" / ")}. Client, agent and sshd share the same 2 cores; this is a shared development box.${argv.note ? ` ${argv.note}` : ""}
- Cipher: \`${CIPHER}\` on every leg (client \`-c\`, sshd \`Ciphers\`), key exchange \`${KEX}\` likewise (ssh2 has no post-quantum one, OpenSSH's default), no compression. ssh2 crypto in the agent process: \`${JSON.stringify(o.crypto)}\`
- Transfers: ${fmt(bytes / 1024 / 1024)} MiB each way per run as an exec channel (\`ssh host 'head -c N /dev/zero' > /dev/null\`, \`head -c N /dev/zero | ssh host 'cat > /dev/null'\`), ${rounds} interleaved round(s), targets in rotating order; medians (range).

## Targets

- **direct**: OpenSSH client → sshd on 127.0.0.1.
- **sluice**: OpenSSH client → the agent's SSH listener (\`bench/lib/sluice-ssh-server.ts\` runs apps/agent \`createSshService\`: publickey login, ssh2 server ↔ ssh2 client bridge, guardrail hook, recorder) → sshd, recording off (events dropped).
- **sluice-recorded**: the same, every session event through the agent's durable spool (\`createSpool\`, fsync'd, not uploaded). Exec and sftp channels record metadata and byte counts; pty channels record the terminal data.

## Bulk transfer (MiB/s)

${table(
  [
    "target",
    "download",
    "range",
    "vs direct",
    "upload",
    "range",
    "vs direct",
    "agent CPU % down / up",
    "agent CPU s/GiB",
    "machine busy %",
  ],
  throughput,
)}

Machine busy %: both cores, all processes (other users' too), from /proc/stat over each transfer. Near 100 % a transfer is CPU-bound on the machine as a whole, and every CPU-second the agent spends (socket I/O on two loopback TCP hops, AES-GCM in ssh2's native binding, ssh2's per-packet work) is taken from sshd and the client.

## Interactive

Login: wall time of \`ssh host true\` (median of ${logins} per round). Echo: one key at a time into \`cat\` on a remote pty, time until its echo arrives (${keystrokes} keys per round).

${table(["target", "login ms", "vs direct", "echo p50 µs", "echo p99 µs", "added p50 µs"], interactive)}
`;
}

main()
  .catch((e: unknown) => {
    log(`ssh bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
