import net from "node:net";
import type { Duplex } from "node:stream";
import type tls from "node:tls";
import { connectionTypeSpecs } from "@sluice/connection-types";
import { type AppError, isAppError } from "@sluice/errors";
import type { Logger } from "@sluice/logger";
import {
  type ClientLogin,
  connectUpstream,
  createConnectionRegistry,
  createTlsUpgrader,
  type ErrPacket,
  encodePacket,
  readClientLogin,
  serializeErr,
} from "@sluice/mysql-wire";
import type { AgentConfig } from "../../config";
import type { AuthorizedSession, Authorizer } from "../../core/authorizer";
import type { SessionBroker, SessionContext, Via } from "../../core/broker";
import { listen } from "../../core/listen";
import type { ClientStream, ProtocolHandler } from "../../core/protocol";
import { runMysqlSession } from "./mysql-session";

export interface MysqlHandlerDeps {
  config: Pick<
    AgentConfig,
    | "SLUICE_MYSQL_LISTEN"
    | "SLUICE_MYSQL_LOOPBACK_PLAINTEXT"
    | "SLUICE_MAX_FRAME_BYTES"
    | "SLUICE_HANDSHAKE_TIMEOUT_SECONDS"
  >;
  authorizer: Pick<Authorizer, "authorize">;
  broker: SessionBroker;
  tls: () => tls.SecureContext | undefined;
  logger: Logger;
  /** Greeting version; MariaDB clients key MariaDB-only features off "MariaDB" in it. */
  serverVersion?: string;
}

/** Maps Sluice errors to the ERR packet a MySQL client shows. */
export function mysqlError(err: unknown): ErrPacket {
  if (isAppError(err)) {
    const m = err.mapping.mysql;
    return { errorCode: m.errno, sqlState: m.sqlState, message: err.message };
  }
  return { errorCode: 1105, sqlState: "HY000", message: "internal error" };
}

/** Closes a client whose login failed, once an ERR written to it had a moment to leave. */
function closeAfterReply(socket: Duplex): void {
  socket.end();
  setTimeout(() => socket.destroy(), 1_000).unref();
}

function isLoopback(address: string): boolean {
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
}

/**
 * The agent's MySQL/MariaDB protocol: the native listener (`mysql -h agent -P 3307 -u me -p
 * <connection>`, the Sluice token as mysql_clear_password over TLS) and sessions arriving
 * through the tunnel (identity already proven by the grant).
 */
export function createMysqlHandler(deps: MysqlHandlerDeps): ProtocolHandler {
  const ids = createConnectionRegistry();
  /** Whose session an agent connection id is: a KILL may only reach the caller's own sessions. */
  const owners = new Map<number, string>();
  const maxPayload = deps.config.SLUICE_MAX_FRAME_BYTES;
  const handshakeSeconds = deps.config.SLUICE_HANDSHAKE_TIMEOUT_SECONDS;

  async function login(
    socket: Duplex,
    remoteAddress: string,
    preauthorized: boolean,
    allowLocalInfile = false,
  ): Promise<ClientLogin> {
    const context = deps.tls();
    return readClientLogin(socket, {
      connectionId: ids.allocate(),
      ...(handshakeSeconds ? { timeoutMs: handshakeSeconds * 1000 } : {}),
      ...(deps.serverVersion ? { serverVersion: deps.serverVersion } : {}),
      // Offered only where the connection is known before the greeting (the tunnel) and allows it.
      ...(allowLocalInfile ? { allowLocalInfile: true } : {}),
      // Through the tunnel TLS already ran between the CLI and the agent, and the grant named the identity.
      ...(preauthorized
        ? { preauthorized: true, allowPlaintextPassword: true }
        : {
            ...(context ? { upgradeToTls: createTlsUpgrader({ secureContext: context }) } : {}),
            allowPlaintextPassword: deps.config.SLUICE_MYSQL_LOOPBACK_PLAINTEXT && isLoopback(remoteAddress),
          }),
    });
  }

  async function serveLogin(l: ClientLogin, open: () => Promise<SessionContext>): Promise<void> {
    let ctx: SessionContext;
    try {
      ctx = await open();
    } catch (err) {
      l.reject(mysqlError(err));
      return;
    }
    await runMysqlSession(l, ctx, { ids, owners, maxPayload, connect: connectUpstream }).catch(
      async (err: unknown) => {
        ctx.logger.error({ err }, "mysql session crashed");
        await ctx.end({ reason: "agent error", bytesIn: 0, bytesOut: 0 });
      },
    );
  }

  function open(s: AuthorizedSession, via: Via, clientAddress: string): Promise<SessionContext> {
    return deps.broker.open(s, { type: "mysql", via, clientAddress });
  }

  // Request/response traffic: a response written in parts must not wait for the client's ACK.
  const server = net.createServer({ noDelay: true }, (socket) => {
    const address = socket.remoteAddress ?? "";
    socket.on("error", () => socket.destroy());
    login(socket, address, false).then(
      (l) =>
        serveLogin(l, async () => {
          const s = await deps.authorizer.authorize({
            connectionName: l.database ?? "",
            credential: l.token,
            clientAddress: address,
            protocol: "mysql",
          });
          return open(s, s.via, address);
        }),
      (err: unknown) => {
        deps.logger.info({ err: (err as Error).message }, "mysql login ended before authentication");
        closeAfterReply(socket);
      },
    );
  });
  server.on("error", (err) => deps.logger.error({ err }, "mysql listener error"));

  return {
    type: "mysql",
    enforces: connectionTypeSpecs.mysql.enforces,
    listener: {
      endpoint: "mysql",
      hostPort: deps.config.SLUICE_MYSQL_LISTEN,
      // MySQL is one service among several: a busy port disables it without stopping the agent.
      required: false,
      listen: () => listen(server, deps.config.SLUICE_MYSQL_LISTEN),
      close: () => server.close(),
    },
    serve(session: AuthorizedSession, client: ClientStream): void {
      if (client.initial.length > 0) client.socket.unshift(client.initial);
      client.socket.on("error", () => client.socket.destroy());
      const settings = session.connection.settings;
      const infile = settings?.$case === "mysql" && settings.value.allowLocalInfile;
      login(client.socket, client.clientAddress, true, infile).then(
        (l) => serveLogin(l, () => open(session, "tunnel", client.clientAddress)),
        () => closeAfterReply(client.socket),
      );
    },
    refuse(client: Duplex, err: AppError): void {
      // An ERR where the greeting would be: how a server refuses a client before the handshake.
      client.end(Buffer.concat(encodePacket(0, serializeErr(mysqlError(err)))));
    },
  };
}
