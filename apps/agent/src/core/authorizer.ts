import { AppError } from "@sluice/errors";
import type { AgentServiceClient, ConnectionSpec } from "@sluice/proto";
import type { StateStore } from "../link/state-store";
import { createGrantExchange } from "./grant-exchange";
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

/**
 * Decides whether a client may open a session on a connection. A grant is checked
 * offline; any other credential (API key, access token) is exchanged for a grant with
 * the control plane, so it needs the link. Fails closed when the cached state is stale.
 */
export function createAuthorizer(deps: AuthorizerDeps) {
  const grants = createGrantExchange(deps);
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
        : await grants.exchange({
            credential: req.credential,
            connectionName: req.connectionName,
            clientAddress: req.clientAddress,
            protocol: req.protocol,
            sshPublicKey: req.ssh?.sshPublicKey ?? "",
            sshCertificate: req.ssh?.sshCertificate ?? "",
          });
      const claims = await deps.verifier.verify(grant, { agentId, connectionName: connection.name });
      claimOnce(claims);
      return { claims, connection, via: viaGrant ? "grant" : "credential" };
    },
  };
}

export type Authorizer = ReturnType<typeof createAuthorizer>;
