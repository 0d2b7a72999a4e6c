import { randomBytes } from "node:crypto";
import type { Db } from "../../lib/db";
import type { Actor, Mutate } from "../../lib/mutate";
import type { KeysService } from "../keys/keys.service";
import type { SessionRevoker } from "../sessions/session-revoker";
import { hashSecret } from "./api-key";
import { invalidGrant } from "./oauth-error";

/** Access tokens carry this prefix: recognizable by secret scanners, and never mistaken for a grant. */
export const ACCESS_TOKEN_PREFIX = "slat.";
const REFRESH_PREFIX = "slr_";
export const ACCESS_TOKEN_TYPE_URN = "urn:ietf:params:oauth:token-type:access_token";

export interface TokenResponse {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  refresh_token?: string;
  issued_token_type: typeof ACCESS_TOKEN_TYPE_URN;
}

export interface TokenSettings {
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  loginMaxAgeSeconds: number;
}

export type LoginMethod = "oidc" | "device" | "token_exchange" | "client_credentials";

export type TokensService = ReturnType<typeof createTokensService>;

function newRefreshToken() {
  const plaintext = `${REFRESH_PREFIX}${randomBytes(32).toString("base64url")}`;
  return { plaintext, hash: hashSecret(plaintext) };
}

/**
 * Sluice's own tokens: short-lived signed access tokens and rotating opaque refresh
 * tokens, grouped in one family per login. Presenting a refresh token a second time
 * revokes its family (reuse detection), and revoking a family ends its live sessions.
 */
