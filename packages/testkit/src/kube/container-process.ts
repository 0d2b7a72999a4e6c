/**
 * Processes "inside" a pod. The fake's container shares this host's filesystem, so a command
 * runs here, as the test's user; with a TTY it runs under the pty helper.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import type { Readable, Writable } from "node:stream";

export interface ContainerProcessOptions {
  command: string[];
  tty: boolean;
  env: Record<string, string>;
  ptyHelper: string;
  cols?: number;
  rows?: number;
}

export interface ContainerProcess {
  stdin: Writable;
  stdout: Readable;
  /** Absent with a TTY: the terminal merges stderr into stdout. */
  stderr: Readable | undefined;
  resize(cols: number, rows: number): void;
  kill(): void;
  /** The exit code once all output is read (128+signal when killed). */
  exited: Promise<number>;
}

/** Finds an executable the way execvp would, so a missing one fails like the runtime's exec. */
export function resolveExecutable(name: string, path: string): string | undefined {
  const candidates = name.includes("/") ? [name] : path.split(delimiter).map((dir) => join(dir || ".", name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; try the next PATH entry
    }
  }
  return undefined;
}

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGTERM: 15,
  SIGPIPE: 13,
};

function exitCodeOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once("error", () => resolve(126));
    child.once("close", (code, signal) => resolve(code ?? 128 + (signal ? (SIGNALS[signal] ?? 1) : 1)));
  });
}

export function startContainerProcess(opts: ContainerProcessOptions): ContainerProcess {
  const env = { ...opts.env };
  if (opts.tty) env.TERM ??= "xterm";
  if (!opts.tty) {
    // Its own process group, so killing the session also ends what the command started.
    const child = spawn(opts.command[0] ?? "", opts.command.slice(1), {
      env,
      cwd: "/",
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
    });
    return {
      stdin: child.stdin!,
      stdout: child.stdout!,
      stderr: child.stderr!,
      resize: () => {},
      kill: () => killGroup(child),
      exited: exitCodeOf(child),
    };
  }
  const size = [String(opts.cols ?? 80), String(opts.rows ?? 24)];
  const child = spawn("python3", [opts.ptyHelper, ...size, ...opts.command], {
    env,
    cwd: "/",
    // The helper's own stderr: the command's output all goes through the terminal on stdout.
    stdio: ["pipe", "pipe", "ignore", "pipe"],
  });
  const control = child.stdio[3] as Writable;
  control.on("error", () => {});
  return {
    stdin: child.stdin!,
    stdout: child.stdout!,
    stderr: undefined,
    resize: (cols, rows) => {
      if (!control.destroyed) control.write(`${cols} ${rows}\n`);
    },
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    },
    exited: exitCodeOf(child),
  };
}

function killGroup(child: ChildProcess) {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // already gone
  }
}
