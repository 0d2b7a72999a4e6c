import net from "node:net";
import type tls from "node:tls";
import { isAppError } from "@sluice/errors";
import type { Logger } from "@sluice/logger";
import type { Spool } from "@sluice/recording";
import type { SecretResolver } from "@sluice/secrets";
import type { AgentConfig } from "../config";
import type { StateStore } from "../link/state-store";
import type { ReviewClient } from "../policy/review-client";
import { type PolicyCompiler, sessionPolicy } from "../policy/session-policy";
import { CancelRegistry, handlePgClient, PgClientError, type PgProxyDeps, type PgTarget } from "../postgres";
import type { EventSink } from "../recording/event-sink";
import { createPgRecorder } from "../recording/pg-recorder";
import type { AuthorizedSession, Authorizer } from "../sessions/authorizer";
import type { SessionRegistry } from "../sessions/session-registry";
import type { TunnelHandoff } from "./tunnel-listener";

export interface PgServiceDeps {
  config: Pick<AgentConfig, "SLUICE_PG_REQUIRE_TLS" | "SLUICE_SPOOL_FLOOR_MB" | "SLUICE_MAX_FRAME_BYTES">;
  authorizer: Pick<Authorizer, "authorize">;
  secrets: SecretResolver;
  sink: EventSink;
  registry: SessionRegistry;
  spool: Pick<Spool, "hasRoom">;
  tls: () => tls.SecureContext | undefined;
  logger: Logger;
  /** Compiles the connection's policies; sessions of connections whose policy cannot be enforced are refused. */
  policies: PolicyCompiler;
  store: Pick<StateStore, "state">;
  reviews: Pick<ReviewClient, "request">;
}

/** Maps Sluice errors to what a Postgres client should see. */
export function pgError(err: unknown): PgClientError {
  if (err instanceof PgClientError) return err;
  if (isAppError(err)) return new PgClientError(err.mapping.sqlState, err.message, { cause: err });
  return new PgClientError("XX000", "internal error", { cause: err });
}

/**
 * The agent's Postgres service: the native listener (identity in the password field)
 * and sessions arriving through the tunnel (identity already proven by the grant).
 */
export function createPgService(deps: PgServiceDeps) {
  const cancels = new CancelRegistry();
  const floorBytes = deps.config.SLUICE_SPOOL_FLOOR_MB * 1024 * 1024;

  async function targetFor(s: AuthorizedSession, via: "grant" | "credential" | "tunnel"): Promise<PgTarget> {
    const conn = s.connection;
    if (conn.type !== "postgres")
      throw new PgClientError("28000", `${conn.name} is a ${conn.type} connection, not postgres`);
    if (!(await deps.spool.hasRoom(floorBytes))) {
      throw new PgClientError(
        "53100",
        "this agent's recording disk is full; new sessions are refused until it drains",
      );
    }
    const compiled = deps.policies.forConnection(conn, deps.store.state.policies);
    const sid = s.claims.sid;
    const policy = compiled
      ? sessionPolicy({
          compiled,
          sessionId: sid,
          requestReview: deps.reviews.request,
          record: (ev) => deps.sink.append(sid, "policy", ev),
        })
      : undefined;
    let release: (() => Promise<void>) | undefined;
    let username = conn.username;
    let resolved: Promise<string> | undefined;
    const resolve = () => {
      resolved ??= deps.secrets
        .resolve(conn.credentialRef, { connection: conn.name, sessionId: s.claims.sid })
        .then((c) => {
          release = c.release;
          if (c.username) username = c.username;
          return c.secret;
        });
      return resolved;
    };
    if (conn.credentialRef) await resolve();
    return {
      sessionId: s.claims.sid,
      host: conn.host,
      port: conn.port,
      database: conn.database,
      get user() {
        return username;
      },
      password: conn.credentialRef ? resolve : async () => "",
      ssl: {
        mode: (conn.tls?.mode || "disable") as PgTarget["ssl"]["mode"],
        ...(conn.tls?.caPem ? { ca: conn.tls.caPem } : {}),
        ...(conn.tls?.serverName ? { servername: conn.tls.serverName } : {}),
      },
      recordRowsLimit: conn.recordRowsLimit,
      ...(policy ? { policy } : {}),
      recorder: createPgRecorder(deps.sink, {
        sessionId: s.claims.sid,
        connection: conn.name,
        identity: { id: s.claims.sub, name: s.claims.name, kind: s.claims.kind },
        via,
      }),
      onStart: (terminate) => {
        const unregister = deps.registry.add({
          sessionId: s.claims.sid,
          connection: conn.name,
          identity: s.claims.name,
          startedAt: Date.now(),
          terminate,
        });
        return unregister;
      },
      onEnd: async () => {
        const pending = release;
        release = undefined; // once: the proxy's end and the crash net below may both call it
        await pending?.().catch((err: unknown) =>
          deps.logger.warn({ err: (err as Error).message }, "credential release failed"),
        );
      },
    };
  }

  const base: Omit<PgProxyDeps, "authorize"> & { cancels: CancelRegistry } = {
    limits: { maxStartupFrame: 10_000, maxFrame: deps.config.SLUICE_MAX_FRAME_BYTES },
    requireTls: deps.config.SLUICE_PG_REQUIRE_TLS,
    logger: deps.logger,
    cancels,
  };

  function tlsOption() {
    const context = deps.tls();
    return context ? { context } : undefined;
  }

  const server = net.createServer((socket) => {
    let target: PgTarget | undefined;
    void handlePgClient(socket, {
      ...base,
      tls: tlsOption(),
      authorize: async (req) => {
        try {
          const s = await deps.authorizer.authorize({
            connectionName: req.database,
            credential: req.password,
            clientAddress: req.remoteAddress,
            protocol: "postgres",
          });
          target = await targetFor(s, s.via);
          return target;
        } catch (err) {
          throw pgError(err);
        }
      },
    })
      .catch((err: unknown) => {
        deps.logger.error({ err }, "postgres session crashed");
        socket.destroy();
      })
      .finally(() => target?.onEnd?.());
  });
  server.on("error", (err) => deps.logger.error({ err }, "postgres listener error"));

  return {
    server,
    cancels,
    serveTunnel(h: TunnelHandoff): void {
      let target: PgTarget | undefined;
      void handlePgClient(h.socket as net.Socket, {
        ...base,
        tls: undefined,
        requireTls: false,
        preauthorized: true,
        initial: h.initial,
        authorize: async () => {
          try {
            target = await targetFor(h.session, "tunnel");
            return target;
          } catch (err) {
            throw pgError(err);
          }
        },
      })
        .catch((err: unknown) => {
          deps.logger.error({ err }, "postgres tunnel session crashed");
          h.socket.destroy();
        })
        .finally(() => target?.onEnd?.());
    },
  };
}
