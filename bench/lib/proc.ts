import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export interface RunAs {
  uid: number;
  gid: number;
  home: string;
}

/** The unprivileged OS user that owns the cluster and runs PgBouncer. */
export function osUser(name: string): RunAs {
  const uid = Number(execFileSync("id", ["-u", name], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", name], { encoding: "utf8" }).trim());
  return { uid, gid, home: "/tmp" };
}

export interface Managed {
  name: string;
  child: ChildProcess;
  pid: number;
  stopSignal: NodeJS.Signals;
  output: () => string;
  exited: Promise<number | null>;
}

const managed: Managed[] = [];
const tempPaths: string[] = [];
const finalizers: (() => Promise<void> | void)[] = [];

export function registerTemp(path: string): void {
  tempPaths.push(path);
}

export function registerFinalizer(fn: () => Promise<void> | void): void {
  finalizers.push(fn);
}

function tail(buf: string[], max = 64 * 1024): () => string {
  return () => {
    const s = buf.join("");
    return s.length > max ? s.slice(s.length - max) : s;
  };
}

export interface StartOptions {
  name: string;
  env?: NodeJS.ProcessEnv;
  runAs?: RunAs;
  cwd?: string;
  stopSignal?: NodeJS.Signals;
  onStdoutLine?: (line: string) => void;
}

/** Starts a long-running process that cleanup() stops. */
export function startProcess(cmd: string, args: string[], opts: StartOptions): Managed {
  const child = spawn(cmd, args, {
    cwd: opts.cwd ?? repoRoot,
    env: { ...process.env, ...opts.env, ...(opts.runAs ? { HOME: opts.runAs.home } : {}) },
    stdio: ["ignore", "pipe", "pipe"],
    ...(opts.runAs ? { uid: opts.runAs.uid, gid: opts.runAs.gid } : {}),
  });
  if (child.pid === undefined) throw new Error(`${opts.name}: could not start ${cmd}`);
  const chunks: string[] = [];
  let lineBuf = "";
  const keep = (s: string) => {
    chunks.push(s);
    if (chunks.length > 256) chunks.splice(0, chunks.length - 256);
  };
  child.stdout?.setEncoding("utf8").on("data", (s: string) => {
    keep(s);
    if (!opts.onStdoutLine) return;
    lineBuf += s;
    let i = lineBuf.indexOf("\n");
    while (i >= 0) {
      opts.onStdoutLine(lineBuf.slice(0, i));
      lineBuf = lineBuf.slice(i + 1);
      i = lineBuf.indexOf("\n");
    }
  });
  child.stderr?.setEncoding("utf8").on("data", keep);
  const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
  const m: Managed = {
    name: opts.name,
    child,
    pid: child.pid,
    stopSignal: opts.stopSignal ?? "SIGTERM",
    output: tail(chunks),
    exited,
  };
  managed.push(m);
  return m;
}

export async function stopProcess(m: Managed, graceMs = 8000): Promise<void> {
  const i = managed.indexOf(m);
  if (i >= 0) managed.splice(i, 1);
  if (m.child.exitCode !== null || m.child.signalCode !== null) return;
  try {
    process.kill(m.pid, m.stopSignal);
  } catch {
    return;
  }
  const done = await Promise.race([m.exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!done) {
    try {
      process.kill(m.pid, "SIGKILL");
    } catch {
      /* already gone */
    }
    await Promise.race([m.exited, sleep(2000)]);
  }
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

/** Runs a command to completion, killed after timeoutMs. */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; runAs?: RunAs; timeoutMs: number; input?: string },
): Promise<RunResult> {
  return new Promise((resolveRun, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, {
      cwd: repoRoot,
      env: { ...process.env, ...opts.env, ...(opts.runAs ? { HOME: opts.runAs.home } : {}) },
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      ...(opts.runAs ? { uid: opts.runAs.uid, gid: opts.runAs.gid } : {}),
    });
    const out: string[] = [];
    const err: string[] = [];
    let timedOut = false;
    child.stdout?.setEncoding("utf8").on("data", (s: string) => {
      if (out.length < 4096) out.push(s);
    });
    child.stderr?.setEncoding("utf8").on("data", (s: string) => {
      if (err.length < 4096) err.push(s);
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      resolveRun({ code, stdout: out.join(""), stderr: err.join(""), ms, timedOut });
    });
  });
}

export async function runOk(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; runAs?: RunAs; timeoutMs: number; input?: string },
): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    const why = r.timedOut ? `timed out after ${opts.timeoutMs} ms` : `exit ${r.code}`;
    throw new Error(`${cmd} ${args.join(" ")}: ${why}\n${r.stderr.slice(-2000)}`);
  }
  return r;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => res(port));
    });
  });
}

/** Polls until check() is true; throws after timeoutMs. */
export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Resident set size of a process in KiB (VmRSS), or NaN when it is gone. */
export function rssKiB(pid: number): number {
  return statusField(pid, "VmRSS");
}

/** Peak resident set size in KiB (VmHWM) since start or since resetPeakRss(). */
export function peakRssKiB(pid: number): number {
  return statusField(pid, "VmHWM");
}

function statusField(pid: number, field: string): number {
  try {
    const s = readFileSync(`/proc/${pid}/status`, "utf8");
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(s);
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0). Returns false when not permitted. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

const clkTck = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds consumed so far by a process. */
export function cpuSeconds(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[11]) + Number(rest[12])) / clkTck;
  } catch {
    return Number.NaN;
  }
}

let cleaning: Promise<void> | undefined;

/** Stops everything started through this module and removes temp dirs. Idempotent. */
export function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const m of [...managed].reverse()) await stopProcess(m);
    for (const f of finalizers.reverse()) {
      try {
        await f();
      } catch {
        /* best effort */
      }
    }
    for (const p of tempPaths) rmSync(p, { recursive: true, force: true });
  })();
  return cleaning;
}

export function installCleanupHandlers(log: (s: string) => void): void {
  let signalled = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    log(`\n${sig}: stopping benchmark processes...`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("uncaughtException", (e) => {
    log(`fatal: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    void cleanup().finally(() => process.exit(1));
  });
  process.on("unhandledRejection", (e) => {
    log(`fatal: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    void cleanup().finally(() => process.exit(1));
  });
}