export function createTokensService(deps: {
  prisma: Db;
  mutate: Mutate;
  keys: Pick<KeysService, "signAccessToken">;
  revoker: Pick<SessionRevoker, "endFor">;
  settings: TokenSettings;
  now?: () => Date;
}) {
  const { prisma, mutate, settings } = deps;
  const now = deps.now ?? (() => new Date());

  async function accessToken(
    userId: string,
    familyId: string,
    ttlSeconds: number,
    familyEnds: Date,
    audience?: string,
  ) {
    const ttl = Math.max(
      1,
      Math.min(ttlSeconds, Math.floor((familyEnds.getTime() - now().getTime()) / 1000)),
    );
    const { token } = await deps.keys.signAccessToken({ sub: userId, fam: familyId }, ttl, audience);
    return { access_token: `${ACCESS_TOKEN_PREFIX}${token}`, expires_in: ttl };
  }

  function response(access: { access_token: string; expires_in: number }, refresh?: string): TokenResponse {
    return {
      ...access,
      token_type: "Bearer",
      ...(refresh ? { refresh_token: refresh } : {}),
      issued_token_type: ACCESS_TOKEN_TYPE_URN,
    };
  }

  async function revokeFamilies(actor: Actor, familyIds: string[], reason: string, action: string) {
    if (familyIds.length === 0) return 0;
    await mutate(actor, async ({ tx, audit }) => {
      await tx.tokenFamily.updateMany({
        where: { id: { in: familyIds }, revokedAt: null },
        data: { revokedAt: now(), revokeReason: reason },
      });
      for (const id of familyIds) {
        await audit({ action, targetType: "token_family", targetId: id, details: { reason } });
      }
    });
    return deps.revoker.endFor({ credentialIds: familyIds }, reason);
  }

  return {
    /** Starts a login: a new family, a refresh token (unless `refresh` is false) and an access token. */
    async issue(
      actor: Actor,
      input: {
        userId: string;
        method: LoginMethod;
        issuer?: string;
        refresh: boolean;
        accessTtlSeconds?: number;
        /** The resource the access token is for (RFC 8707); the Sluice API unless told. */
        audience?: string;
        action: string;
        details?: Record<string, unknown>;
      },
    ): Promise<TokenResponse> {
      const refresh = input.refresh ? newRefreshToken() : undefined;
      const ttl = Math.min(input.accessTtlSeconds ?? settings.accessTtlSeconds, settings.accessTtlSeconds);
      const expiresAt = new Date(now().getTime() + (refresh ? settings.loginMaxAgeSeconds : ttl) * 1000);
      const family = await mutate(actor, async ({ tx, audit }) => {
        const f = await tx.tokenFamily.create({
          data: { userId: input.userId, method: input.method, issuer: input.issuer ?? null, expiresAt },
        });
        if (refresh) {
          await tx.refreshToken.create({
            data: {
              familyId: f.id,
              tokenHash: refresh.hash,
              expiresAt: new Date(
                Math.min(expiresAt.getTime(), now().getTime() + settings.refreshTtlSeconds * 1000),
              ),
            },
          });
        }
        await tx.user.update({ where: { id: input.userId }, data: { lastLoginAt: now() } });
        await audit({
          action: input.action,
          targetType: "user",
          targetId: input.userId,
          details: { method: input.method, family: f.id, ...input.details },
        });
        return f;
      });
      return response(
        await accessToken(input.userId, family.id, ttl, family.expiresAt, input.audience),
        refresh?.plaintext,
      );
    },

    /** Rotates a refresh token. A token presented twice revokes the whole login. */
    async refresh(token: string, clientAddress: string | null): Promise<TokenResponse> {
      if (!token.startsWith(REFRESH_PREFIX) || token.length > 200)
        throw invalidGrant("invalid refresh token");
      const row = await prisma.refreshToken.findUnique({
        where: { tokenHash: hashSecret(token) },
        include: { family: { include: { user: true } } },
      });
      if (!row) throw invalidGrant("invalid refresh token");
      const { family } = row;
      const actor: Actor = {
        principal: null,
        id: family.userId,
        kind: family.user.kind === "service" ? "service" : "user",
        clientAddress,
      };
      if (family.revokedAt) throw invalidGrant("this login has been revoked; log in again");
      const claimed = row.usedAt
        ? 0
        : (
            await prisma.refreshToken.updateMany({
              where: { id: row.id, usedAt: null },
              data: { usedAt: now() },
            })
          ).count;
      if (claimed === 0) {
        await revokeFamilies(actor, [family.id], "refresh token reuse detected", "auth.refresh_reuse");
        throw invalidGrant("refresh token was already used; the login has been revoked, log in again");
      }
      if (row.expiresAt <= now() || family.expiresAt <= now()) {
        throw invalidGrant("refresh token has expired; log in again");
      }
      if (family.user.disabled) throw invalidGrant("user is disabled");
      const next = newRefreshToken();
      await mutate(actor, async ({ tx, audit }) => {
        await tx.refreshToken.create({
          data: {
            familyId: family.id,
            tokenHash: next.hash,
            expiresAt: new Date(
              Math.min(family.expiresAt.getTime(), now().getTime() + settings.refreshTtlSeconds * 1000),
            ),
          },
        });
        await audit({
          action: "auth.token_refresh",
          targetType: "token_family",
          targetId: family.id,
        });
      });
      return response(
        await accessToken(family.userId, family.id, settings.accessTtlSeconds, family.expiresAt),
        next.plaintext,
      );
    },

    /** Revokes one login (logout); ends the sessions it started. */
    async revokeFamily(actor: Actor, familyId: string, reason: string) {
      return revokeFamilies(actor, [familyId], reason, "auth.logout");
    },

    /** Revokes every login of a user and ends all of the user's live sessions. */
    async revokeUser(actor: Actor, userId: string, reason: string) {
      await mutate(actor, async ({ tx, audit }) => {
        const res = await tx.tokenFamily.updateMany({
          where: { userId, revokedAt: null },
          data: { revokedAt: now(), revokeReason: reason },
        });
        await audit({
          action: "user.tokens_revoke",
          targetType: "user",
          targetId: userId,
          details: { reason, logins: res.count },
        });
      });
      return deps.revoker.endFor({ userId }, reason);
    },
  };
}
