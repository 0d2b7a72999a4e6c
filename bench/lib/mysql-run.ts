/**
 * Runs one mysql-load.ts process against a target and measures, between its "measure" and
 * "done" lines, the proxy process's CPU (/proc/<pid>/stat) and, for streams, its RSS
 * (VmHWM reset before, plus 50 ms sampling of VmRSS).
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { cpuSeconds, peakRssKiB, repoRoot, resetPeakRss, rssKiB } from "./proc";

export interface MysqlTarget {
  name: string;
  port: number;
  user: string;
  password: string;
  db: string;
  clearPassword: boolean;
  pid?: number;
  detail: string;
}

export interface LoadSample {
  value: number;
  tx?: number;
  p50Us?: number;
  p99Us?: number;
  errors?: number;
  ms?: number;
  rows?: number;
  cpuPct?: number;
  cpuUsPerTx?: number;
  rssBeforeKiB?: number;
  peakRssKiB?: number;
  peakFrom?: string;
  error?: string;
}

export function runLoad(t: MysqlTarget, args: string[], timeoutMs: number): Promise<LoadSample> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        join(repoRoot, "bench/lib/mysql-load.ts"),
        "--port",
        String(t.port),
        "--user",
        t.user,
        "--db",
        t.db,
        ...(t.clearPassword ? ["--clear-password"] : []),
        ...args,
      ],
      {
        cwd: repoRoot,
        env: { ...process.env, BENCH_MYSQL_LOAD_PASSWORD: t.password },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let cpu0 = 0;
    let cpu1 = 0;
    let w0 = 0n;
    let w1 = 0n;
    let rssBefore: number | undefined;
    let sampled = 0;
    let hwmOk = false;
    let sampler: NodeJS.Timeout | undefined;
    let result: Record<string, number> | undefined;
    let error: string | undefined;
    let buf = "";
    let stderr = "";
    const timer = setTimeout(() => {
      error = `timed out after ${timeoutMs} ms`;
      child.kill("SIGKILL");
    }, timeoutMs);
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
        if (o.phase === "measure") {
          if (t.pid) {
            rssBefore = rssKiB(t.pid);
            hwmOk = resetPeakRss(t.pid);
            const pid = t.pid;
            sampler = setInterval(() => {
              sampled = Math.max(sampled, rssKiB(pid) || 0);
            }, 50);
            cpu0 = cpuSeconds(t.pid);
          }
          w0 = process.hrtime.bigint();
        } else if (o.phase === "done") {
          w1 = process.hrtime.bigint();
          if (t.pid) cpu1 = cpuSeconds(t.pid);
          if (sampler) clearInterval(sampler);
        } else if (o.result) result = o.result as Record<string, number>;
        else if (o.error) error = String(o.error);
      }
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      if (sampler) clearInterval(sampler);
      if (!result) {
        resolve({ value: Number.NaN, error: error ?? `load exited ${code}: ${stderr.slice(-300)}` });
        return;
      }
      const wall = Number(w1 - w0) / 1e9;
      const cpu = t.pid ? cpu1 - cpu0 : Number.NaN;
      const tx = result.tx;
      const hwm = t.pid ? peakRssKiB(t.pid) : Number.NaN;
      resolve({
        value: tx !== undefined ? (result.tps ?? Number.NaN) : (result.ms ?? Number.NaN),
        ...result,
        ...(error ? { error } : result.errors ? { error: `${result.errors} statement error(s)` } : {}),
        ...(t.pid
          ? {
              cpuPct: (cpu / wall) * 100,
              ...(tx ? { cpuUsPerTx: (cpu / tx) * 1e6 } : {}),
              rssBeforeKiB: rssBefore,
              peakRssKiB: hwmOk ? Math.max(hwm, sampled) : sampled,
              peakFrom: hwmOk ? "VmHWM" : "sampled",
            }
          : {}),
      });
    });
  });
}
