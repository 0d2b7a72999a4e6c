import { AppError } from "@sluice/errors";
import { toAsciicast } from "@sluice/recording";
import type { z } from "zod";
import type { Db } from "../../lib/db";
import { byIdOrName, isUuid } from "../../lib/ids";
import type { Actor, Mutate } from "../../lib/mutate";
import type { Principal } from "../../server/principal";
import { serves } from "../agents/desired-state";
import { mayUse } from "../connections/connections.service";
import type { KeysService } from "../keys/keys.service";
import { requireAccessApproval } from "../reviews/access-gate";
import {
  type listSessionsQuery,
  type SessionClient,
  type SessionDto,
  sessionClient,
} from "./sessions.schemas";

const include = {
  user: { select: { id: true, name: true, kind: true } },
  connection: { select: { id: true, name: true, type: true } },
  agent: { select: { id: true, name: true } },
} as const;

type SessionRow = NonNullable<Awaited<ReturnType<Db["session"]["findFirst"]>>> & {
  user: { id: string; name: string; kind: string };
  connection: { id: string; name: string; type: string };
  agent: { id: string; name: string } | null;
};

export function toSessionDto(s: SessionRow, client: SessionClient | null = null): SessionDto {
  return {
    id: s.id,
    user: s.user,
    connection: s.connection,
    agent: s.agent,
    protocol: s.protocol,
    status: s.status,
    clientAddress: s.clientAddress,
    reason: s.reason,
    client,
    endReason: s.endReason,
    bytesIn: Number(s.bytesIn),
    bytesOut: Number(s.bytesOut),
    startedAt: s.startedAt.toISOString(),
    endedAt: s.endedAt?.toISOString() ?? null,
  };
}

export type SessionsService = ReturnType<typeof createSessionsService>;

