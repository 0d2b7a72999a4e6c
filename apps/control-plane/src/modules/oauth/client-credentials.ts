import type { AuthService } from "../auth/auth.service";
import { OAuthError } from "../auth/oauth-error";
import type { TokenResponse, TokensService } from "../auth/tokens.service";

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
}

const MAX = 4096;

/** Client authentication from `Authorization: Basic` (RFC 6749 §2.3.1, form-encoded parts) or the body. */
export function clientCredentialsOf(
  header: string | undefined,
  body: { client_id?: string; client_secret?: string },
): Partial<ClientCredentials> {
  const basic = header ? /^Basic\s+([A-Za-z0-9+/=]{1,8192})$/i.exec(header.trim()) : null;
  if (basic?.[1]) {
    const decoded = Buffer.from(basic[1], "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) throw new OAuthError("invalid_client", "malformed client authentication", 401);
    const part = (s: string) => {
      try {
        return decodeURIComponent(s.replace(/\+/g, " "));
      } catch {
        throw new OAuthError("invalid_client", "malformed client authentication", 401);
      }
    };
    return { clientId: part(decoded.slice(0, colon)), clientSecret: part(decoded.slice(colon + 1)) };
  }
  return { clientId: body.client_id, clientSecret: body.client_secret };
}

/**
 * The client-credentials grant for service identities: the client id is the service
 * identity's name (or id) and the client secret one of its Sluice API keys. The token is
 * bound to the MCP resource and belongs to a login of its own, revocable like any other.
 */
export function createClientCredentialsGrant(deps: {
  auth: Pick<AuthService, "authenticateApiKey">;
  tokens: Pick<TokensService, "issue">;
  resource: () => string;
}) {
  return async (
    creds: Partial<ClientCredentials>,
    resource: string | undefined,
    clientAddress: string | null,
  ): Promise<TokenResponse> => {
    const refused = () => new OAuthError("invalid_client", "client authentication failed", 401);
    const { clientId, clientSecret } = creds;
    if (!clientId || !clientSecret || clientId.length > MAX || clientSecret.length > MAX) throw refused();
    const principal = await deps.auth.authenticateApiKey(clientSecret).catch(() => {
      throw refused();
    });
    if (principal.kind !== "service" || (clientId !== principal.name && clientId !== principal.userId)) {
      throw refused();
    }
    if (resource !== undefined && resource !== deps.resource()) {
      throw new OAuthError(
        "invalid_target",
        "this authorization server issues tokens for its MCP endpoint only",
      );
    }
    return deps.tokens.issue(
      { principal: null, id: principal.userId, kind: "service", clientAddress },
      {
        userId: principal.userId,
        method: "client_credentials",
        refresh: false,
        audience: deps.resource(),
        action: "auth.login",
        details: { key: principal.credentialId, resource: deps.resource() },
      },
    );
  };
}
