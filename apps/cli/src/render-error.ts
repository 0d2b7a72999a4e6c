import { ExitCode, isCliError, redact } from "@sluice/client";
import { CommanderError } from "commander";

export interface RenderedError {
  /** Text for stderr, ending in a newline; empty when commander already printed the problem. */
  text: string;
  exitCode: number;
}

export interface RenderOptions {
  debug: boolean;
  /** Values that must never appear in the output (API keys). */
  secrets: Iterable<string>;
}

/** One helpful line (plus details) per failure; a stack trace only with SLUICE_DEBUG=1. */
export function renderError(err: unknown, options: RenderOptions): RenderedError {
  if (err instanceof CommanderError) {
    return { text: "", exitCode: err.exitCode === 0 ? ExitCode.ok : ExitCode.usage };
  }
  if (isCliError(err) && err.silent && !options.debug) return { text: "", exitCode: err.exitCode };
  const lines: string[] = [];
  let exitCode: number = ExitCode.failure;
  if (isCliError(err)) {
    const code = "code" in err && typeof err.code === "string" ? ` (${err.code})` : "";
    lines.push(`error: ${err.message}${code}`, ...err.details);
    exitCode = err.exitCode;
  } else {
    lines.push(`error: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (options.debug) lines.push(...debugLines(err));
  return { text: redact(`${lines.join("\n")}\n`, options.secrets), exitCode };
}

function debugLines(err: unknown): string[] {
  const lines: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    lines.push(current instanceof Error ? (current.stack ?? String(current)) : String(current));
    current = current instanceof Error ? current.cause : undefined;
    if (current !== undefined) lines.push("caused by:");
  }
  return lines;
}

export { redact };
