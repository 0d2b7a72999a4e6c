/**
 * Process plumbing of the HTTP bench: starts a server entry point in its own node process
 * (waiting for its JSON ready line), and runs one http-load.ts process against a target,
 * reading the target process's CPU (/proc/<pid>/stat) at the load's "measure" and "done"
 * marks.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { cpuSeconds, type Managed, repoRoot, startProcess } from "./proc";

export interface HttpTarget {
  name: string;
  url: string;
  /** The Authorization bearer the load sends. */
  token: string;
  /** The process whose CPU is measured (the proxy; for direct, the upstream). */
  pid?: number;
  detail: string;
}

export interface HttpSample {
  rps: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  cpuPct: number;
  cpuUsPerReq: number;
  loadCpuPct: number;
  /** Non-2xx responses, socket errors and timeouts (a few at the end of a run are autocannon closing). */
  failures: number;
  error?: string;
}

export interface Started {
  proc: Managed;
  ready: boolean;
  reason: string;
  info: Record<string, unknown>;
  stats: { last?: Record<string, unknown> };
}

/** Starts a TypeScript entry point with tsx and waits (60 s at most) for its JSON ready line. */
export async function startNode(
  name: string,
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  nodeFlags: string[] = [],
): Promise<Started> {
  let ready: (o: Record<string, unknown>) => void = () => undefined;
  const got = new Promise<Record<string, unknown>>((r) => {
    ready = r;
  });
  const stats: Started["stats"] = {};
  const proc = startProcess(
    process.execPath,
    [...nodeFlags, "--import", "tsx", join(repoRoot, file), ...args],
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
    new Promise<Record<string, unknown>>((res) =>
      setTimeout(() => res({ ready: false, reason: "no ready line in 60 s" }), 60_000).unref(),
    ),
  ]);
  return { proc, ready: r.ready === true, reason: String(r.reason ?? ""), info: r, stats };
}

/** One autocannon run (warm-up, then `duration` s measured) against a target. */
export function runLoad(
  t: HttpTarget,
  connections: number,
  duration: number,
  warmup: number,
): Promise<HttpSample> {
  const empty = { rps: Number.NaN, requests: 0, p50Ms: Number.NaN, p99Ms: Number.NaN, cpuPct: Number.NaN };
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        join(repoRoot, "bench/lib/http-load.ts"),
        "--url",
        t.url,
        "--connections",
        String(connections),
        "--duration",
        String(duration),
        "--warmup",
        String(warmup),
      ],
      {
        cwd: repoRoot,
        env: { ...process.env, BENCH_LOAD_TOKEN: t.token },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const loadPid = child.pid ?? 0;
    let marks: { cpu: number; load: number; at: bigint }[] = [];
    let result: Record<string, number> | undefined;
    let error: string | undefined;
    let buf = "";
    let stderr = "";
    const timer = setTimeout(
      () => {
        error = "timed out";
        child.kill("SIGKILL");
      },
      (duration + warmup + 90) * 1000,
    );
    const mark = () => ({
      cpu: t.pid ? cpuSeconds(t.pid) : Number.NaN,
      load: cpuSeconds(loadPid),
      at: process.hrtime.bigint(),
    });
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      if (stderr.length < 4000) stderr += s;
    });
    child.stdout.setEncoding("utf8").on("data", (s: string) => {
      buf += s;
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let o: Record<string, unknown>;
        try {
          o = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if (o.phase === "measure") marks = [mark()];
        else if (o.phase === "done") marks.push(mark());
        else if (o.result) result = o.result as Record<string, number>;
        else if (o.error) error = String(o.error);
      }
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      const [m0, m1] = marks;
      if (!result || !m0 || !m1) {
        resolve({
          ...empty,
          cpuUsPerReq: Number.NaN,
          loadCpuPct: Number.NaN,
          failures: 0,
          error: error ?? `load exited ${code}: ${stderr.slice(-300)}`,
        });
        return;
      }
      const wall = Number(m1.at - m0.at) / 1e9;
      const requests = result.requests ?? 0;
      const failures = (result.non2xx ?? 0) + (result.errors ?? 0) + (result.timeouts ?? 0);
      resolve({
        rps: result.rps ?? Number.NaN,
        requests,
        p50Ms: result.p50Ms ?? Number.NaN,
        p99Ms: result.p99Ms ?? Number.NaN,
        cpuPct: ((m1.cpu - m0.cpu) / wall) * 100,
        cpuUsPerReq: ((m1.cpu - m0.cpu) / requests) * 1e6,
        loadCpuPct: ((m1.load - m0.load) / wall) * 100,
        failures,
        ...(error ? { error } : failures > requests / 1000 ? { error: `${failures} failed request(s)` } : {}),
      });
    });
  });
}
