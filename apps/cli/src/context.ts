import { type ApiClient, createApiClient } from "@sluice/client";
import type { Command } from "commander";
import { usageError } from "./cli-error";
import { type Env, resolveCredentials } from "./config-store";
import { type OutputFormat, outputFormats } from "./output";
import { readFreshConfig } from "./token-session";

export interface CliIo {
  env: Env;
  stdout(text: string): void;
  stderr(text: string): void;
  stdin: AsyncIterable<Buffer | string>;
  stdinIsTTY: boolean;
  /** Ends long-running commands (`connect`); without it they stop on SIGINT or SIGTERM. */
  stop?: AbortSignal;
}

export interface CliContext {
  io: CliIo;
  /** A client for the stored or env-supplied credentials; fails with "not logged in" when there are none. */
  client(): Promise<ApiClient>;
  /** A client for explicit credentials (used by `sluice login` before anything is stored). */
  clientFor(url: string, apiKey: string): ApiClient;
  /** API keys seen in this run, so error output can never echo one. */
  secrets: Set<string>;
  userAgent: string;
}

export function createContext(io: CliIo, userAgent: string): CliContext {
  const secrets = new Set<string>();
  const clientFor = (url: string, apiKey: string) => {
    secrets.add(apiKey);
    return createApiClient({ url, apiKey, userAgent });
  };
  return {
    io,
    secrets,
    userAgent,
    clientFor,
    async client() {
      const creds = resolveCredentials(io.env, await readFreshConfig(io.env));
      return clientFor(creds.url, creds.apiKey);
    },
  };
}

/** Resolves when a long-running command should stop: `io.stop` aborts, or Ctrl-C / SIGTERM. */
export function waitForStop(io: CliIo): Promise<void> {
  return new Promise((resolve) => {
    if (io.stop) {
      if (io.stop.aborted) resolve();
      else io.stop.addEventListener("abort", () => resolve(), { once: true });
      return;
    }
    const done = () => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      resolve();
    };
    process.on("SIGINT", done);
    process.on("SIGTERM", done);
  });
}

/** The `-o/--output` format, accepted both before and after the subcommand. */
export function outputFormat(cmd: Command): OutputFormat {
  const value = String(cmd.optsWithGlobals().output ?? "table");
  if (!(outputFormats as readonly string[]).includes(value)) {
    throw usageError(`invalid --output "${value}": use ${outputFormats.join(" or ")}`);
  }
  return value as OutputFormat;
}

export function nodeIo(): CliIo {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE") throw err;
    });
  }
  return {
    env: process.env,
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    stdin: process.stdin,
    stdinIsTTY: Boolean(process.stdin.isTTY),
  };
}
