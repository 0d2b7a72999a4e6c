import type { Duplex } from "node:stream";
import type { AppError } from "@sluice/errors";
import type { AuthorizedSession } from "./authorizer";

/** A client stream whose identity the tunnel already proved, with what was read past the preamble. */
export interface ClientStream {
  socket: Duplex;
  initial: Buffer;
  clientAddress: string;
}

/** A protocol's own listener (`psql -h agent`, `ssh -p 2222`, `mysql -P 3307`). */
export interface NativeListener {
  /** The endpoint name announced to the control plane (`postgres`, `ssh`, `mysql`). */
  readonly endpoint: string;
  /** The `host:port` setting it binds. */
  readonly hostPort: string;
  /** True when a failure to bind must stop the agent; otherwise the protocol is only unavailable. */
  readonly required: boolean;
  listen(): Promise<number>;
  close(): void;
}

/**
 * One protocol on the agent's seam. The session lifecycle (authorize, type check, spool
 * floor, policy, credential lease, recording envelope, registry, end once) belongs to the
 * broker; a handler speaks its protocol and enforces what its folder knows how to.
 */
export interface ProtocolHandler {
  /** The connection type it serves (a name from the connection-type registry). */
  readonly type: string;
  /** What it enforces on a session, as announced in the agent's capabilities. */
  readonly enforces: readonly string[];
  /** Its native listener, when it has one. */
  readonly listener?: NativeListener;
  /** Serves a session that arrived through the tunnel (the grant proved the identity). */
  serve(session: AuthorizedSession, client: ClientStream): void;
  /** Refuses a client in the protocol's own words (an ErrorResponse, an ERR packet, a close). */
  refuse(client: Duplex, err: AppError): void;
}
