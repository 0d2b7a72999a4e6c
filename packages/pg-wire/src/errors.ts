export type ProtocolErrorCode =
  | "frame_too_large"
  | "frame_too_short"
  | "malformed_message"
  | "unexpected_message"
  | "unsupported"
  | "auth_failed";

/**
 * The one error this package throws for bad input: oversized or truncated frames,
 * malformed message bodies, unexpected messages and failed authentication exchanges.
 * Messages name the problem and never contain a password.
 */
export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;

  constructor(code: ProtocolErrorCode, message: string) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
  }
}

export function isProtocolError(err: unknown): err is ProtocolError {
  return err instanceof ProtocolError;
}
