import { type ConnParams, pgEnv } from "./cluster";
import { type MiniConn, miniConnect } from "./pg-mini";
import { cpuSeconds, peakRssKiB, resetPeakRss, rssKiB, run, sleep } from "./proc";

export interface Target {
  name: string;
  conn: ConnParams;
  /** The proxy's OS process, measured for CPU and RSS (none for direct). */
  pid?: number;
  detail: string;
  /**
   * A second process on the path, measured apart from the proxy (for sluice-tunnel: the
   * `sluice connect` side, which runs on the user's machine in production).
   */
  clientPid?: number;
  /** Asks the proxy process to collect garbage before a memory reading (Node proxies only). */
  settle?: () => Promise<void>;
}

export interface Sample {
  /** The workload's headline value (TPS, ms, …). */
  value: number;
  /** Proxy CPU as % of one core over the run. */
  cpuPct?: number;
  /** Proxy CPU µs per transaction. */
  cpuUsPerTx?: number;
  /** The same for the target's clientPid, when it has one. */
  clientCpuPct?: number;
  clientCpuUsPerTx?: number;
  error?: string;
  tps?: number;
  latencyMs?: number;
  connMs?: number;
}

function proxyCpu(pid: number | undefined): () => { pct?: number; sec?: number } {
  if (pid === undefined) return () => ({});
  const c0 = cpuSeconds(pid);
  const t0 = Date.now();
  return () => {
    const sec = cpuSeconds(pid) - c0;
    return { pct: (sec / ((Date.now() - t0) / 1000)) * 100, sec };
  };
}

function num(re: RegExp, s: string): number {
  const m = re.exec(s);
  return m ? Number(m[1]) : Number.NaN;
}

export interface PgbenchResult {
  tps: number;
  transactions: number;
  latencyMs: number;
  connMs: number;
}

export async function pgbench(t: Target, args: string[], timeoutMs: number): Promise<PgbenchResult & Sample> {
  const stopCpu = proxyCpu(t.pid);
  const stopClientCpu = proxyCpu(t.clientPid);
  const r = await run("pgbench", ["-n", ...args], { env: pgEnv(t.conn), timeoutMs });
  const cpu = stopCpu();
  const clientCpu = stopClientCpu();
  const out = `${r.stdout}\n${r.stderr}`;
  const res = {
    tps: num(/^tps = ([\d.]+)/m, out),
    transactions: num(/number of transactions actually processed: (\d+)/, out),
    latencyMs: num(/latency average = ([\d.]+) ms/, out),
    connMs: num(/average connection time = ([\d.]+) ms/, out),
  };
  const failed = r.code !== 0 || !Number.isFinite(res.tps);
  return {
    ...res,
    value: failed ? Number.NaN : res.tps,
    cpuPct: cpu.pct,
    cpuUsPerTx:
      cpu.sec !== undefined && res.transactions > 0 ? (cpu.sec * 1e6) / res.transactions : undefined,
    clientCpuPct: clientCpu.pct,
    clientCpuUsPerTx:
      clientCpu.sec !== undefined && res.transactions > 0
        ? (clientCpu.sec * 1e6) / res.transactions
        : undefined,
    error: failed
      ? r.timedOut
        ? "pgbench timed out"
        : lastLine(r.stderr) || `pgbench exit ${r.code}`
      : undefined,
  };
}

function lastLine(s: string): string {
  return (
    s
      .trim()
      .split("\n")
      .filter((l) => !l.startsWith("pgbench (") && l.trim())
      .pop() ?? ""
  );
}

/** Wall time of `psql -c sql` with all output discarded. */
export async function psqlWall(t: Target, sql: string, timeoutMs: number): Promise<Sample & { ms: number }> {
  const stopCpu = proxyCpu(t.pid);
  const stopClientCpu = proxyCpu(t.clientPid);
  const r = await run(
    "psql",
    ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-o", "/dev/null", "-c", sql],
    {
      env: pgEnv(t.conn),
      timeoutMs,
    },
  );
  const cpu = stopCpu();
  const clientCpu = stopClientCpu();
  const ok = r.code === 0;
  return {
    ms: r.ms,
    value: ok ? r.ms : Number.NaN,
    cpuPct: cpu.pct,
    clientCpuPct: clientCpu.pct,
    error: ok ? undefined : r.timedOut ? "psql timed out" : lastLine(r.stderr) || `psql exit ${r.code}`,
  };
}

