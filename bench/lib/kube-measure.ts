/**
 * What the Kubernetes bench measures against one target, from the bench process:
 * - `requestLatency`: N sequential GETs over one keep-alive TLS connection (undici Pool,
 *   the agent's own undici, 1 connection), each timed from request to the body's end;
 * - `kubectlWall`: the wall time of one `kubectl get pods` (kubectl's start-up included);
 * - `execStream`: `kubectl exec … -- head -c N /dev/zero`, kubectl's stdout counted here.
 * Each reads the agent process's CPU (/proc/<pid>/stat) around the measured part.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { KubeTarget } from "./kube-stack";
import { KUBECTL } from "./kube-stack";
import { cpuSeconds, peakRssKiB, repoRoot, resetPeakRss, rssKiB } from "./proc";

interface PoolLike {
  request(opts: {
    path: string;
    method: "GET";
    headers: Record<string, string>;
  }): Promise<{ statusCode: number; body: AsyncIterable<Buffer> & { text(): Promise<string> } }>;
  close(): Promise<void>;
}
const { Pool } = createRequire(join(repoRoot, "apps/agent/package.json"))("undici") as {
  Pool: new (origin: string, opts: Record<string, unknown>) => PoolLike;
};

export interface LatencySample {
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  bytes: number;
  /** Agent CPU per request (NaN for direct). */
  agentCpuUsPerReq: number;
  error?: string;
}

function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

function pool(t: KubeTarget): PoolLike {
  return new Pool(new URL(t.base).origin, {
    connections: 1,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    connect: { ca: t.caPem },
  });
}

/** One GET of `path` (the connection's prefix added), read to its end; returns the body size. */
async function get(p: PoolLike, t: KubeTarget, path: string): Promise<number> {
  const prefix = new URL(t.base).pathname.replace(/\/$/, "");
  const res = await p.request({
    path: `${prefix}${path}`,
    method: "GET",
    headers: { authorization: `Bearer ${t.token}`, accept: "application/json" },
  });
  let size = 0;
  for await (const chunk of res.body) size += chunk.length;
  if (res.statusCode !== 200) throw new Error(`GET ${path} answered ${res.statusCode}`);
  return size;
}

function summary(lat: Float64Array, bytes: number, cpuSeconds: number): LatencySample {
  const n = lat.length;
  const mean = lat.reduce((s, x) => s + x, 0) / n;
  lat.sort();
  return {
    p50Ms: quantile(lat, 0.5),
    p99Ms: quantile(lat, 0.99),
    meanMs: mean,
    bytes,
    agentCpuUsPerReq: (cpuSeconds / n) * 1e6,
  };
}

function failed(bytes: number, e: unknown): LatencySample {
  const nan = Number.NaN;
  return { p50Ms: nan, p99Ms: nan, meanMs: nan, bytes, agentCpuUsPerReq: nan, error: (e as Error).message };
}

/**
 * `n` timed GETs of `path` after `warmup` untimed ones, all on one keep-alive connection;
 * with `fresh`, every timed GET opens its own connection (TCP, TLS and, through Sluice, a new
 * session the control plane authorizes) and closes it after.
 */
export async function requestLatency(
  t: KubeTarget,
  path: string,
  n: number,
  warmup: number,
  agentPid: number | undefined,
  fresh = false,
): Promise<LatencySample> {
  const lat = new Float64Array(n);
  let bytes = 0;
  const shared = pool(t);
  try {
    for (let i = 0; i < warmup; i++) await get(shared, t, path);
    const cpu0 = agentPid ? cpuSeconds(agentPid) : Number.NaN;
    for (let i = 0; i < n; i++) {
      const p = fresh ? pool(t) : shared;
      const t0 = process.hrtime.bigint();
      bytes = await get(p, t, path);
      lat[i] = Number(process.hrtime.bigint() - t0) / 1e6;
      if (fresh) await p.close();
    }
    const cpu1 = agentPid ? cpuSeconds(agentPid) : Number.NaN;
    return summary(lat, bytes, cpu1 - cpu0);
  } catch (e) {
    return failed(bytes, e);
  } finally {
    await shared.close();
  }
}

interface Spawned {
  code: number | null;
  ms: number;
  stdoutBytes: number;
  stdoutHead: string;
  stderr: string;
}

/** Runs kubectl against a target, counting (not keeping) its stdout beyond the first 4 KiB. */
function kubectl(t: KubeTarget, args: string[], timeoutMs: number): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(KUBECTL, ["--kubeconfig", t.kubeconfig, "--cache-dir", t.cacheDir, ...args], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdoutBytes = 0;
    let stdoutHead = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdoutBytes += c.length;
      if (stdoutHead.length < 4096) stdoutHead += c.toString("utf8", 0, Math.min(c.length, 4096));
    });
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      if (stderr.length < 4096) stderr += s;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      resolve({ code, ms, stdoutBytes, stdoutHead, stderr });
    });
  });
}

/** Wall ms of one `kubectl get pods -n default`, or NaN (with the reason) when it failed. */
export async function kubectlWall(t: KubeTarget): Promise<{ ms: number; error?: string }> {
  const r = await kubectl(t, ["get", "pods", "-n", "default"], 60_000);
  if (r.code !== 0 || !/^web\s/m.test(r.stdoutHead))
    return { ms: Number.NaN, error: `exit ${r.code}: ${r.stderr.slice(-300)}` };
  return { ms: r.ms };
}

export interface StreamSample {
  ms: number;
  bytes: number;
  mibPerS: number;
  agentCpuPct: number;
  agentRssBeforeMiB: number;
  agentPeakRssMiB: number;
  error?: string;
}

/** `kubectl exec web -- head -c <bytes> /dev/zero`: every byte of stdout counted here. */
export async function execStream(
  t: KubeTarget,
  bytes: number,
  agentPid: number | undefined,
): Promise<StreamSample> {
  const rssBefore = agentPid ? rssKiB(agentPid) / 1024 : Number.NaN;
  const peakReset = agentPid ? resetPeakRss(agentPid) : false;
  const cpu0 = agentPid ? cpuSeconds(agentPid) : Number.NaN;
  const r = await kubectl(
    t,
    ["exec", "web", "-n", "default", "--", "head", "-c", String(bytes), "/dev/zero"],
    300_000,
  );
  const cpu1 = agentPid ? cpuSeconds(agentPid) : Number.NaN;
  const peak = agentPid && peakReset ? peakRssKiB(agentPid) / 1024 : Number.NaN;
  const sample = {
    ms: r.ms,
    bytes: r.stdoutBytes,
    mibPerS: r.stdoutBytes / 2 ** 20 / (r.ms / 1000),
    agentCpuPct: ((cpu1 - cpu0) / (r.ms / 1000)) * 100,
    agentRssBeforeMiB: rssBefore,
    agentPeakRssMiB: peak,
  };
  if (r.code !== 0 || r.stdoutBytes !== bytes)
    return {
      ...sample,
      mibPerS: Number.NaN,
      error: `exit ${r.code}, ${r.stdoutBytes} of ${bytes} bytes: ${r.stderr.slice(-300)}`,
    };
  return sample;
}
