import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;

/**
 * Runs the quickstart's services and keeps them running: a crash (kill -9, an uncaught
 * error) restarts the service after a short back-off, on the same ports and state, instead
 * of taking the whole stack down. A service that keeps crashing (more than 5 times in a
 * minute) calls `onGiveUp`.
 */
export function createSupervisor(opts: {
  cwd: string;
  logDir: string;
  say(line: string): void;
  onGiveUp(): void;
}) {
  const children: ChildProcess[] = [];
  let stopping = false;

  function run(name: string, entry: string, env: Record<string, string>, logFile: string): void {
    const log = join(opts.logDir, logFile);
    mkdirSync(opts.logDir, { recursive: true });
    const out = (chunk: Buffer) => writeFileSync(log, chunk, { flag: "a" });
    const crashes: number[] = [];
    const start = () => {
      const child = spawn(process.execPath, ["--import", "tsx", entry], {
        cwd: opts.cwd,
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      child.stdout?.on("data", out);
      child.stderr?.on("data", out);
      child.on("exit", (code, signal) => {
        children.splice(children.indexOf(child), 1);
        if (stopping) return;
        const now = Date.now();
        crashes.push(now);
        while (crashes.length > 0 && (crashes[0] ?? now) < now - RESTART_WINDOW_MS) crashes.shift();
        if (crashes.length > MAX_RESTARTS) {
          opts.say(`\n${name} keeps exiting (${signal ?? code}); see ${log}`);
          opts.onGiveUp();
          return;
        }
        const delay = 500 * 2 ** (crashes.length - 1);
        opts.say(`\n${name} exited (${signal ?? code}); restarting in ${delay} ms (log: ${log})`);
        setTimeout(() => {
          if (!stopping) start();
        }, delay);
      });
      children.push(child);
    };
    start();
  }

  return {
    run,
    /** SIGTERM to every service, resolved once all have exited; nothing restarts after. */
    async stopAll(): Promise<void> {
      stopping = true;
      for (const c of children) c.kill("SIGTERM");
      await Promise.all(
        children.map((c) => (c.exitCode === null ? new Promise((r) => c.once("exit", r)) : null)),
      );
    },
  };
}

/** Polls `check` until it is true; a failing check counts as false. */
export async function waitFor(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Runs `fn` until the agent serves the connection: online is not yet "has applied the latest
 * desired state", so a connection created or repointed a moment ago may still be unknown to it.
 */
export async function untilServed<T>(fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline || !/not served by this agent/.test(String((err as Error).message)))
        throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
