import { randomUUID } from "node:crypto";
import { AppError } from "@sluice/errors";
import { toAsciicast } from "@sluice/recording";
import type { z } from "zod";
import type { Db, Sql } from "../../lib/db";
import { byIdOrName, isUuid } from "../../lib/ids";
import type { Actor, Mutate } from "../../lib/mutate";
import type { Principal } from "../../server/principal";
import { serves } from "../agents/desired-state";
import { type AuditService, outboxRow } from "../audit/audit.service";
import { mayUse } from "../connections/connections.service";
import type { KeysService } from "../keys/keys.service";
import { requireAccessApproval } from "../reviews/access-gate";
import type { SessionRate } from "./session-rate";
import { type AdmissionConnection, createSessionsRepo } from "./sessions.repo";
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

export function toSessionDto(s: SessionRow): SessionDto {
  const client = sessionClient.safeParse(s.client);
  return {
    id: s.id,
    user: s.user,
    connection: s.connection,
    agent: s.agent,
    protocol: s.protocol,
    status: s.status,
    clientAddress: s.clientAddress,
    reason: s.reason,
    client: client.success ? client.data : null,
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
  sql: Sql;
  mutate: Mutate;
  audit: Pick<AuditService, "settle">;
  rate?: Pick<SessionRate, "check">;
  keys: Pick<KeysService, "signGrant">;
}) {
  const { prisma, mutate } = deps;
  const repo = createSessionsRepo(deps.sql);
  const privileged = (p: Principal) => p.role === "admin" || p.role === "auditor";

  async function pickAgent(conn: AdmissionConnection, onlyAgentId?: string) {
    const candidates = await repo.onlineAgents(conn.agentSegment, onlyAgentId);
    const agent = candidates.find((a) =>
      serves(a as Parameters<typeof serves>[0], conn as Parameters<typeof serves>[1]),
    );
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
      const conn = await repo.connection(input.connection);
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
      await deps.rate?.check({ id: p.userId, name: p.name }, conn);
      const agent = await pickAgent(conn, onlyAgentId);
      // The id is ours, so the grant is signed before the row exists, and the session and
      // its audit entry are written in one statement.
      const id = randomUUID();
      const protocol = input.protocol ?? conn.type;
      const { grant, expiresAt } = await deps.keys.signGrant({
        sid: id,
        sub: p.userId,
        name: p.name,
        kind: p.kind,
        conn: conn.id,
        cname: conn.name,
        agent: agent.id,
        proto: protocol,
        grp: p.groups.slice(0, 100),
      });
      const startedAt = new Date();
      const clientAddress = actor.clientAddress ?? null;
      await repo.insert(
        {
          id,
          userId: p.userId,
          connectionId: conn.id,
          agentId: agent.id,
          protocol,
          clientAddress,
          reason: input.reason ?? null,
          credentialId: p.credentialId,
          grantExpires: expiresAt,
          startedAt,
          client: input.client ?? null,
        },
        outboxRow({
          actorId: actor.id ?? p.userId,
          actorKind: actor.kind ?? (p.kind === "service" ? "service" : "user"),
          clientAddress,
          action: "session.start",
          targetType: "session",
          targetId: id,
          outcome: "success",
          details: {
            connection: conn.name,
            agent: agent.name,
            ...(input.client ? { client: input.client } : {}),
          },
        }),
      );
      // Chained right after, shared with every session started meanwhile; audit readers settle first.
      void deps.audit.settle();
      const session: SessionDto = {
        id,
        user: { id: p.userId, name: p.name, kind: p.kind === "service" ? "service" : "human" },
        connection: { id: conn.id, name: conn.name, type: conn.type },
        agent: { id: agent.id, name: agent.name },
        protocol,
        status: "pending",
        clientAddress,
        reason: input.reason ?? null,
        client: input.client ?? null,
        endReason: null,
        bytesIn: 0,
        bytesOut: 0,
        startedAt: startedAt.toISOString(),
        endedAt: null,
      };
      return {
        session,
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
      return rows.map((r) => toSessionDto(r));
    },

    async get(principal: Principal, id: string) {
      return toSessionDto(await findVisible(principal, id));
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
