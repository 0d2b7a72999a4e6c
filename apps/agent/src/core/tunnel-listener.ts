import tls from "node:tls";
import { toAppError } from "@sluice/errors";
import type { Logger } from "@sluice/logger";
import { encodeReply, parsePreamble } from "@sluice/tunnel";
import type { Authorizer } from "./authorizer";
import type { ProtocolHandler } from "./protocol";

export interface TunnelListenerDeps {
  tls: { cert: string; key: string };
  authorizer: Pick<Authorizer, "authorize">;
  logger: Logger;
  /** The protocols the tunnel carries, by connection type. */
  handlers: readonly Pick<ProtocolHandler, "type" | "serve">[];
  /** A client must finish TLS and send its preamble within this bound (default 10 s). */
  preambleTimeoutMs?: number;
}

/**
 * The tunnel listener: TLS with a certificate from the control plane's CA; the first
 * line carries the session grant; afterwards the stream is the target protocol.
 */
export function createTunnelServer(deps: TunnelListenerDeps): tls.Server {
  const preambleMs = deps.preambleTimeoutMs ?? 10_000;
  const byType = new Map(deps.handlers.map((h) => [h.type, h]));
  // A socket that never completes TLS is closed by the handshake bound; one that completes
  // it but never sends its preamble, by the timer below.
  // No Nagle on the tunnel's TCP socket: a protocol's last small write of a reply (a chunk
  // terminator, a ReadyForQuery) must not wait for the client's delayed ACK.
  const server = tls.createServer({
    ...deps.tls,
    minVersion: "TLSv1.2",
    handshakeTimeout: preambleMs,
    noDelay: true,
  });
  server.on("tlsClientError", (_err, socket) => socket.destroy());
  server.on("secureConnection", (socket) => {
    const clientAddress = socket.remoteAddress ?? "";
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), preambleMs);
    socket.on("error", () => socket.destroy());
    // A refused client gets its ERR line, then the socket goes: the client may never close its side.
    const refuse = (reply: Buffer) => {
      socket.end(reply);
      setTimeout(() => socket.destroy(), 1_000).unref();
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const parsed = parsePreamble(buf);
      if (!parsed) return;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.pause();
      if ("error" in parsed) {
        refuse(encodeReply({ ok: false, code: "request.invalid", message: parsed.error }));
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
            const handler = byType.get(session.connection.type);
            if (!handler) {
              refuse(
                encodeReply({
                  ok: false,
                  code: "connection.invalid",
                  message: `${session.connection.type} connections are not served over the tunnel`,
                }),
              );
              return;
            }
            socket.write(encodeReply({ ok: true, sessionId: session.claims.sid }));
            handler.serve(session, { socket, initial: rest, clientAddress });
          },
          (err: unknown) => {
            const e = toAppError(err);
            deps.logger.info({ code: e.code, connection: request.connection }, "tunnel refused");
            refuse(encodeReply({ ok: false, code: e.code, message: e.message }));
          },
        );
    };
    socket.on("data", onData);
  });

  return server;
}
