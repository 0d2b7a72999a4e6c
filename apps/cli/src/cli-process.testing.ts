import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const bin = join(dirname(fileURLToPath(import.meta.url)), "..", "bin", "sluice.js");

export interface ProcessResult {
  code: number | null;
  out: string;
  err: string;
}

/** Starts `node bin/sluice.js <args>` with only PATH and the given env. */
export function spawnCli(args: string[], env: Record<string, string>): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? "", ...env } });
}

/** Runs the CLI as a child process to completion, feeding `stdin` when given. */
export function runCliProcess(
  args: string[],
  env: Record<string, string>,
  stdin = "",
): Promise<ProcessResult> {
  const child = spawnCli(args, env);
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  child.stdin.end(stdin);
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, out, err })));
}

/** Resolves with the first match of `pattern` in what `stream` prints. */
export function waitForOutput(
  stream: NodeJS.ReadableStream,
  pattern: RegExp,
  timeoutMs = 15_000,
): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${pattern}; saw: ${seen}`)),
      timeoutMs,
    );
    const onData = (d: Buffer) => {
      seen += d.toString();
      const m = pattern.exec(seen);
      if (m) {
        clearTimeout(timer);
        stream.off("data", onData);
        resolve(m);
      }
    };
    stream.on("data", onData);
  });
}
