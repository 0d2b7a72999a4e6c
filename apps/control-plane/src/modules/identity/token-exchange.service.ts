import { createHash } from "node:crypto";
import { createRemoteJWKSet, decodeJwt, type JWTPayload, errors as joseErrors, jwtVerify } from "jose";
import type { Db } from "../../lib/db";
import type { Actor, Mutate } from "../../lib/mutate";
import { invalidGrant, OAuthError } from "../auth/oauth-error";
import type { TokenResponse, TokensService } from "../auth/tokens.service";
import { syncServiceIdentity } from "./provisioning";
import type { GroupMapping } from "./trusted-issuers.schemas";

export const JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt";
const ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token";
export const SLUICE_AUDIENCE = "sluice-api";
const CLOCK_SKEW_SECONDS = 30;

type IssuerRow = NonNullable<Awaited<ReturnType<Db["trustedIssuer"]["findFirst"]>>>;

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** Renders `repo:{repository}` from the token's claims; a missing or non-string claim fails. */
export function renderSubject(template: string, claims: JWTPayload): string {
  const out = template.replace(/\{([^{}]+)\}/g, (_m, claim: string) => {
    const value = claims[claim];
    if (typeof value !== "string" && typeof value !== "number") {
      throw invalidGrant(`subject token has no usable '${claim}' claim`);
    }
    return String(value);
  });
  if (out.length === 0 || out.length > 200) throw invalidGrant("mapped subject is empty or too long");
  return out;
}

export function mappedGroups(mappings: GroupMapping[], claims: JWTPayload): string[] {
  const groups = new Set<string>();
  for (const m of mappings) {
    const raw = claims[m.claim];
    const values = (Array.isArray(raw) ? raw : [raw]).filter(
      (v) => v !== undefined && v !== null && v !== false,
    );
    if (values.length === 0) continue;
    if (m.equals === undefined || values.some((v) => String(v) === m.equals)) groups.add(m.group);
  }
  return [...groups].sort();
}

export type TokenExchangeService = ReturnType<typeof createTokenExchangeService>;

/**
 * RFC 8693 token exchange for workload identities: a JWT from a trusted issuer (e.g.
 * a CI job's OIDC token) becomes a short-lived Sluice access token. Each external
 * token is accepted once.
 */