export async function smokeTest(t: Target): Promise<string | undefined> {
  const r = await run("psql", ["-X", "-A", "-t", "-c", "SELECT count(*) FROM pgbench_branches"], {
    env: pgEnv(t.conn),
    timeoutMs: 20_000,
  });
  if (r.code === 0 && Number(r.stdout.trim()) > 0) return undefined;
  return r.timedOut ? "SELECT timed out" : lastLine(r.stderr) || `psql exit ${r.code}`;
}

export interface IdleResult {
  sessions: number;
  rssBeforeKiB: number;
  rssAfterKiB: number;
  kibPerSession: number;
  openMs: number;
  /** VmRSS growth per session of the target's clientPid, when it has one. */
  clientKibPerSession?: number;
  error?: string;
}

/**
 * Opens `count` authenticated, idle client sessions (batches of `batch` in parallel),
 * waits for the proxy to settle and reads its VmRSS before and after.
 */
export async function idleSessions(
  t: Target,
  count: number,
  batch: number,
  deadlineMs: number,
): Promise<IdleResult> {
  if (t.pid === undefined) throw new Error("idle test needs a proxy process");
  const pid = t.pid;
  const warm = await miniConnect(t.conn);
  await warm.query("SELECT 1");
  warm.close();
  await sleep(1000);
  await t.settle?.();
  const before = rssKiB(pid);
  const clientBefore = t.clientPid !== undefined ? rssKiB(t.clientPid) : Number.NaN;
  const conns: MiniConn[] = [];
  const t0 = Date.now();
  let error: string | undefined;
  try {
    for (let i = 0; i < count && Date.now() - t0 < deadlineMs; i += batch) {
      const n = Math.min(batch, count - i);
      const opened = await Promise.allSettled(Array.from({ length: n }, () => miniConnect(t.conn)));
      for (const o of opened) {
        if (o.status === "fulfilled") conns.push(o.value);
        else error ??= o.reason instanceof Error ? o.reason.message : String(o.reason);
      }
      if (error) break;
    }
    const openMs = Date.now() - t0;
    if (conns.length < count && !error)
      error = `opened only ${conns.length} of ${count} within ${deadlineMs} ms`;
    await sleep(2000);
    await t.settle?.();
    const after = rssKiB(pid);
    const clientAfter = t.clientPid !== undefined ? rssKiB(t.clientPid) : Number.NaN;
    return {
      sessions: conns.length,
      rssBeforeKiB: before,
      rssAfterKiB: after,
      kibPerSession: conns.length ? (after - before) / conns.length : Number.NaN,
      openMs,
      ...(t.clientPid !== undefined && conns.length
        ? { clientKibPerSession: (clientAfter - clientBefore) / conns.length }
        : {}),
      error,
    };
  } finally {
    for (const c of conns) c.close();
  }
}

export interface StreamResult {
  rows: number;
  ms: number;
  rssBeforeKiB?: number;
  peakRssKiB?: number;
  peakFrom?: "VmHWM" | "sampled";
  cpuPct?: number;
  error?: string;
}

/** Streams `rows` generated rows through the target into psql → /dev/null, tracking the proxy's peak RSS. */
export async function streamRows(t: Target, rows: number, timeoutMs: number): Promise<StreamResult> {
  const pid = t.pid;
  const hwmReset = pid !== undefined && resetPeakRss(pid);
  const before = pid !== undefined ? rssKiB(pid) : undefined;
  let sampled = before ?? 0;
  const sampler =
    pid !== undefined
      ? setInterval(() => {
          const v = rssKiB(pid);
          if (Number.isFinite(v) && v > sampled) sampled = v;
        }, 50)
      : undefined;
  try {
    const r = await psqlWall(t, `SELECT g, md5(g::text) FROM generate_series(1, ${rows}) g`, timeoutMs);
    const hwm = pid !== undefined && hwmReset ? peakRssKiB(pid) : Number.NaN;
    const usesHwm = Number.isFinite(hwm) && hwm >= sampled;
    return {
      rows,
      ms: r.ms,
      rssBeforeKiB: before,
      peakRssKiB: pid === undefined ? undefined : usesHwm ? hwm : sampled,
      peakFrom: pid === undefined ? undefined : usesHwm ? "VmHWM" : "sampled",
      cpuPct: r.cpuPct,
      error: r.error,
    };
  } finally {
    if (sampler) clearInterval(sampler);
  }
}
