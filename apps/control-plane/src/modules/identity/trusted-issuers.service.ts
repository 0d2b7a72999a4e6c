import { AppError } from "@sluice/errors";
import type { Db } from "../../lib/db";
import { byIdOrName } from "../../lib/ids";
import type { Actor, Mutate } from "../../lib/mutate";
import type {
  CreateTrustedIssuerInput,
  GroupMapping,
  TrustedIssuerDto,
  UpdateTrustedIssuerInput,
} from "./trusted-issuers.schemas";

type IssuerRow = NonNullable<Awaited<ReturnType<Db["trustedIssuer"]["findFirst"]>>>;

/** `sub` means `{sub}`: a bare claim name is the template with only that claim. */
export function toTemplate(subjectClaim: string): string {
  return subjectClaim.includes("{") ? subjectClaim : `{${subjectClaim}}`;
}

function fromTemplate(template: string): string {
  const bare = /^\{([^{}]+)\}$/.exec(template);
  return bare?.[1] ?? template;
}

export function toTrustedIssuerDto(r: IssuerRow): TrustedIssuerDto {
  return {
    id: r.id,
    name: r.name,
    issuer: r.issuer,
    jwksUrl: r.jwksUrl,
    audience: r.audience,
    subjectClaim: fromTemplate(r.subjectTemplate),
    groupMappings: r.groupMappings as GroupMapping[],
    maxTokenLifetimeSeconds: r.maxTokenLifetime,
    enabled: r.enabled,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

export type TrustedIssuersService = ReturnType<typeof createTrustedIssuersService>;

/** Admin-managed issuers whose JWTs may be exchanged for Sluice tokens. */
export function createTrustedIssuersService(deps: { prisma: Db; mutate: Mutate; onChange?: () => void }) {
  const { prisma, mutate } = deps;

  async function find(ref: string) {
    const row = await prisma.trustedIssuer.findUnique({ where: byIdOrName(ref) });
    if (!row) throw new AppError("trusted_issuer.not_found", `trusted issuer ${ref} not found`);
    return row;
  }

  async function checkGroups(mappings: GroupMapping[] | undefined) {
    const names = [...new Set((mappings ?? []).map((m) => m.group))];
    const found = await prisma.group.findMany({ where: { name: { in: names } }, select: { name: true } });
    const missing = names.filter((n) => !found.some((g) => g.name === n));
    if (missing.length > 0) throw new AppError("group.not_found", `unknown group(s): ${missing.join(", ")}`);
  }

  return {
    find,
    async list() {
      const rows = await prisma.trustedIssuer.findMany({ orderBy: { createdAt: "asc" }, take: 1000 });
      return rows.map(toTrustedIssuerDto);
    },
    async get(ref: string) {
      return toTrustedIssuerDto(await find(ref));
    },
    async create(actor: Actor, input: CreateTrustedIssuerInput) {
      await checkGroups(input.groupMappings);
      const clash = await prisma.trustedIssuer.findFirst({
        where: { OR: [{ name: input.name }, { issuer: input.issuer }] },
      });
      if (clash) {
        throw new AppError("trusted_issuer.exists", "a trusted issuer with that name or issuer exists");
      }
      const row = await mutate(actor, async ({ tx, audit }) => {
        const created = await tx.trustedIssuer.create({
          data: {
            name: input.name,
            issuer: input.issuer,
            jwksUrl: input.jwksUrl ?? null,
            audience: input.audience,
            subjectTemplate: toTemplate(input.subjectClaim),
            groupMappings: input.groupMappings,
            maxTokenLifetime: input.maxTokenLifetimeSeconds,
            enabled: input.enabled,
          },
        });
        await audit({
          action: "trusted_issuer.create",
          targetType: "trusted_issuer",
          targetId: created.id,
          details: { issuer: input.issuer, audience: input.audience },
        });
        return created;
      });
      deps.onChange?.();
      return toTrustedIssuerDto(row);
    },
    async update(actor: Actor, ref: string, input: UpdateTrustedIssuerInput) {
      const existing = await find(ref);
      await checkGroups(input.groupMappings);
      const row = await mutate(actor, async ({ tx, audit }) => {
        const updated = await tx.trustedIssuer.update({
          where: { id: existing.id },
          data: {
            issuer: input.issuer,
            jwksUrl: input.jwksUrl,
            audience: input.audience,
            subjectTemplate: input.subjectClaim ? toTemplate(input.subjectClaim) : undefined,
            groupMappings: input.groupMappings,
            maxTokenLifetime: input.maxTokenLifetimeSeconds,
            enabled: input.enabled,
          },
        });
        await audit({
          action: "trusted_issuer.update",
          targetType: "trusted_issuer",
          targetId: existing.id,
          details: { fields: Object.keys(input) },
        });
        return updated;
      });
      deps.onChange?.();
      return toTrustedIssuerDto(row);
    },
    async addMapping(actor: Actor, idpGroup: string, groupId: string) {
      return mutate(actor, async ({ tx, audit }) => {
        const row = await tx.idpGroupMapping.create({ data: { idpGroup, groupId } });
        await audit({
          action: "idp_group_mapping.create",
          targetType: "idp_group_mapping",
          targetId: row.id,
          details: { idpGroup, groupId },
        });
        return row;
      });
    },
    async removeMapping(actor: Actor, id: string) {
      await mutate(actor, async ({ tx, audit }) => {
        await tx.idpGroupMapping.delete({ where: { id } });
        await audit({ action: "idp_group_mapping.delete", targetType: "idp_group_mapping", targetId: id });
      });
    },
    async remove(actor: Actor, ref: string) {
      const existing = await find(ref);
      await mutate(actor, async ({ tx, audit }) => {
        await tx.trustedIssuer.delete({ where: { id: existing.id } });
        await audit({ action: "trusted_issuer.delete", targetType: "trusted_issuer", targetId: existing.id });
      });
      deps.onChange?.();
    },
  };
}
