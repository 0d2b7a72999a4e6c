/** Process exit codes of the sluice command. */
export const ExitCode = {
  ok: 0,
  /** The control plane refused the request, or something unexpected failed. */
  failure: 1,
  /** Bad flags or arguments, or not logged in. */
  usage: 2,
  /** The control plane or an agent could not be reached, or the agent refused the tunnel. */
  unreachable: 3,
  /** The statement waits for a reviewer's approval (`sluice exec --no-wait`). */
  held: 4,
} as const;

export interface CliErrorOptions {
  exitCode?: number;
  /** Extra lines printed under the one-line message (validation issues, hints). */
  details?: string[];
  cause?: unknown;
  /** The command already told the user what went wrong; only the exit code remains. */
  silent?: boolean;
}

/** An error the CLI reports as one line on stderr, with an exit code. */
export class CliError extends Error {
  readonly exitCode: number;
  readonly details: string[];
  readonly silent: boolean;

  constructor(message: string, options: CliErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CliError";
    this.exitCode = options.exitCode ?? ExitCode.failure;
    this.details = options.details ?? [];
    this.silent = options.silent ?? false;
  }
}

export interface ValidationIssue {
  path: string;
  message: string;
}

/** An error response of the control plane: `{ error: { code, message, details? } }`. */
export class ApiError extends CliError {
  readonly status: number;
  readonly code: string;
  readonly issues: ValidationIssue[];

  constructor(status: number, code: string, message: string, issues: ValidationIssue[] = [], hint?: string) {
    const details = issues.map((i) => (i.path ? `  - ${i.path}: ${i.message}` : `  - ${i.message}`));
    if (hint) details.push(hint);
    super(message, { exitCode: ExitCode.failure, details });
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.issues = issues;
  }
}

export function usageError(message: string, details: string[] = []): CliError {
  return new CliError(message, { exitCode: ExitCode.usage, details });
}

export function isCliError(err: unknown): err is CliError {
  return err instanceof CliError;
}
