import { AppError } from "@sluice/errors";
import type { Logger } from "@sluice/logger";
import type { ConnectionSpec } from "@sluice/proto";
import type { EventPayload, Spool } from "@sluice/recording";
import type { SecretResolver } from "@sluice/secrets";
import type { StateStore } from "../link/state-store";
import type { AuthorizedSession } from "./authorizer";
import type { EventSink } from "./event-sink";
import { type CompiledPolicy, type PolicyCompiler, statementHash } from "./policy-compiler";
import type { PolicyEvent, RequestReview } from "./policy-types";
import type { ReviewClient } from "./review-client";
import type { SessionRegistry } from "./session-registry";

export type Via = "grant" | "credential" | "publickey" | "certificate" | "tunnel";

export interface SessionEnd {
  reason: string;
  bytesIn: number;
  bytesOut: number;
  error?: string;
}

/** The target credential the agent holds, leased for one session. */
export interface TargetCredential {
  username: string;
  secret: string;
}

/**
 * What a protocol handler gets for an authorized session. The broker owns its lifecycle:
 * the credential lease is released exactly once, `session.start` and `session.end` are
 * written once each with the common envelope, and the session is registered for
 * termination while it is live.
 */
export interface SessionContext {
  readonly sessionId: string;
  readonly connection: ConnectionSpec;
  readonly identity: { id: string; name: string; kind: string; groups: readonly string[] };
  readonly via: Via;
  readonly clientAddress: string;
  /** The connection's compiled policies; undefined when none is attached. */
  readonly policy: CompiledPolicy | undefined;
  readonly logger: Logger;
  /** Resolves the target credential once (later calls share it). */
  credential(): Promise<TargetCredential>;
  requestReview: RequestReview;
  /** Records a policy decision, bound to the SHA-256 of the action's text. */
  recordPolicy(ev: PolicyEvent): void;
  /** Appends a protocol event to the session's recording. */
  record(kind: string, payload: Record<string, unknown>): void;
  /** Hands what was recorded so far to the kernel before the client sees it (see EventSink.commit); throws on failure. */
  commit(): void;
  /** The session is live: writes `session.start` (envelope + the protocol's details). Once. */
  started(details?: Omit<Partial<EventPayload<"session.start">>, "protocol" | "connection">): void;
  /** Registers how the control plane (or shutdown) ends this session; returns an unregister. */
  onTerminate(terminate: (reason: string) => void): () => void;
  /**
   * Ends the session: `session.end` (when it started), the recording closed, the lease
   * released, unregistered. Only the first call counts; a call without an end event is
   * the safety net for a session that never reported one.
   */
  end(ev?: SessionEnd): Promise<void>;
}

export interface SessionBrokerDeps {
  policies: PolicyCompiler;
  store: Pick<StateStore, "state">;
  reviews: Pick<ReviewClient, "request">;
  secrets: SecretResolver;
  sink: EventSink;
  registry: SessionRegistry;
  spool: Pick<Spool, "hasRoom">;
  /** New sessions are refused while the spool's disk has less room than this. */
  floorBytes: number;
  logger: Logger;
}

export interface OpenRequest {
  /** The connection type of the handler serving it. */
  type: string;
  via: Via;
  clientAddress: string;
}

/** Runs the session lifecycle once for every protocol. */
export function createSessionBroker(deps: SessionBrokerDeps) {
  async function open(s: AuthorizedSession, req: OpenRequest): Promise<SessionContext> {
    const conn = s.connection;
    if (conn.type !== req.type) {
      throw new AppError("connection.invalid", `${conn.name} is a ${conn.type} connection, not ${req.type}`);
    }
    if (!(await deps.spool.hasRoom(deps.floorBytes))) {
      throw new AppError(
        "recording.disk_full",
        "this agent's recording disk is full; new sessions are refused until it drains",
      );
    }
    const policy = deps.policies.forConnection(conn, deps.store.state.policies);
    return createContext(s, req, policy);
  }

  function createContext(
    s: AuthorizedSession,
    req: OpenRequest,
    policy: CompiledPolicy | undefined,
  ): SessionContext {
    const conn = s.connection;
    const sid = s.claims.sid;
    const identity = {
      id: s.claims.sub,
      name: s.claims.name,
      kind: s.claims.kind,
      groups: groupsOf(s.claims.grp),
    };
    const logger = deps.logger.child({ sessionId: sid, connection: conn.name });
    let lease: Promise<TargetCredential & { release?: () => Promise<void> }> | undefined;
    let released = false;
    let startedAt: number | undefined;
    let ended = false;
    let unregister: (() => void) | undefined;

    async function release(): Promise<void> {
      if (released || !lease) return;
      released = true;
      const held = await lease.catch(() => undefined);
      await held
        ?.release?.()
        .catch((err: unknown) => logger.warn({ err: (err as Error).message }, "credential release failed"));
    }

    return {
      sessionId: sid,
      connection: conn,
      identity,
      via: req.via,
      clientAddress: req.clientAddress,
      policy,
      logger,
      credential() {
        if (released) return Promise.reject(new AppError("session.not_found", "the session has ended"));
        lease ??= conn.credentialRef
          ? deps.secrets
              .resolve(conn.credentialRef, { connection: conn.name, sessionId: sid })
              .then((c) => ({ username: c.username || conn.username, secret: c.secret, release: c.release }))
          : Promise.resolve({ username: conn.username, secret: "" });
        return lease.then(({ username, secret }) => ({ username, secret }));
      },
      requestReview: (held, onPending, signal) => deps.reviews.request(sid, held, onPending, signal),
      recordPolicy(ev) {
        deps.sink.append(sid, "policy", { ...ev, statementHash: statementHash(ev.statement) });
      },
      record(kind, payload) {
        deps.sink.append(sid, kind, payload);
      },
      commit() {
        deps.sink.commit();
      },
      started(details = {}) {
        if (startedAt !== undefined || ended) return;
        startedAt = Date.now();
        deps.sink.append(sid, "session.start", {
          protocol: conn.type,
          connection: conn.name,
          identity,
          via: req.via,
          clientAddress: req.clientAddress,
          ...details,
        });
      },
      onTerminate(terminate) {
        unregister?.();
        const remove = deps.registry.add({
          sessionId: sid,
          connection: conn.name,
          identity: identity.name,
          startedAt: startedAt ?? Date.now(),
          terminate,
        });
        unregister = remove;
        return () => {
          remove();
          if (unregister === remove) unregister = undefined;
        };
      },
      async end(ev) {
        if (!ended) {
          ended = true;
          unregister?.();
          unregister = undefined;
          if (startedAt !== undefined) {
            const last = ev ?? { reason: "session ended without a report", bytesIn: 0, bytesOut: 0 };
            deps.sink.append(sid, "session.end", { ...last });
          } else {
            // Authorized but never live: tell the control plane now, so the session is
            // closed as aborted with the reason instead of waiting for its grant to expire.
            deps.sink.append(sid, "session.end", {
              reason: ev?.error ?? ev?.reason ?? "the session ended before it started",
              bytesIn: 0,
              bytesOut: 0,
              aborted: true,
            });
          }
          deps.sink.endSession(sid);
        }
        await release();
      },
    };
  }

  return { open };
}

export type SessionBroker = ReturnType<typeof createSessionBroker>;

/** The grant's groups, bounded: names the control plane would accept, at most 100. */
function groupsOf(grp: unknown): string[] {
  if (!Array.isArray(grp)) return [];
  return grp
    .filter((g): g is string => typeof g === "string" && /^[a-z0-9][a-z0-9._-]{0,62}$/.test(g))
    .slice(0, 100);
}
