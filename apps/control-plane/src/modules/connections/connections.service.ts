import { connectionTypeSpec, connectionTypeSpecs, missingFields } from "@sluice/connection-types";
import { AppError } from "@sluice/errors";
import type { Db, Tx } from "../../lib/db";
import { byIdOrName, isUuid } from "../../lib/ids";
import type { Actor, Mutate } from "../../lib/mutate";
import type { Principal } from "../../server/principal";
import type {
  ConnectionDto,
  ConnectionOptions,
  CreateConnectionInput,
  UpdateConnectionInput,
} from "./connections.schemas";

const withPolicies = {
  policies: { include: { policy: { select: { id: true, name: true } } }, orderBy: { position: "asc" } },
} as const;

type ConnectionRow = NonNullable<Awaited<ReturnType<Db["connection"]["findFirst"]>>> & {
  policies: { policy: { id: string; name: string } }[];
};

export function connectionOptions(row: { options: unknown }): ConnectionOptions {
  const o = (row.options ?? {}) as Partial<ConnectionOptions>;
  return {
    tls: o.tls ?? { mode: "disable" },
    ...(o.ssh ? { ssh: o.ssh } : {}),
    ...(o.mysql ? { mysql: o.mysql } : {}),
    ...(o.http ? { http: o.http } : {}),
    ...(o.kubernetes ? { kubernetes: o.kubernetes } : {}),
    ...(o.access ? { access: o.access } : {}),
    recordRowsLimit: o.recordRowsLimit ?? 100,
    offlineGraceSeconds: o.offlineGraceSeconds ?? 60,
  };
}

function toDto(c: ConnectionRow, showRef: boolean): ConnectionDto {
  const o = connectionOptions(c);
  return {
    id: c.id,
    name: c.name,
    type: c.type,
    description: c.description,
    host: c.host,
    port: c.port,
    database: c.database,
    username: c.username,
    ...(showRef ? { credentialRef: c.credentialRef } : {}),
    tls: o.tls,
    ...(o.ssh ? { ssh: o.ssh } : {}),
    ...(o.mysql ? { mysql: o.mysql } : {}),
    ...(o.http ? { http: o.http } : {}),
    ...(o.kubernetes ? { kubernetes: o.kubernetes } : {}),
    ...(o.access ? { access: o.access } : {}),
    agentSegment: c.agentSegment,
    agentLabels: c.agentLabels as Record<string, string>,
    allowedGroups: c.allowedGroups,
    policies: c.policies.map((p) => p.policy),
    recordRowsLimit: o.recordRowsLimit,
    offlineGraceSeconds: o.offlineGraceSeconds,
    createdAt: c.createdAt.toISOString(),
    updatedAt: c.updatedAt.toISOString(),
  };
}

/** A user may use a connection when they share a group with its allow-list; admins always may. */
export function mayUse(principal: Principal, allowedGroups: string[]): boolean {
  return principal.role === "admin" || allowedGroups.some((g) => principal.groups.includes(g));
}

export type ConnectionsService = ReturnType<typeof createConnectionsService>;

