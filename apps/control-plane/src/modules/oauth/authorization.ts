import { createHash, randomBytes } from "node:crypto";
import type { Db } from "../../lib/db";
import { OAuthError } from "../auth/oauth-error";
import type { OidcLoginService } from "../identity/oidc-login.service";
import type { ClientRegistry, RegisteredClient } from "./clients";
import { validChallenge } from "./pkce";

const REQUEST_TTL_MS = 10 * 60_000;
const CODE_TTL_MS = 60_000;
const REQUEST_KIND = "mcp_request";
export const CODE_KIND = "mcp_code";
const CONSENT_KIND = "mcp_consent";
const CONSENT_TTL_MS = 5 * 60_000;
const MAX_STATE = 500;

export interface AuthorizeQuery {
  response_type?: string;
  client_id?: string;
  redirect_uri?: string;
  code_challenge?: string;
  code_challenge_method?: string;
  state?: string;
  resource?: string;
  scope?: string;
}

/** A failure reported to the client at its redirect URI (RFC 6749 §4.1.2.1). */
export class RedirectedError extends Error {
  constructor(readonly location: string) {
    super("authorization refused");
  }
}

/** What a pending grant carries from the authorization request to the token request. */
export interface PendingGrant {
  clientId: string;
  state?: string;
  resource: string;
  userId: string;
  issuer: string;
}

/** Consent requests are kept by hash too: the browser holds the only copy of the id. */
const consentId = (id: string) => `mcpk_${createHash("sha256").update(id).digest("hex")}`;
export const hashCode = (code: string) => createHash("sha256").update(code).digest("hex");

function withParams(base: string, params: Record<string, string | undefined>): string {
  const url = new URL(base);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return url.href;
}

/**
 * Authorization code + PKCE (S256) for people: the CP checks the client and its exact
 * redirect URI, sends the browser through the CP's own IdP login, asks the person to allow the
 * client, then issues a short-lived, single-use code bound to the client, the redirect URI, the
 * PKCE challenge and the resource.
 * Pending requests and codes live in `oidc_login_states` under their own kinds; codes by hash.
 */
