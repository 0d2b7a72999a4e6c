import { AppError } from "@sluice/errors";
import { z } from "zod";
import type { Db } from "../../lib/db";
import { byIdOrName } from "../../lib/ids";
import type { Actor, Mutate } from "../../lib/mutate";
import { labels, name, nullableTimestamp, timestamp } from "../../lib/schemas";
import { generateEnrollmentToken } from "../auth/api-key";

export const agentDto = z.object({
  id: z.string(),
  name: z.string(),
  segment: z.string(),
  labels: z.record(z.string(), z.string()),
  status: z.enum(["pending", "online", "offline", "revoked"]),
  version: z.string().nullable(),
  capabilities: z.array(z.string()),
  endpoints: z.array(z.object({ protocol: z.string(), host: z.string(), port: z.number() })),
  lastSeenAt: nullableTimestamp,
  activeSessions: z.number(),
  stateVersion: z.number(),
  connectedReplica: z
    .string()
    .nullable()
    .describe("the control-plane replica the agent's link is on (SLUICE_REPLICA_ID)"),
  createdAt: timestamp,
});
export type AgentDto = z.infer<typeof agentDto>;

export const createAgentBody = z.strictObject({
  name,
  segment: name.default("default"),
  labels: labels.default({}),
});
export const updateAgentBody = z.strictObject({ segment: name.optional(), labels: labels.optional() });
export const agentWithToken = z.object({
  agent: agentDto,
  enrollmentToken: z.string().describe("shown once; the agent authenticates with it"),
});

type AgentRow = NonNullable<Awaited<ReturnType<Db["agent"]["findFirst"]>>>;

export function toAgentDto(a: AgentRow): AgentDto {
  return {
    id: a.id,
    name: a.name,
    segment: a.segment,
    labels: a.labels as Record<string, string>,
    status: a.status,
    version: a.version,
    capabilities: a.capabilities,
    endpoints: a.endpoints as AgentDto["endpoints"],
    lastSeenAt: a.lastSeenAt?.toISOString() ?? null,
    activeSessions: a.activeSessions,
    stateVersion: Number(a.stateVersion),
    connectedReplica: a.connectedReplica,
    createdAt: a.createdAt.toISOString(),
  };
}

export type AgentsService = ReturnType<typeof createAgentsService>;

export function createAgentsService(deps: { prisma: Db; mutate: Mutate }) {
  const { prisma, mutate } = deps;

  async function find(ref: string) {
    const agent = await prisma.agent.findUnique({ where: byIdOrName(ref) });
    if (!agent) throw new AppError("agent.not_found", `agent ${ref} not found`);
    return agent;
  }

  return {
    find,
    async list() {
      return (await prisma.agent.findMany({ orderBy: { name: "asc" }, take: 1000 })).map(toAgentDto);
    },
    async get(ref: string) {
      return toAgentDto(await find(ref));
    },
    async create(actor: Actor, input: z.infer<typeof createAgentBody>) {
      if (await prisma.agent.findUnique({ where: { name: input.name } })) {
        throw new AppError("agent.exists", `agent ${input.name} already exists`);
      }
      const token = generateEnrollmentToken();
      const agent = await mutate(actor, async ({ tx, audit }) => {
        const a = await tx.agent.create({ data: { ...input, enrollmentTokenHash: token.hash } });
        await audit({
          action: "agent.create",
          targetType: "agent",
          targetId: a.id,
          details: { name: a.name, segment: a.segment },
        });
        return a;
      });
      return { agent: toAgentDto(agent), enrollmentToken: token.plaintext };
    },
    async update(actor: Actor, ref: string, input: z.infer<typeof updateAgentBody>) {
      const existing = await find(ref);
      const agent = await mutate(actor, async ({ tx, audit, change }) => {
        const a = await tx.agent.update({ where: { id: existing.id }, data: input });
        await audit({
          action: "agent.update",
          targetType: "agent",
          targetId: a.id,
          details: { fields: Object.keys(input) },
        });
        await change("agent.update", a.id);
        return a;
      });
      return toAgentDto(agent);
    },
    /** Revokes the agent's credential; a connected agent is disconnected at once. */
    async revoke(actor: Actor, ref: string) {
      const existing = await find(ref);
      const agent = await mutate(actor, async ({ tx, audit, change }) => {
        const a = await tx.agent.update({
          where: { id: existing.id },
          data: { status: "revoked", revokedAt: new Date(), enrollmentTokenHash: `revoked:${existing.id}` },
        });
        await audit({ action: "agent.revoke", targetType: "agent", targetId: a.id });
        await change("agent.revoke", a.id);
        return a;
      });
      return toAgentDto(agent);
    },
    /** Issues a new credential; the old one stops working and a connected agent is dropped. */
    async rotateToken(actor: Actor, ref: string) {
      const existing = await find(ref);
      const token = generateEnrollmentToken();
      const agent = await mutate(actor, async ({ tx, audit, change }) => {
        const a = await tx.agent.update({
          where: { id: existing.id },
          data: {
            enrollmentTokenHash: token.hash,
            revokedAt: null,
            status: existing.status === "revoked" ? "pending" : existing.status,
          },
        });
        await audit({ action: "agent.rotate_token", targetType: "agent", targetId: a.id });
        await change("agent.revoke", a.id);
        return a;
      });
      return { agent: toAgentDto(agent), enrollmentToken: token.plaintext };
    },
    async remove(actor: Actor, ref: string) {
      const existing = await find(ref);
      await mutate(actor, async ({ tx, audit, change }) => {
        await tx.agent.delete({ where: { id: existing.id } });
        await audit({
          action: "agent.delete",
          targetType: "agent",
          targetId: existing.id,
          details: { name: existing.name },
        });
        await change("agent.revoke", existing.id);
      });
    },
  };
}
