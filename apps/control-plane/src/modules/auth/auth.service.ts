import { AppError } from "@sluice/errors";
import type { Db } from "../../lib/db";
import type { Principal } from "../../server/principal";
import { parseApiKey, secretMatches } from "./api-key";

export interface AuthServiceDeps {
  prisma: Db;
  now?: () => Date;
}

export type AuthService = ReturnType<typeof createAuthService>;

const invalid = () => new AppError("auth.invalid_credentials", "invalid credentials");

export function createAuthService(deps: AuthServiceDeps) {
  const now = deps.now ?? (() => new Date());

  async function authenticateApiKey(value: string): Promise<Principal> {
    const parsed = parseApiKey(value);
    if (!parsed) throw invalid();
    const key = await deps.prisma.apiKey.findUnique({
      where: { prefix: parsed.prefix },
      include: { user: { include: { memberships: { include: { group: true } } } } },
    });
    if (!key || !secretMatches(parsed.secret, key.secretHash)) throw invalid();
    if (key.revokedAt) throw new AppError("auth.invalid_credentials", "API key has been revoked");
    if (key.expiresAt && key.expiresAt <= now()) throw new AppError("auth.expired", "API key has expired");
    if (key.user.disabled) throw new AppError("auth.invalid_credentials", "user is disabled");
    // Best effort, at most once a minute per key: last-used time is informational.
    if (!key.lastUsedAt || now().getTime() - key.lastUsedAt.getTime() > 60_000) {
      await deps.prisma.apiKey.update({ where: { id: key.id }, data: { lastUsedAt: now() } });
    }
    return {
      userId: key.user.id,
      name: key.user.name,
      role: key.user.role,
      kind: key.user.kind === "service" ? "service" : "human",
      groups: key.user.memberships.map((m) => m.group.name),
      via: "api_key",
      credentialId: key.id,
    };
  }

  /** Resolves a bearer credential (API key now; Sluice access tokens plug in here). */
  async function authenticate(bearer: string): Promise<Principal> {
    if (bearer.length > 4096) throw invalid();
    if (bearer.startsWith("slk_")) return authenticateApiKey(bearer);
    throw invalid();
  }

  return { authenticate };
}