export function createAuthorizationFlow(deps: {
  prisma: Db;
  oidc: Pick<OidcLoginService, "start" | "callbackPerson">;
  clients: ClientRegistry;
  publicUrl: () => string;
  resource: () => string;
}) {
  const { prisma } = deps;

  function checkedClient(q: AuthorizeQuery): { client: RegisteredClient; redirectUri: string } {
    const client = q.client_id ? deps.clients.lookup(q.client_id) : undefined;
    if (!client) throw new OAuthError("invalid_client", "unknown client_id; register the client first");
    if (!q.redirect_uri || !client.redirectUris.includes(q.redirect_uri)) {
      throw new OAuthError("invalid_request", "redirect_uri is not one the client registered");
    }
    return { client, redirectUri: q.redirect_uri };
  }

  function resourceOf(value: string | undefined): string {
    if (value !== undefined && value !== deps.resource()) {
      throw new OAuthError(
        "invalid_target",
        "this authorization server issues tokens for its MCP endpoint only",
      );
    }
    return deps.resource();
  }

  function refuse(redirectUri: string, state: string | undefined, error: string, description: string): never {
    throw new RedirectedError(
      withParams(redirectUri, { error, error_description: description, state, iss: deps.publicUrl() }),
    );
  }

  /** Validates an authorization request and answers the IdP login URL to send the browser to. */
  async function begin(q: AuthorizeQuery): Promise<string> {
    const { client, redirectUri } = checkedClient(q);
    const state = q.state?.slice(0, MAX_STATE);
    if (q.response_type !== "code") refuse(redirectUri, state, "unsupported_response_type", "only code");
    if (q.code_challenge_method !== "S256") {
      refuse(redirectUri, state, "invalid_request", "PKCE with code_challenge_method=S256 is required");
    }
    if (!q.code_challenge || !validChallenge(q.code_challenge)) {
      refuse(redirectUri, state, "invalid_request", "code_challenge must be a base64url SHA-256 digest");
    }
    let resource: string;
    try {
      resource = resourceOf(q.resource);
    } catch (err) {
      refuse(redirectUri, state, "invalid_target", (err as Error).message);
    }
    const login = await deps.oidc.start(`${deps.publicUrl()}/api/v1/auth/callback`);
    await prisma.oidcLoginState.create({
      data: {
        id: `mcpr_${login.state}`,
        kind: REQUEST_KIND,
        redirectUri,
        codeVerifier: q.code_challenge,
        nonce: JSON.stringify({ clientId: client.clientId, state, resource }),
        expiresAt: new Date(Date.now() + REQUEST_TTL_MS),
      },
    });
    return login.authorizationUrl;
  }

  async function owns(idpState: string | undefined): Promise<boolean> {
    if (!idpState) return false;
    const row = await prisma.oidcLoginState.findUnique({ where: { id: `mcpr_${idpState}` } });
    return row?.kind === REQUEST_KIND;
  }

  /** The IdP sent the browser back: where to send it next, the consent page or the client's error. */
  async function complete(
    input: { code?: string; state: string; iss?: string; error?: string },
    clientAddress: string | null,
  ): Promise<string> {
    try {
      return await issueCode(input, clientAddress);
    } catch (err) {
      if (err instanceof RedirectedError) return err.location;
      throw err;
    }
  }

  async function issueCode(
    input: { code?: string; state: string; iss?: string; error?: string },
    clientAddress: string | null,
  ): Promise<string> {
    const id = `mcpr_${input.state}`;
    const row = await prisma.oidcLoginState.findUnique({ where: { id } });
    const claimed = row
      ? (await prisma.oidcLoginState.deleteMany({ where: { id, kind: REQUEST_KIND } })).count
      : 0;
    if (!row || claimed !== 1 || row.expiresAt <= new Date()) {
      throw new OAuthError("invalid_grant", "unknown or expired authorization request; start again");
    }
    const pending = JSON.parse(row.nonce ?? "{}") as { clientId: string; state?: string; resource: string };
    const redirectUri = row.redirectUri ?? "";
    if (input.error || !input.code)
      refuse(redirectUri, pending.state, "access_denied", "sign-in was not completed");
    let person: { userId: string; issuer: string };
    try {
      person = await deps.oidc.callbackPerson(
        { code: input.code, state: input.state, iss: input.iss },
        clientAddress,
      );
    } catch (err) {
      refuse(
        redirectUri,
        pending.state,
        "access_denied",
        err instanceof OAuthError ? err.description : "sign-in failed",
      );
    }
    const consent = randomBytes(32).toString("base64url");
    await prisma.oidcLoginState.create({
      data: {
        id: consentId(consent),
        kind: CONSENT_KIND,
        redirectUri,
        codeVerifier: row.codeVerifier,
        nonce: JSON.stringify({ ...pending, userId: person.userId, issuer: person.issuer }),
        expiresAt: new Date(Date.now() + CONSENT_TTL_MS),
      },
    });
    return `${deps.publicUrl()}/oauth/consent?${new URLSearchParams({ request: consent })}`;
  }

  /** What the consent page shows: who is signing in to which client, returning where. */
  async function consentView(id: string) {
    const row = await prisma.oidcLoginState.findUnique({ where: { id: consentId(id) } });
    if (!row || row.kind !== CONSENT_KIND || row.expiresAt <= new Date()) return undefined;
    const grant = JSON.parse(row.nonce ?? "{}") as PendingGrant;
    const user = await prisma.user.findUnique({ where: { id: grant.userId }, select: { name: true } });
    const client = deps.clients.lookup(grant.clientId);
    return {
      clientName: client?.name || "an unnamed MCP client",
      redirectOrigin: new URL(row.redirectUri ?? "").origin,
      userName: user?.name ?? "",
    };
  }

  /** The person allowed or refused the client: redirect with a code, or with access_denied. */
  async function decide(id: string, allow: boolean): Promise<string> {
    const key = consentId(id);
    const row = await prisma.oidcLoginState.findUnique({ where: { id: key } });
    const claimed = row
      ? (await prisma.oidcLoginState.deleteMany({ where: { id: key, kind: CONSENT_KIND } })).count
      : 0;
    if (!row || claimed !== 1 || row.expiresAt <= new Date()) {
      throw new OAuthError("invalid_grant", "unknown or expired authorization request; start again");
    }
    const grant = JSON.parse(row.nonce ?? "{}") as PendingGrant;
    const redirectUri = row.redirectUri ?? "";
    if (!allow) {
      return withParams(redirectUri, {
        error: "access_denied",
        error_description: "the person refused",
        state: grant.state,
        iss: deps.publicUrl(),
      });
    }
    const code = randomBytes(32).toString("base64url");
    await prisma.oidcLoginState.create({
      data: {
        id: hashCode(code),
        kind: CODE_KIND,
        redirectUri,
        codeVerifier: row.codeVerifier,
        nonce: row.nonce,
        expiresAt: new Date(Date.now() + CODE_TTL_MS),
      },
    });
    return withParams(redirectUri, { code, state: grant.state, iss: deps.publicUrl() });
  }

  return { begin, owns, complete, consentView, decide };
}

export type AuthorizationFlow = ReturnType<typeof createAuthorizationFlow>;
