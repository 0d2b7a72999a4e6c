import type { Db } from "../../lib/db";
import { OAuthError } from "../auth/oauth-error";
import type { TokenResponse, TokensService } from "../auth/tokens.service";
import { CODE_KIND, hashCode, type PendingGrant } from "./authorization";
import type { ClientRegistry } from "./clients";
import { verifierMatches } from "./pkce";

/** The authorization-code grant at the token endpoint. */
export function createCodeExchange(deps: {
  prisma: Db;
  tokens: Pick<TokensService, "issue">;
  clients: ClientRegistry;
}) {
  const { prisma } = deps;
  /** Redeems a code once: same client, same redirect URI, a verifier matching the challenge. */
  return async function exchange(
    b: { code: string; redirectUri?: string; verifier?: string; clientId?: string; resource?: string },
    clientAddress: string | null,
  ): Promise<TokenResponse> {
    const bad = () => new OAuthError("invalid_grant", "invalid, expired or already used authorization code");
    if (b.code.length > 200) throw bad();
    const id = hashCode(b.code);
    const row = await prisma.oidcLoginState.findUnique({ where: { id } });
    if (!row || row.kind !== CODE_KIND) throw bad();
    if ((await prisma.oidcLoginState.deleteMany({ where: { id, kind: CODE_KIND } })).count !== 1) throw bad();
    const saved = JSON.parse(row.nonce ?? "{}") as PendingGrant;
    if (row.expiresAt <= new Date() || saved.clientId !== b.clientId || row.redirectUri !== b.redirectUri)
      throw bad();
    if (!b.verifier || !verifierMatches(b.verifier, row.codeVerifier ?? "")) throw bad();
    if (b.resource !== undefined && b.resource !== saved.resource) {
      throw new OAuthError("invalid_target", "resource differs from the authorization request");
    }
    const client = deps.clients.lookup(saved.clientId);
    return deps.tokens.issue(
      { principal: null, id: saved.userId, kind: "user", clientAddress },
      {
        userId: saved.userId,
        method: "oidc",
        issuer: saved.issuer,
        refresh: false,
        audience: saved.resource,
        action: "auth.login",
        details: { client: client?.name ?? "", resource: saved.resource },
      },
    );
  };
}
