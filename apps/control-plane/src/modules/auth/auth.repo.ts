import type { Sql } from "../../lib/db";
import type { UserWithGroups } from "./auth.service";

export interface ApiKeyRow {
  id: string;
  secretHash: string;
  scopes: string[];
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  user: UserWithGroups;
}

interface Flat {
  id: string;
  secretHash: string;
  scopes: string[];
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  userId: string;
  name: string;
  role: UserWithGroups["role"];
  kind: string;
  disabled: boolean;
  groups: string[];
}

/**
 * API key lookups in plain SQL as prepared statements: every request and every native
 * connect presents a key, so one round trip and no query building. Timestamps are stored
 * as UTC wall time and read back as instants (AT TIME ZONE 'UTC').
 */
export function createAuthRepo(sql: Sql) {
  return {
    async apiKeyByPrefix(prefix: string): Promise<ApiKeyRow | undefined> {
      const res = await sql.query<Flat>({
        name: "auth-api-key-by-prefix",
        text: `SELECT k.id, k."secretHash", k.scopes,
                      k."expiresAt" AT TIME ZONE 'UTC' AS "expiresAt",
                      k."revokedAt" AT TIME ZONE 'UTC' AS "revokedAt",
                      k."lastUsedAt" AT TIME ZONE 'UTC' AS "lastUsedAt",
                      u.id AS "userId", u.name, u.role::text AS role, u.kind, u.disabled,
                      coalesce(array(SELECT g.name FROM group_memberships m JOIN groups g ON g.id = m."groupId"
                                     WHERE m."userId" = u.id ORDER BY g.name), '{}') AS groups
               FROM api_keys k JOIN users u ON u.id = k."userId"
               WHERE k.prefix = $1`,
        values: [prefix],
      });
      const r = res.rows[0];
      if (!r) return undefined;
      return {
        id: r.id,
        secretHash: r.secretHash,
        scopes: r.scopes ?? [],
        expiresAt: r.expiresAt,
        revokedAt: r.revokedAt,
        lastUsedAt: r.lastUsedAt,
        user: {
          id: r.userId,
          name: r.name,
          role: r.role,
          kind: r.kind,
          disabled: r.disabled,
          memberships: r.groups.map((name) => ({ group: { name } })),
        },
      };
    },

    async touchApiKey(id: string, at: Date): Promise<void> {
      await sql.query({
        name: "auth-api-key-touch",
        text: `UPDATE api_keys SET "lastUsedAt" = $2::timestamp WHERE id = $1::uuid`,
        values: [id, at.toISOString()],
      });
    },
  };
}
