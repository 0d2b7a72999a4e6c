import { type ErrorCode, type ErrorMapping, errorMapping } from "./codes";

export interface AppErrorOptions {
  /** Internal detail for logs; never sent to a client. */
  cause?: unknown;
  /** Extra structured, client-safe detail (e.g. validation issues). */
  details?: Record<string, unknown>;
}

/**
 * The one error type Sluice raises. `message` is the public message, safe to show
 * to the caller; `cause` carries internal detail for logs only. Translate to HTTP,
 * gRPC, SQLSTATE or SSH only at the edges, with {@link AppError.mapping}.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, publicMessage: string, options: AppErrorOptions = {}) {
    super(publicMessage, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AppError";
    this.code = code;
    this.details = options.details;
  }

  get mapping(): ErrorMapping {
    return errorMapping(this.code);
  }

  toJSON(): { code: string; message: string; details?: Record<string, unknown> } {
    return this.details
      ? { code: this.code, message: this.message, details: this.details }
      : { code: this.code, message: this.message };
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/** Wraps anything that is not an AppError as an internal error with a generic public message. */
export function toAppError(err: unknown): AppError {
  if (isAppError(err)) return err;
  return new AppError("internal.unexpected", "internal error", { cause: err });
}