export function createConnectionsService(deps: { prisma: Db; mutate: Mutate }) {
  const { prisma, mutate } = deps;
  const privileged = (p: Principal) => p.role === "admin" || p.role === "auditor";

  async function find(ref: string) {
    const c = await prisma.connection.findUnique({ where: byIdOrName(ref), include: withPolicies });
    if (!c) throw new AppError("connection.not_found", `connection ${ref} not found`);
    return c;
  }

  async function resolvePolicies(refs: string[]) {
    const ids = refs.filter(isUuid);
    const names = refs.filter((r) => !isUuid(r));
    const found = await prisma.policy.findMany({
      where: { OR: [{ id: { in: ids } }, { name: { in: names } }] },
    });
    const missing = refs.filter((r) => !found.some((p) => p.id === r || p.name === r));
    if (missing.length > 0)
      throw new AppError("policy.not_found", `unknown policy(ies): ${missing.join(", ")}`);
    return refs.map((r) => found.find((p) => p.id === r || p.name === r)!);
  }

  function sqlTypes(): string {
    return Object.values(connectionTypeSpecs)
      .filter((t) => t.enforces.some((e) => e === "guardrails" || e === "command-rules"))
      .map((t) => t.name)
      .join(", ");
  }

  async function validate(
    type: string,
    fields: { database?: string | null; username?: string | null },
    policyRefs: string[],
  ) {
    const spec = connectionTypeSpec(type);
    if (!spec) throw new AppError("connection.invalid", `unknown connection type ${type}`);
    const missing = missingFields(type, fields);
    if (missing.length > 0) {
      const article = /^[aeiou]/.test(type) ? "an" : "a";
      throw new AppError(
        "connection.invalid",
        `${article} ${type} connection needs ${missing.join(" and ")}`,
      );
    }
    const policies = await resolvePolicies(policyRefs);
    const enforcesSql = spec.enforces.includes("guardrails") || spec.enforces.includes("masking");
    const enforced = enforcesSql
      ? undefined
      : policies.find((p) => (p.guardrails as unknown[]).length + (p.masking as unknown[]).length > 0);
    // Command rules ride on guardrails; a type enforcing none of them refuses any guardrail policy.
    if (enforced && !spec.enforces.includes("command-rules")) {
      throw new AppError(
        "connection.invalid",
        `a ${type} connection cannot enforce guardrails or masking (policy ${enforced.name}); use a type that does (${sqlTypes()})`,
      );
    }
    return policies;
  }

  async function setPolicies(tx: Tx, connectionId: string, policyIds: string[]) {
    await tx.connectionPolicy.deleteMany({ where: { connectionId } });
    await tx.connectionPolicy.createMany({
      data: policyIds.map((policyId, position) => ({ connectionId, policyId, position })),
    });
  }

  return {
    find,
    async list(principal: Principal) {
      const rows = await prisma.connection.findMany({
        include: withPolicies,
        orderBy: { name: "asc" },
        take: 1000,
      });
      return rows
        .filter((c) => privileged(principal) || mayUse(principal, c.allowedGroups))
        .map((c) => toDto(c, privileged(principal)));
    },
    async get(principal: Principal, ref: string) {
      const c = await find(ref);
      // Another user's connection is a 404, not a 403: do not reveal that it exists.
      if (!privileged(principal) && !mayUse(principal, c.allowedGroups)) {
        throw new AppError("connection.not_found", `connection ${ref} not found`);
      }
      return toDto(c, privileged(principal));
    },
    async create(actor: Actor, input: CreateConnectionInput) {
      if (await prisma.connection.findUnique({ where: { name: input.name } })) {
        throw new AppError("connection.exists", `connection ${input.name} already exists`);
      }
      const policies = await validate(input.type, input, input.policyIds);
      const {
        policyIds: _p,
        tls,
        ssh,
        mysql,
        http,
        kubernetes,
        access,
        recordRowsLimit,
        offlineGraceSeconds,
        ...fields
      } = input;
      const options: ConnectionOptions = {
        tls: tls ?? { mode: "disable" },
        ...(ssh ? { ssh } : {}),
        ...(mysql ? { mysql } : {}),
        ...(http ? { http } : {}),
        ...(kubernetes ? { kubernetes } : {}),
        ...(access ? { access } : {}),
        recordRowsLimit,
        offlineGraceSeconds,
      };
      const row = await mutate(actor, async ({ tx, audit, change }) => {
        const c = await tx.connection.create({ data: { ...fields, options: options as object } });
        await setPolicies(
          tx,
          c.id,
          policies.map((p) => p.id),
        );
        await audit({
          action: "connection.create",
          targetType: "connection",
          targetId: c.id,
          details: { name: c.name, type: c.type },
        });
        await change("connection.upsert", c.id);
        return tx.connection.findUniqueOrThrow({ where: { id: c.id }, include: withPolicies });
      });
      return toDto(row, true);
    },
    async update(actor: Actor, ref: string, input: UpdateConnectionInput) {
      const existing = await find(ref);
      if (
        input.name &&
        input.name !== existing.name &&
        (await prisma.connection.findUnique({ where: { name: input.name } }))
      ) {
        throw new AppError("connection.exists", `connection ${input.name} already exists`);
      }
      const merged = {
        database: input.database === undefined ? existing.database : input.database,
        username: input.username === undefined ? existing.username : input.username,
      };
      const policyRefs = input.policyIds ?? existing.policies.map((p) => p.policy.id);
      const policies = await validate(existing.type, merged, policyRefs);
      const {
        policyIds,
        tls,
        ssh,
        mysql,
        http,
        kubernetes,
        access,
        recordRowsLimit,
        offlineGraceSeconds,
        ...fields
      } = input;
      const prev = connectionOptions(existing);
      const options: ConnectionOptions = {
        tls: tls ?? prev.tls,
        ...((ssh ?? prev.ssh) ? { ssh: ssh ?? prev.ssh } : {}),
        ...((mysql ?? prev.mysql) ? { mysql: mysql ?? prev.mysql } : {}),
        ...((http ?? prev.http) ? { http: http ?? prev.http } : {}),
        ...((kubernetes ?? prev.kubernetes) ? { kubernetes: kubernetes ?? prev.kubernetes } : {}),
        ...((access ?? prev.access) ? { access: access ?? prev.access } : {}),
        recordRowsLimit: recordRowsLimit ?? prev.recordRowsLimit,
        offlineGraceSeconds: offlineGraceSeconds ?? prev.offlineGraceSeconds,
      };
      const row = await mutate(actor, async ({ tx, audit, change }) => {
        await tx.connection.update({
          where: { id: existing.id },
          data: { ...fields, options: options as object },
        });
        if (policyIds)
          await setPolicies(
            tx,
            existing.id,
            policies.map((p) => p.id),
          );
        await audit({
          action: "connection.update",
          targetType: "connection",
          targetId: existing.id,
          details: { fields: Object.keys(input) },
        });
        await change("connection.upsert", existing.id);
        return tx.connection.findUniqueOrThrow({ where: { id: existing.id }, include: withPolicies });
      });
      return toDto(row, true);
    },
    async remove(actor: Actor, ref: string) {
      const existing = await find(ref);
      await mutate(actor, async ({ tx, audit, change }) => {
        const used = await tx.session.count({ where: { connectionId: existing.id } });
        if (used > 0) {
          throw new AppError(
            "connection.invalid",
            "connection has recorded sessions and cannot be deleted; remove its allowed groups to retire it",
          );
        }
        await tx.connection.delete({ where: { id: existing.id } });
        await audit({
          action: "connection.delete",
          targetType: "connection",
          targetId: existing.id,
          details: { name: existing.name },
        });
        await change("connection.delete", existing.id);
      });
    },
  };
}