export function createTokenExchangeService(deps: {
  prisma: Db;
  mutate: Mutate;
  tokens: Pick<TokensService, "issue">;
  /** The MCP endpoint: a `resource` (RFC 8707) asking for it gets a token bound to it. */
  mcpResource?: () => string;
  fetch?: typeof fetch;
  now?: () => Date;
}) {
  const { prisma } = deps;
  const now = deps.now ?? (() => new Date());
  const jwks = new Map<string, { url: string; set: ReturnType<typeof createRemoteJWKSet> }>();

  async function jwksUrl(issuer: IssuerRow): Promise<string> {
    if (issuer.jwksUrl) return issuer.jwksUrl;
    const res = await (deps.fetch ?? fetch)(
      `${issuer.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`,
      { signal: AbortSignal.timeout(5000) },
    ).catch(() => undefined);
    const doc = res?.ok ? ((await res.json().catch(() => undefined)) as { jwks_uri?: unknown }) : undefined;
    if (typeof doc?.jwks_uri !== "string") {
      throw new OAuthError(
        "temporarily_unavailable",
        "cannot load the trusted issuer's discovery document",
        503,
      );
    }
    return doc.jwks_uri;
  }

  async function keySet(issuer: IssuerRow) {
    const url = await jwksUrl(issuer);
    const cached = jwks.get(issuer.id);
    if (cached?.url === url) return cached.set;
    const set = createRemoteJWKSet(new URL(url), { timeoutDuration: 5000, cooldownDuration: 30_000 });
    jwks.set(issuer.id, { url, set });
    return set;
  }

  async function verify(issuer: IssuerRow, token: string): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(token, await keySet(issuer), {
        issuer: issuer.issuer,
        audience: issuer.audience,
        clockTolerance: CLOCK_SKEW_SECONDS,
        currentDate: now(),
        requiredClaims: ["exp", "sub"],
      });
      return payload;
    } catch (err) {
      if (err instanceof OAuthError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw invalidGrant("subject token has expired");
      if (err instanceof joseErrors.JWTClaimValidationFailed) {
        if (err.claim === "aud") throw invalidGrant("subject token audience is not accepted by this issuer");
        if (err.claim === "nbf") throw invalidGrant("subject token is not valid yet");
        throw invalidGrant(`subject token claim '${err.claim}' is invalid`);
      }
      if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid) {
        throw new OAuthError("temporarily_unavailable", "cannot load the trusted issuer's signing keys", 503);
      }
      throw invalidGrant("subject token signature could not be verified with the issuer's keys");
    }
  }

  /** Records the token as used; false when it was used before. */
  async function claimOnce(issuer: IssuerRow, token: string, claims: JWTPayload): Promise<boolean> {
    const id = sha256(
      `${issuer.issuer}\0${typeof claims.jti === "string" ? claims.jti : `token:${sha256(token)}`}`,
    );
    const expiresAt = new Date(((claims.exp ?? 0) + CLOCK_SKEW_SECONDS) * 1000);
    await prisma.usedExternalToken.deleteMany({ where: { expiresAt: { lt: now() } } });
    const res = await prisma.$executeRaw`
      INSERT INTO used_external_tokens (id, "expiresAt") VALUES (${id}, ${expiresAt})
      ON CONFLICT (id) DO NOTHING`;
    return res === 1;
  }

  async function deny(actor: Actor, issuer: IssuerRow | null, reason: string) {
    await deps.mutate(actor, ({ audit }) =>
      audit({
        action: "auth.token_exchange",
        outcome: "denied",
        targetType: "trusted_issuer",
        targetId: issuer?.id,
        details: { reason },
      }),
    );
  }

  return {
    async exchange(
      input: { subjectToken: string; subjectTokenType: string; audience?: string; resource?: string },
      clientAddress: string | null,
    ): Promise<TokenResponse> {
      const resource = input.resource;
      if (resource !== undefined && resource !== deps.mcpResource?.()) {
        throw new OAuthError("invalid_target", "resource must be this control plane's MCP endpoint");
      }
      if (input.subjectTokenType !== JWT_TOKEN_TYPE && input.subjectTokenType !== ID_TOKEN_TYPE) {
        throw new OAuthError("invalid_request", `subject_token_type must be ${JWT_TOKEN_TYPE}`);
      }
      if (input.audience !== undefined && input.audience !== SLUICE_AUDIENCE) {
        throw new OAuthError("invalid_target", `audience must be ${SLUICE_AUDIENCE}`);
      }
      if (input.subjectToken.length > 16_384) throw invalidGrant("subject token is too large");
      let unverified: JWTPayload;
      try {
        unverified = decodeJwt(input.subjectToken);
      } catch {
        throw invalidGrant("subject token is not a JWT");
      }
      const iss = typeof unverified.iss === "string" ? unverified.iss : "";
      const issuer = iss ? await prisma.trustedIssuer.findUnique({ where: { issuer: iss } }) : null;
      const anonymous: Actor = { principal: null, kind: "service", clientAddress };
      if (!issuer?.enabled) {
        await deny(anonymous, null, "untrusted issuer");
        throw invalidGrant(`issuer ${JSON.stringify(iss.slice(0, 200))} is not trusted`);
      }
      let claims: JWTPayload;
      try {
        claims = await verify(issuer, input.subjectToken);
        if (!(await claimOnce(issuer, input.subjectToken, claims))) throw invalidGrant("token already used");
      } catch (err) {
        if (err instanceof OAuthError) await deny(anonymous, issuer, err.description);
        throw err;
      }
      const subject = renderSubject(issuer.subjectTemplate, claims);
      const groups = mappedGroups(issuer.groupMappings as GroupMapping[], claims);
      const user = await syncServiceIdentity(deps, { issuer, subject, groups, clientAddress });
      if (user.disabled) {
        await deny({ ...anonymous, id: user.id }, issuer, "identity disabled");
        throw invalidGrant("this service identity is disabled");
      }
      return deps.tokens.issue(
        { principal: null, id: user.id, kind: "service", clientAddress },
        {
          userId: user.id,
          method: "token_exchange",
          issuer: issuer.issuer,
          refresh: false,
          accessTtlSeconds: issuer.maxTokenLifetime,
          ...(resource ? { audience: resource } : {}),
          action: "auth.token_exchange",
          details: { issuer: issuer.name, subject, jti: typeof claims.jti === "string" ? claims.jti : null },
        },
      );
    },
  };
}
