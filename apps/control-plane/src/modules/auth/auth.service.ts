import { AppError } from "@sluice/errors";
import { decodeProtectedHeader, errors as joseErrors, jwtVerify } from "jose";
import type { Db, Sql } from "../../lib/db";
import type { Principal } from "../../server/principal";
import {
  ACCESS_TOKEN_AUDIENCE,
  ACCESS_TOKEN_TYPE,
  GRANT_ISSUER,
  type KeysService,
} from "../keys/keys.service";
import { parseApiKey, secretMatches } from "./api-key";
import { createAuthRepo } from "./auth.repo";
import { ACCESS_TOKEN_PREFIX } from "./tokens.service";

export interface AuthServiceDeps {
  prisma: Db;
  sql: Sql;
  keys: Pick<KeysService, "publicKey">;
  now?: () => Date;
}

export type AuthService = ReturnType<typeof createAuthService>;

const invalid = () => new AppError("auth.invalid_credentials", "invalid credentials");
const withGroups = { memberships: { include: { group: true } } } as const;

/** A user row with its group names, as principals are built from. */
export interface UserWithGroups {
  id: string;
  name: string;
  role: Principal["role"];
  kind: string;
  disabled: boolean;
  memberships: { group: { name: string } }[];
}

/** The principal a user acts as, authenticated `via` one credential. */
export function principalFor(user: UserWithGroups, via: Principal["via"], credentialId: string): Principal {
  return {
    userId: user.id,
    name: user.name,
    role: user.role,
    kind: user.kind === "service" ? "service" : "human",
    groups: user.memberships.map((m) => m.group.name),
    via,
    credentialId,
  };
}

export function createAuthService(deps: AuthServiceDeps) {
  const now = deps.now ?? (() => new Date());
  const repo = createAuthRepo(deps.sql);

  async function authenticateApiKey(value: string): Promise<Principal> {
    const parsed = parseApiKey(value);
    if (!parsed) throw invalid();
    const key = await repo.apiKeyByPrefix(parsed.prefix);
    if (!key || !secretMatches(parsed.secret, key.secretHash)) throw invalid();
    if (key.revokedAt) throw new AppError("auth.invalid_credentials", "API key has been revoked");
    if (key.expiresAt && key.expiresAt <= now()) throw new AppError("auth.expired", "API key has expired");
    if (key.user.disabled) throw new AppError("auth.invalid_credentials", "user is disabled");
    // Best effort, at most once a minute per key: last-used time is informational.
    if (!key.lastUsedAt || now().getTime() - key.lastUsedAt.getTime() > 60_000) {
      await repo.touchApiKey(key.id, now());
    }
    const principal = principalFor(key.user, "api_key", key.id);
    return key.scopes.length > 0 ? { ...principal, scopes: key.scopes } : principal;
  }

  /** Sluice access tokens only: signed by one of our keys, for `audience`, login not revoked. */
  async function authenticateAccessToken(jwt: string, audience: string): Promise<Principal> {
    let kid: string | undefined;
    try {
      const header = decodeProtectedHeader(jwt);
      if (header.typ !== ACCESS_TOKEN_TYPE || header.alg !== "EdDSA") throw invalid();
      kid = header.kid;
    } catch {
      throw invalid();
    }
    const key = kid ? await deps.keys.publicKey(kid) : undefined;
    if (!key) throw invalid();
    let payload: { sub?: string; fam?: unknown };
    try {
      ({ payload } = await jwtVerify(jwt, key, {
        issuer: GRANT_ISSUER,
        audience,
        algorithms: ["EdDSA"],
        typ: ACCESS_TOKEN_TYPE,
        currentDate: now(),
        clockTolerance: 5,
        requiredClaims: ["exp", "sub", "jti"],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) {
        throw new AppError("auth.expired", "access token has expired; refresh it or log in again");
      }
      throw invalid();
    }
    if (typeof payload.fam !== "string" || typeof payload.sub !== "string") throw invalid();
    const family = await deps.prisma.tokenFamily.findUnique({
      where: { id: payload.fam },
      include: { user: { include: withGroups } },
    });
    if (!family || family.userId !== payload.sub) throw invalid();
    if (family.revokedAt) throw new AppError("auth.invalid_credentials", "access token has been revoked");
    if (family.user.disabled) throw new AppError("auth.invalid_credentials", "user is disabled");
    return principalFor(family.user, "access_token", family.id);
  }

  /**
   * Resolves a bearer credential: an API key or a Sluice access token issued for `audience`
   * (the Sluice API unless told). IdP tokens are never accepted.
   */
  async function authenticate(bearer: string, audience: string = ACCESS_TOKEN_AUDIENCE): Promise<Principal> {
    if (bearer.length > 4096) throw invalid();
    if (bearer.startsWith("slk_")) return authenticateApiKey(bearer);
    if (bearer.startsWith(ACCESS_TOKEN_PREFIX)) {
      return authenticateAccessToken(bearer.slice(ACCESS_TOKEN_PREFIX.length), audience);
    }
    throw invalid();
  }

  return { authenticate, authenticateApiKey };
}
