import type { Duplex } from "node:stream";
import tls from "node:tls";
import { toAppError } from "@sluice/errors";
import type { Logger } from "@sluice/logger";
import type { ConnectionSpec } from "@sluice/proto";
import { encodeReply, parsePreamble } from "@sluice/tunnel";
import type { EventSink } from "../recording/event-sink";
import type { AuthorizedSession, Authorizer } from "../sessions/authorizer";
import type { SessionRegistry } from "../sessions/session-registry";
import { relayTcp } from "./tcp-relay";

export interface TunnelHandoff {
  socket: Duplex;
  initial: Buffer;
  session: AuthorizedSession;
  clientAddress: string;
}

export interface TunnelListenerDeps {
  tls: { cert: string; key: string };
  authorizer: Pick<Authorizer, "authorize">;
  sink: EventSink;
  registry: SessionRegistry;
  logger: Logger;
  /** Serves a Postgres connection whose identity the tunnel already proved. */
  postgres: (handoff: TunnelHandoff) => void;
  /** Serves an SSH connection whose identity the tunnel already proved. */
  ssh?: (handoff: TunnelHandoff) => void;
  preambleTimeoutMs?: number;
}

/**
 * The tunnel listener: TLS with a certificate from the control plane's CA; the first
 * line carries the session grant; afterwards the stream is the target protocol.
 */
export function createTunnelServer(deps: TunnelListenerDeps): tls.Server {
  const server = tls.createServer({ ...deps.tls, minVersion: "TLSv1.2" });
  server.on("secureConnection", (socket) => {
    const clientAddress = socket.remoteAddress ?? "";
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), deps.preambleTimeoutMs ?? 10_000);
    socket.on("error", () => socket.destroy());
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const parsed = parsePreamble(buf);
      if (!parsed) return;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.pause();
      if ("error" in parsed) {
        socket.end(encodeReply({ ok: false, code: "request.invalid", message: parsed.error }));
        return;
      }
      const { request, rest } = parsed;
      deps.authorizer
        .authorize({
          connectionName: request.connection,
          credential: request.grant,
          clientAddress,
          protocol: "tunnel",
        })
        .then(
          (session) => {
            if (socket.destroyed) return;
            socket.write(encodeReply({ ok: true, sessionId: session.claims.sid }));
            route(session.connection, { socket, initial: rest, session, clientAddress });
          },
          (err: unknown) => {
            const e = toAppError(err);
            deps.logger.info({ code: e.code, connection: request.connection }, "tunnel refused");
            socket.end(encodeReply({ ok: false, code: e.code, message: e.message }));
          },
        );
    };
    socket.on("data", onData);
  });

  function route(conn: ConnectionSpec, h: TunnelHandoff): void {
    if (conn.type === "postgres") {
      deps.postgres(h);
    } else if (conn.type === "ssh" && deps.ssh) {
      deps.ssh(h);
    } else if (conn.type === "tcp") {
      relayTcp({
        client: h.socket,
        initial: h.initial,
        sessionId: h.session.claims.sid,
        identity: h.session.claims.name,
        clientAddress: h.clientAddress,
        connection: conn,
        sink: deps.sink,
        registry: deps.registry,
      });
    } else {
      h.socket.end(
        encodeReply({
          ok: false,
          code: "connection.invalid",
          message: `${conn.type} connections are not served over the tunnel`,
        }),
      );
    }
  }
  return server;
}
