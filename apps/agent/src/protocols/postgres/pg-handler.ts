import net from "node:net";
import type { Duplex } from "node:stream";
import type tls from "node:tls";
import { connectionTypeSpecs } from "@sluice/connection-types";
import { type AppError, isAppError } from "@sluice/errors";
import type { Logger } from "@sluice/logger";
import { errorFrame } from "@sluice/pg-wire";
import type { AgentConfig } from "../../config";
import type { AuthorizedSession, Authorizer } from "../../core/authorizer";
import type { SessionBroker, SessionContext, Via } from "../../core/broker";
import { listen } from "../../core/listen";
import type { ClientStream, ProtocolHandler } from "../../core/protocol";
import { CancelRegistry, handlePgClient, PgClientError, type PgProxyDeps, type PgTarget } from "./index";
import { pgSessionPolicy } from "./pg-policy";
import { createPgRecorder } from "./pg-recorder";

export interface PgHandlerDeps {
  config: Pick<
    AgentConfig,
    | "SLUICE_PG_LISTEN"
    | "SLUICE_PG_REQUIRE_TLS"
    | "SLUICE_MAX_FRAME_BYTES"
    | "SLUICE_HANDSHAKE_TIMEOUT_SECONDS"
  >;
  authorizer: Pick<Authorizer, "authorize">;
  broker: SessionBroker;
  tls: () => tls.SecureContext | undefined;
  logger: Logger;
}

/** Maps Sluice errors to what a Postgres client should see. */
export function pgError(err: unknown): PgClientError {
  if (err instanceof PgClientError) return err;
  if (isAppError(err)) return new PgClientError(err.mapping.sqlState, err.message, { cause: err });
  return new PgClientError("XX000", "internal error", { cause: err });
}

/** The Postgres dial target of a brokered session; the broker owns its lifecycle. */
function targetFor(ctx: SessionContext, leasedUser: string | undefined): PgTarget {
  const conn = ctx.connection;
  const policy = pgSessionPolicy(ctx);
  // A leased credential may name its own user (e.g. Vault's dynamic database users).
  let username = leasedUser ?? conn.username;
  return {
    sessionId: ctx.sessionId,
    host: conn.host,
    port: conn.port,
    database: conn.database,
    get user() {
      return username;
    },
    password: async () => {
      const c = await ctx.credential();
      username = c.username;
      return c.secret;
    },
    ssl: {
      mode: (conn.tls?.mode || "disable") as PgTarget["ssl"]["mode"],
      ...(conn.tls?.caPem ? { ca: conn.tls.caPem } : {}),
      ...(conn.tls?.serverName ? { servername: conn.tls.serverName } : {}),
    },
    recordRowsLimit: conn.recordRowsLimit,
    ...(policy ? { policy } : {}),
    recorder: createPgRecorder(ctx),
    onStart: (terminate) => ctx.onTerminate(terminate),
    onEnd: () => ctx.end(),
  };
}

/**
 * The agent's Postgres protocol: the native listener (identity in the password field)
 * and sessions arriving through the tunnel (identity already proven by the grant).
 */
export function createPgHandler(deps: PgHandlerDeps): ProtocolHandler & { cancels: CancelRegistry } {
  const cancels = new CancelRegistry();
  const handshakeSeconds = deps.config.SLUICE_HANDSHAKE_TIMEOUT_SECONDS;
  const base: Omit<PgProxyDeps, "authorize"> & { cancels: CancelRegistry } = {
    limits: { maxStartupFrame: 10_000, maxFrame: deps.config.SLUICE_MAX_FRAME_BYTES },
    requireTls: deps.config.SLUICE_PG_REQUIRE_TLS,
    logger: deps.logger,
    cancels,
    ...(handshakeSeconds ? { timeouts: { handshakeMs: handshakeSeconds * 1000 } } : {}),
  };

  async function open(s: AuthorizedSession, via: Via, clientAddress: string): Promise<PgTarget> {
    // The credential is leased before the upstream dial, so a bad reference fails the login.
    const ctx = await deps.broker.open(s, { type: "postgres", via, clientAddress });
    try {
      const leased = ctx.connection.credentialRef ? await ctx.credential() : undefined;
      return targetFor(ctx, leased?.username);
    } catch (err) {
      await ctx.end();
      throw err;
    }
  }

  function run(socket: Duplex, options: Parameters<typeof handlePgClient>[1], what: string): void {
    let target: PgTarget | undefined;
    const authorize = options.authorize;
    void handlePgClient(socket as net.Socket, {
      ...options,
      authorize: async (req) => {
        try {
          target = await authorize(req);
          return target;
        } catch (err) {
          throw pgError(err);
        }
      },
    })
      .catch((err: unknown) => {
        deps.logger.error({ err }, `postgres ${what} crashed`);
        socket.destroy();
      })
      .finally(() => target?.onEnd?.());
  }

  const server = net.createServer((socket) => {
    const tlsContext = deps.tls();
    run(
      socket,
      {
        ...base,
        tls: tlsContext ? { context: tlsContext } : undefined,
        authorize: async (req) => {
          const s = await deps.authorizer.authorize({
            connectionName: req.database,
            credential: req.password,
            clientAddress: req.remoteAddress,
            protocol: "postgres",
          });
          return open(s, s.via, req.remoteAddress);
        },
      },
      "session",
    );
  });
  server.on("error", (err) => deps.logger.error({ err }, "postgres listener error"));

  return {
    type: "postgres",
    enforces: connectionTypeSpecs.postgres.enforces,
    cancels,
    listener: {
      endpoint: "postgres",
      hostPort: deps.config.SLUICE_PG_LISTEN,
      required: true,
      listen: () => listen(server, deps.config.SLUICE_PG_LISTEN),
      close: () => server.close(),
    },
    serve(session: AuthorizedSession, client: ClientStream): void {
      run(
        client.socket,
        {
          ...base,
          tls: undefined,
          requireTls: false,
          preauthorized: true,
          initial: client.initial,
          authorize: () => open(session, "tunnel", client.clientAddress),
        },
        "tunnel session",
      );
    },
    refuse(client: Duplex, err: AppError): void {
      const e = pgError(err);
      client.end(errorFrame(e.sqlState, e.publicMessage));
    },
  };
}
