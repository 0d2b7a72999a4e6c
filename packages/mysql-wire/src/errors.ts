export type ProtocolErrorCode =
  | "packet_too_large"
  | "malformed_packet"
  | "unexpected_packet"
  | "unsupported"
  | "auth_failed"
  | "tls_required"
  | "connection_closed"
  | "timeout";

/**
 * The one error this package throws for bad input: oversized or truncated packets,
 * malformed payloads, unexpected packets, failed or refused authentication.
 * Messages name the problem and never contain a password or token.
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

/** An ERR packet sent by the upstream server during its handshake (e.g. access denied, unknown database). */
export class ServerError extends Error {
  readonly errorCode: number;
  readonly sqlState: string;

  constructor(errorCode: number, sqlState: string, message: string) {
    super(message);
    this.name = "ServerError";
    this.errorCode = errorCode;
    this.sqlState = sqlState;
  }
}