export function createSessionsService(deps: {
  prisma: Db;
  mutate: Mutate;
  keys: Pick<KeysService, "signGrant">;
}) {
  const { prisma, mutate } = deps;
  const privileged = (p: Principal) => p.role === "admin" || p.role === "auditor";

  async function pickAgent(conn: { agentSegment: string; agentLabels: unknown }, onlyAgentId?: string) {
    const candidates = await prisma.agent.findMany({
      where: { status: "online", segment: conn.agentSegment, ...(onlyAgentId ? { id: onlyAgentId } : {}) },
      orderBy: [{ activeSessions: "asc" }, { lastSeenAt: "desc" }],
    });
    const agent = candidates.find((a) => serves(a, conn as Parameters<typeof serves>[1]));
    if (!agent) {
      throw new AppError(
        "agent.unavailable",
        onlyAgentId
          ? "this agent does not serve that connection"
          : "no online agent serves this connection right now",
      );
    }
    return agent;
  }

  /**
   * The client each session's start recorded, kept in the details of its `session.start`
   * audit entry (written in the same transaction as the session, so never before it).
   */
  async function clientsOf(rows: { id: string; startedAt: Date }[]): Promise<Map<string, SessionClient>> {
    const out = new Map<string, SessionClient>();
    if (rows.length === 0) return out;
    const earliest = Math.min(...rows.map((r) => r.startedAt.getTime()));
    const events = await prisma.auditEvent.findMany({
      where: {
        action: "session.start",
        targetType: "session",
        targetId: { in: rows.map((r) => r.id) },
        at: { gte: new Date(earliest - 60_000) },
      },
      select: { targetId: true, details: true },
    });
    for (const e of events) {
      const parsed = sessionClient.safeParse((e.details as { client?: unknown } | null)?.client);
      if (parsed.success && e.targetId) out.set(e.targetId, parsed.data);
    }
    return out;
  }

  async function withClients(rows: SessionRow[]): Promise<SessionDto[]> {
    const clients = await clientsOf(rows);
    return rows.map((r) => toSessionDto(r, clients.get(r.id) ?? null));
  }

  async function findVisible(principal: Principal, id: string) {
    const s = isUuid(id) ? await prisma.session.findUnique({ where: { id }, include }) : null;
    // Another user's session is a 404: do not reveal that it exists.
    if (!s || (!privileged(principal) && s.userId !== principal.userId)) {
      throw new AppError("session.not_found", `session ${id} not found`);
    }
    return s;
  }

  return {
    /** Authorizes the caller for the connection, picks an agent, records the session and signs a grant. */
    async start(
      actor: Actor & { principal: Principal },
      input: { connection: string; reason?: string; protocol?: string; client?: SessionClient },
      onlyAgentId?: string,
    ) {
      const p = actor.principal;
      const conn = await prisma.connection.findUnique({ where: byIdOrName(input.connection) });
      if (!conn || (!privileged(p) && !mayUse(p, conn.allowedGroups))) {
        throw new AppError("connection.not_found", `connection ${input.connection} not found`);
      }
      if (!mayUse(p, conn.allowedGroups)) {
        await mutate(actor, ({ audit }) =>
          audit({ action: "session.start", outcome: "denied", targetType: "connection", targetId: conn.id }),
        );
        throw new AppError("session.forbidden", `you are not in a group allowed to use ${conn.name}`);
      }
      await requireAccessApproval({ prisma, mutate }, actor, conn);
      const agent = await pickAgent(conn, onlyAgentId);
      const session = await mutate(actor, async ({ tx, audit }) => {
        const s = await tx.session.create({
          data: {
            userId: p.userId,
            connectionId: conn.id,
            agentId: agent.id,
            protocol: input.protocol ?? conn.type,
            clientAddress: actor.clientAddress ?? null,
            reason: input.reason ?? null,
            credentialId: p.credentialId,
          },
          include,
        });
        await audit({
          action: "session.start",
          targetType: "session",
          targetId: s.id,
          details: {
            connection: conn.name,
            agent: agent.name,
            ...(input.client ? { client: input.client } : {}),
          },
        });
        return s;
      });
      const { grant, expiresAt } = await deps.keys.signGrant({
        sid: session.id,
        sub: p.userId,
        name: p.name,
        kind: p.kind,
        conn: conn.id,
        cname: conn.name,
        agent: agent.id,
        proto: session.protocol,
      });
      await prisma.session.update({ where: { id: session.id }, data: { grantExpires: expiresAt } });
      return {
        session: toSessionDto(session, input.client ?? null),
        grant,
        expiresAt: expiresAt.toISOString(),
        agent: {
          id: agent.id,
          name: agent.name,
          endpoints: agent.endpoints as { protocol: string; host: string; port: number }[],
        },
        connection: { name: conn.name, type: conn.type, database: conn.database },
      };
    },

    async list(principal: Principal, q: z.infer<typeof listSessionsQuery>) {
      const where: Record<string, unknown> = {};
      if (!privileged(principal)) where.userId = principal.userId;
      else if (q.user) where.userId = q.user;
      if (q.connection) where.connection = byIdOrName(q.connection);
      if (q.status) where.status = q.status;
      if (q.before) where.startedAt = { lt: new Date(q.before) };
      const rows = await prisma.session.findMany({
        where,
        include,
        orderBy: { startedAt: "desc" },
        take: q.limit,
      });
      return withClients(rows);
    },

    async get(principal: Principal, id: string) {
      const [dto] = await withClients([await findVisible(principal, id)]);
      return dto as SessionDto;
    },

    async events(principal: Principal, id: string, after: number, limit: number) {
      await findVisible(principal, id);
      const rows = await prisma.recordingChunk.findMany({
        where: { sessionId: id, seq: { gt: BigInt(after) } },
        orderBy: { seq: "asc" },
        take: limit,
      });
      return rows.map((r) => ({
        seq: Number(r.seq),
        at: r.at.toISOString(),
        kind: r.kind,
        payload: r.payload,
      }));
    },

    /** An SSH session's terminal recording as an asciicast v2 document. */
    async cast(principal: Principal, id: string): Promise<string> {
      await findVisible(principal, id);
      const rows = await prisma.recordingChunk.findMany({
        where: { sessionId: id, OR: [{ kind: { startsWith: "ssh." } }, { kind: "gap" }] },
        orderBy: { seq: "asc" },
        take: 200_000,
      });
      return toAsciicast(
        rows.map((r) => ({ atUnixMs: r.at.getTime(), kind: r.kind, payloadJson: JSON.stringify(r.payload) })),
      );
    },
  };
}
