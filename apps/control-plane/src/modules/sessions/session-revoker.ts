import type { Redis } from "ioredis";
import type { Db } from "../../lib/db";

export const endSessionsChannel = (prefix: string) => `${prefix}end-sessions`;
/** Every replica drops its briefly cached credential checks when a credential or user is revoked. */
export const credentialsRevokedChannel = (prefix: string) => `${prefix}credentials-revoked`;

export interface EndSessionsMessage {
  agentId: string;
  sessionIds: string[];
  reason: string;
}

export type SessionRevoker = ReturnType<typeof createSessionRevoker>;

/** Parses a message from the end-sessions channel; undefined when it is not one. */
export function parseEndSessions(text: string): EndSessionsMessage | undefined {
  try {
    const v = JSON.parse(text) as Partial<EndSessionsMessage>;
    if (typeof v.agentId !== "string" || typeof v.reason !== "string" || !Array.isArray(v.sessionIds)) {
      return undefined;
    }
    return { agentId: v.agentId, reason: v.reason, sessionIds: v.sessionIds.map(String) };
  } catch {
    return undefined;
  }
}

/**
 * Ends the live sessions an identity or credential started. Each replica receives
 * the request over Redis pub/sub and forwards it to the agents linked to it, which
 * terminate the client connections.
 */
export function createSessionRevoker(deps: {
  prisma: Db;
  redis: Pick<Redis, "publish">;
  channel: string;
  revokedChannel?: string;
}) {
  return {
    /** Ends the live sessions of a user or credentials, on one connection when `connectionId` is given. */
    async endFor(
      who: { userId?: string; credentialIds?: string[]; connectionId?: string },
      reason: string,
    ): Promise<number> {
      const or: Record<string, unknown>[] = [];
      if (who.userId) or.push({ userId: who.userId });
      if (who.credentialIds && who.credentialIds.length > 0)
        or.push({ credentialId: { in: who.credentialIds } });
      if (or.length === 0) return 0;
      if (deps.revokedChannel) await deps.redis.publish(deps.revokedChannel, "1");
      const rows = await deps.prisma.session.findMany({
        where: {
          OR: or,
          ...(who.connectionId ? { connectionId: who.connectionId } : {}),
          endedAt: null,
          status: { in: ["pending", "active"] },
          agentId: { not: null },
        },
        select: { id: true, agentId: true },
        take: 10_000,
      });
      const byAgent = new Map<string, string[]>();
      for (const r of rows) {
        if (!r.agentId) continue;
        byAgent.set(r.agentId, [...(byAgent.get(r.agentId) ?? []), r.id]);
      }
      for (const [agentId, sessionIds] of byAgent) {
        const msg: EndSessionsMessage = { agentId, sessionIds, reason };
        await deps.redis.publish(deps.channel, JSON.stringify(msg));
      }
      return rows.length;
    },
  };
}
