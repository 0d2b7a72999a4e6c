import { AppError } from "@sluice/errors";
import type { z } from "zod";
import type { Db } from "../../lib/db";
import { byIdOrName } from "../../lib/ids";
import type { Actor, Mutate } from "../../lib/mutate";
import type { createPolicyBody, PolicyDto, updatePolicyBody } from "./policies.schemas";

const withConnections = { connections: { include: { connection: { select: { name: true } } } } } as const;

type PolicyRow = NonNullable<Awaited<ReturnType<Db["policy"]["findFirst"]>>> & {
  connections: { connection: { name: string } }[];
};

export function toPolicyDto(p: PolicyRow): PolicyDto {
  return {
    id: p.id,
    name: p.name,
    description: p.description,
    guardrails: p.guardrails as PolicyDto["guardrails"],
    masking: p.masking as PolicyDto["masking"],
    reviewRules: p.reviewRules as PolicyDto["reviewRules"],
    connections: p.connections.map((c) => c.connection.name).sort(),
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  };
}

export type PoliciesService = ReturnType<typeof createPoliciesService>;

export function createPoliciesService(deps: { prisma: Db; mutate: Mutate }) {
  const { prisma, mutate } = deps;

  async function find(ref: string) {
    const policy = await prisma.policy.findUnique({ where: byIdOrName(ref), include: withConnections });
    if (!policy) throw new AppError("policy.not_found", `policy ${ref} not found`);
    return policy;
  }

  async function assertNameFree(policyName: string) {
    if (await prisma.policy.findUnique({ where: { name: policyName } })) {
      throw new AppError("policy.exists", `policy ${policyName} already exists`);
    }
  }

  return {
    find,
    async list() {
      const rows = await prisma.policy.findMany({
        include: withConnections,
        orderBy: { name: "asc" },
        take: 1000,
      });
      return rows.map(toPolicyDto);
    },
    async get(ref: string) {
      return toPolicyDto(await find(ref));
    },
    async create(actor: Actor, input: z.infer<typeof createPolicyBody>) {
      await assertNameFree(input.name);
      const row = await mutate(actor, async ({ tx, audit, change }) => {
        const p = await tx.policy.create({ data: input, include: withConnections });
        await audit({
          action: "policy.create",
          targetType: "policy",
          targetId: p.id,
          details: { name: p.name },
        });
        await change("policy.upsert", p.id);
        return p;
      });
      return toPolicyDto(row);
    },
    async update(actor: Actor, ref: string, input: z.infer<typeof updatePolicyBody>) {
      const existing = await find(ref);
      if (input.name && input.name !== existing.name) await assertNameFree(input.name);
      const hasEnforcedRules = (input.guardrails?.length ?? 0) + (input.masking?.length ?? 0) > 0;
      if (hasEnforcedRules) {
        const tcp = await prisma.connectionPolicy.findFirst({
          where: { policyId: existing.id, connection: { type: "tcp" } },
          include: { connection: true },
        });
        if (tcp) {
          throw new AppError(
            "policy.invalid",
            `policy is attached to tcp connection ${tcp.connection.name}, where guardrails and masking cannot be enforced`,
          );
        }
      }
      const row = await mutate(actor, async ({ tx, audit, change }) => {
        const p = await tx.policy.update({
          where: { id: existing.id },
          data: input,
          include: withConnections,
        });
        await audit({
          action: "policy.update",
          targetType: "policy",
          targetId: p.id,
          details: { fields: Object.keys(input) },
        });
        await change("policy.upsert", p.id);
        return p;
      });
      return toPolicyDto(row);
    },
    async remove(actor: Actor, ref: string) {
      const existing = await find(ref);
      if (existing.connections.length > 0) {
        const names = existing.connections.map((c) => c.connection.name).join(", ");
        throw new AppError("policy.in_use", `policy is attached to connection(s) ${names}; detach it first`);
      }
      await mutate(actor, async ({ tx, audit, change }) => {
        await tx.policy.delete({ where: { id: existing.id } });
        await audit({
          action: "policy.delete",
          targetType: "policy",
          targetId: existing.id,
          details: { name: existing.name },
        });
        await change("policy.delete", existing.id);
      });
    },
  };
}
