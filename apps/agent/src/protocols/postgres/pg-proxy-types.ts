import type tls from "node:tls";
import type { CancelRegistry } from "./cancel-registry";
import type { SessionPolicy } from "./policy-gate";

export interface PgLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export type PgSslMode = "disable" | "require" | "verify-ca" | "verify-full";

/** Where an authorized session goes. The password is resolved on the agent and used only for upstream auth. */
export interface PgTarget {
  sessionId: string;
  host: string;
  port: number;
  database: string;
  user: string;
  password: () => Promise<string>;
  ssl: { mode: PgSslMode; ca?: string; servername?: string };
  /** Max result rows recorded per statement. */
  recordRowsLimit: number;
  /** Guardrails, reviews and masking of this session; absent when no policy applies. */
  policy?: SessionPolicy;
  /** Recorder for this session; overrides the proxy-wide `PgProxyDeps.recorder`. */
  recorder?: PgSessionRecorder;
  /** Called once the session is relaying; `terminate` ends it. May return an unregister function. */
  onStart?: (terminate: (reason: string) => void) => (() => void) | undefined;
  /** Called once when the session ends, whatever the reason (e.g. to release a leased credential). */
  onEnd?: () => void | Promise<void>;
}

export interface PgAuthorizeRequest {
  /** The Sluice connection name (StartupMessage `database`). */
  database: string;
  user: string;
  /** The Sluice token or grant the client sent as its password. */
  password: string;
  remoteAddress: string;
  applicationName?: string;
}

export type PgRecordedResult = {
  columns?: { name: string; typeOid: number }[];
  rows: (string | null)[][];
  rowCount: number;
  truncated: boolean;
  command?: string;
  durationMs: number;
  error?: { code: string; message: string };
};

/** Receives the recording events of one session. Calls are synchronous and must be cheap (buffer, don't block). */
export interface PgSessionRecorder {
  sessionStart(info: {
    sessionId: string;
    database: string;
    user: string;
    remoteAddress: string;
    applicationName?: string;
  }): void;
  /** Once per simple Query and per Execute. */
  statement(ev: {
    kind: "query" | "execute";
    text: string;
    params?: (string | null)[];
    statementName?: string;
  }): void;
  /** Once per statement completion (CommandComplete, ErrorResponse, EmptyQueryResponse, PortalSuspended). */
  result(ev: PgRecordedResult): void;
  notice?(ev: { code?: string; message: string }): void;
  /**
   * Makes the events so far survive the agent's death (handed to the kernel), called before
   * the frames that completed them go to the client; throws when they cannot be written.
   */
  commit?(): void;
  sessionEnd(ev: { reason: string; bytesIn: number; bytesOut: number }): void;
}

export interface PgProxyDeps {
  limits: { maxStartupFrame: number; maxFrame: number };
  /** When present, SSLRequest is answered with 'S' and the connection upgraded; otherwise 'N'. */
  tls?: { context: tls.SecureContext } | undefined;
  /** Reject clients that did not upgrade to TLS (ErrorResponse 28000). */
  requireTls: boolean;
  /** Returns the target to dial, or throws a PgClientError (or AppError) with a client-safe message. */
  authorize(req: PgAuthorizeRequest): Promise<PgTarget>;
  recorder?: PgSessionRecorder | undefined;
  logger: PgLogger;
  /** Shared across connections so CancelRequests on new connections find their session. */
  cancels?: CancelRegistry;
  timeouts?: { handshakeMs?: number; upstreamConnectMs?: number };
}

/** Per-connection options of `handlePgClient`. */
export interface PgClientOptions {
  /**
   * The identity was proven before the protocol started (e.g. by a tunnel grant): no
   * password is requested and `authorize` is called with an empty password.
   */
  preauthorized?: boolean;
  /** Bytes already read from the socket, processed before anything else. */
  initial?: Buffer;
}

/** An error whose message may be shown to the Postgres client, with the SQLSTATE to report. */
export class PgClientError extends Error {
  readonly sqlState: string;
  readonly publicMessage: string;

  constructor(sqlState: string, publicMessage: string, options?: { cause?: unknown }) {
    super(publicMessage, options);
    this.name = "PgClientError";
    this.sqlState = sqlState;
    this.publicMessage = publicMessage;
  }
}

/**
 * Startup input PostgreSQL only logs and answers by closing the connection: a startup or
 * password packet whose declared length cannot be a message, a malformed CancelRequest.
 */
export class SilentClose extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SilentClose";
  }
}
