import { AppError } from "@sluice/errors";
import { DataRowReader, serializeDataRow } from "@sluice/pg-wire";
import {
  compileConnectionGuard,
  compileMasking,
  createMysqlDialect,
  type GuardrailRule,
  initSqlParser,
  type PolicyDocument,
  postgresDialect,
  type ReviewRule,
} from "@sluice/policy";
import type { z } from "zod";
import type { Db } from "../../lib/db";
import { byIdOrName } from "../../lib/ids";
import type { Actor, Mutate } from "../../lib/mutate";
import type {
  createPolicyBody,
  EvaluationDto,
  evaluateBody,
  PolicyDto,
  updatePolicyBody,
} from "./policies.schemas";

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

/** A guardrail that asks for review needs a review rule in the same policy to say who reviews. */
function assertCoherent(guardrails: GuardrailRule[], reviewRules: ReviewRule[]): void {
  const asksReview = guardrails.find((g) => g.action === "review");
  if (asksReview && reviewRules.length === 0) {
    throw new AppError(
      "policy.invalid",
      `guardrail ${asksReview.name} has action "review" but the policy has no review rule naming its reviewers`,
    );
  }
}

/** Dry-run masking key: hashes in a dry run differ from an agent's, the rest is identical. */
const DRY_RUN_HASH_KEY = Buffer.from("sluice-policy-dry-run-hash-key-v1");

/** Masks sample values as the agent would mask them in text-format result rows. */
function maskSamples(
  policy: PolicyDocument,
  values: z.infer<typeof evaluateBody>["values"],
): EvaluationDto["masked"] {
  if (values.length === 0) return [];
  const plan =
    policy.masking.length > 0 ? compileMasking(policy.masking, { hashKey: DRY_RUN_HASH_KEY }) : undefined;
  const reader = new DataRowReader();
  return values.map((v) => {
    // Synthetic OIDs stand for the sample's table and type; the catalog view names them.
    const table = v.table ? (v.table.includes(".") ? v.table : `public.${v.table}`).toLowerCase() : undefined;
    const names = {
      table: (oid: number) => (oid === 1 && table ? table : undefined),
      type: (oid: number) => (oid === 2 ? v.type.toLowerCase() : undefined),
    };
    const masker = plan?.forColumns(
      [{ name: v.column, tableOid: table ? 1 : 0, typeOid: 2, format: 0 }],
      names,
    );
    const row = serializeDataRow([v.value]);
    const out = masker?.maskRow(row, 0, row.length) ?? row;
    reader.reset(out, 5);
    return { column: v.column, value: v.value, masked: reader.text(0) };
  });
}

function toDocument(p: PolicyRow): PolicyDocument {
  return {
    id: p.id,
    name: p.name,
    guardrails: p.guardrails as GuardrailRule[],
    masking: p.masking as PolicyDocument["masking"],
    reviewRules: p.reviewRules as ReviewRule[],
  };
}

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
      assertCoherent(input.guardrails, input.reviewRules);
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
      assertCoherent(
        input.guardrails ?? (existing.guardrails as GuardrailRule[]),
        input.reviewRules ?? (existing.reviewRules as ReviewRule[]),
      );
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
    /** Dry run: what the agent would do with this SQL (and these sample values) under the policy. */
    async evaluate(ref: string, input: z.infer<typeof evaluateBody>): Promise<EvaluationDto> {
      const policy = toDocument(await find(ref));
      await initSqlParser();
      // The same dialect the agent's protocol uses (for MySQL: with the server's version and sql_mode).
      const dialect =
        input.dialect === "mysql"
          ? createMysqlDialect({
              ...(input.serverVersion ? { serverVersion: input.serverVersion } : {}),
              ...(input.sqlMode !== undefined ? { sqlMode: input.sqlMode } : {}),
            })
          : postgresDialect;
      const verdict = compileConnectionGuard([policy], { cacheEntries: 1, dialect }).evaluate(input.sql);
      const c = dialect.classify(input.sql);
      const statements = c.ok
        ? c.statements.map((s) => ({
            text: s.text,
            kind: s.kind,
            kinds: [...s.kinds].sort(),
            objects: s.objects,
            readOnly: s.readOnly,
            unboundedWrite: s.unboundedWrite,
            opaque: s.opaque,
          }))
        : [];
      return {
        policy: policy.name,
        verdict: verdict.action,
        ...(verdict.action !== "allow"
          ? { rule: verdict.rule, message: verdict.message, statement: verdict.statement }
          : {}),
        ...(verdict.action === "review" ? { reviewRule: verdict.reviewRule } : {}),
        ...(!c.ok ? { parseError: c.error } : {}),
        statements,
        masked: maskSamples(policy, input.values),
      };
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
