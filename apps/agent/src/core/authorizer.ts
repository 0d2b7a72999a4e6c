import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { AppError } from "@sluice/errors";
import type { AgentServiceClient, ConnectionSpec } from "@sluice/proto";
import type { StateStore } from "../link/state-store";
import { type GrantClaims, type GrantVerifier, looksLikeGrant } from "./grant-verifier";

export interface AuthorizedSession {
  claims: GrantClaims;
  connection: ConnectionSpec;
  /** How the identity proved itself. */
  via: "grant" | "credential";
}

export interface AuthorizerDeps {
  store: StateStore;
  verifier: GrantVerifier;
  client: Pick<AgentServiceClient, "authorizeSession">;
  agentToken: string;
  stalenessMs: number;
  /** True when this agent has already recorded the session (e.g. before a restart). */
  alreadyRecorded?: (sessionId: string) => boolean;
}

/** What the client is told when the control plane did not authorize the session. */
function exchangeError(err: ServiceError): AppError {
  switch (err.code) {
    case status.UNAUTHENTICATED:
      return new AppError("auth.invalid_credentials", err.details || "invalid credentials");
    case status.RESOURCE_EXHAUSTED:
      return new AppError("service.busy", "the control plane is busy: retry in a moment");
    case status.UNAVAILABLE:
    case status.DEADLINE_EXCEEDED:
      // The control plane answered that it cannot serve (its database is down), or it did not answer.
      return new AppError(
        "service.unavailable",
        err.details?.startsWith("the control plane ")
          ? `${err.details}; a session grant (sluice connect) works offline`
          : "the control plane is unreachable: use a session grant (sluice connect) to work offline",
      );
    case status.NOT_FOUND:
      return new AppError("connection.not_found", err.details || "connection not found");
    case status.FAILED_PRECONDITION:
      return new AppError("agent.unavailable", err.details || "no agent serves this connection right now");
    case status.INVALID_ARGUMENT:
      return new AppError("request.invalid", err.details || "invalid request");
    default:
      return new AppError("session.forbidden", err.details || "not authorized");
  }
}

/**
 * Decides whether a client may open a session on a connection. A grant is checked
 * offline; any other credential (API key, access token) is exchanged for a grant with
 * the control plane, so it needs the link. Fails closed when the cached state is stale.
 */
export function createAuthorizer(deps: AuthorizerDeps) {
  /** Session ids whose grant has opened a connection, kept until the grant expires. */
  const used = new Map<string, number>();

  function claimOnce(claims: GrantClaims): void {
    const now = Date.now();
    for (const [sid, exp] of used) if (exp * 1000 < now) used.delete(sid);
    if (used.has(claims.sid) || deps.alreadyRecorded?.(claims.sid)) {
      throw new AppError(
        "session.invalid_grant",
        "this grant has already opened a connection: start a new session for each connection",
      );
    }
    used.set(claims.sid, claims.exp);
  }

  function exchange(
    credential: string,
    connectionName: string,
    clientAddress: string,
    protocol: string,
    ssh: { sshPublicKey: string; sshCertificate: string } = { sshPublicKey: "", sshCertificate: "" },
  ): Promise<string> {
    const md = new Metadata();
    md.set("authorization", `Bearer ${deps.agentToken}`);
    return new Promise((resolve, reject) => {
      deps.client.authorizeSession(
        { credential, connectionName, clientAddress, protocol, ...ssh },
        md,
        { deadline: Date.now() + 10_000 },
        (err, res) => {
          if (!err) return resolve(res.grant);
          reject(exchangeError(err));
        },
      );
    });
  }

  return {
    async authorize(req: {
      connectionName: string;
      credential: string;
      clientAddress: string;
      protocol: string;
      /** SSH listener only: a key or certificate the client proved it holds, instead of `credential`. */
      ssh?: { sshPublicKey: string; sshCertificate: string };
    }): Promise<AuthorizedSession> {
      const connection = deps.store.connectionByName(req.connectionName);
      const agentId = deps.store.state.agent?.id;
      if (!connection || !agentId)
        throw new AppError(
          "connection.not_found",
          `connection ${req.connectionName} is not served by this agent`,
        );
      const staleness = Math.min(
        deps.stalenessMs,
        (connection.offlineGraceSeconds || deps.stalenessMs / 1000) * 1000,
      );
      if (!deps.store.isFresh(staleness)) {
        throw new AppError(
          "service.unavailable",
          "this agent has lost touch with the control plane for too long; new sessions are refused",
        );
      }
      if (!req.ssh && (req.credential.length === 0 || req.credential.length > 8192))
        throw new AppError("auth.invalid_credentials", "invalid credentials");
      const viaGrant = !req.ssh && looksLikeGrant(req.credential);
      const grant = viaGrant
        ? req.credential
        : await exchange(req.credential, req.connectionName, req.clientAddress, req.protocol, req.ssh);
      const claims = await deps.verifier.verify(grant, { agentId, connectionName: connection.name });
      claimOnce(claims);
      return { claims, connection, via: viaGrant ? "grant" : "credential" };
    },
  };
}

export type Authorizer = ReturnType<typeof createAuthorizer>;
