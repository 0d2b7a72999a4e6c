import { AppError } from "@sluice/errors";
import type { Db } from "../../lib/db";
import { isUuid } from "../../lib/ids";
import type { Actor, Mutate } from "../../lib/mutate";
import type { Principal } from "../../server/principal";
import { generateApiKey } from "../auth/api-key";
import type { TokensService } from "../auth/tokens.service";
import type { SessionRevoker } from "../sessions/session-revoker";
import type { CreateApiKeyInput, CreateUserInput, UpdateUserInput, UserDto } from "./users.schemas";

const withGroups = { memberships: { include: { group: { select: { name: true } } } } } as const;

type UserRow = NonNullable<Awaited<ReturnType<Db["user"]["findFirst"]>>> & {
  memberships: { group: { name: string } }[];
};

export function toUserDto(u: UserRow): UserDto {
  return {
    id: u.id,
    name: u.name,
    email: u.email,
    role: u.role,
    kind: u.kind === "service" ? "service" : "human",
    disabled: u.disabled,
    groups: u.memberships.map((m) => m.group.name).sort(),
    createdAt: u.createdAt.toISOString(),
    lastLoginAt: u.lastLoginAt?.toISOString() ?? null,
  };
}

function keyDto(k: {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  expiresAt: Date | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}) {
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    scopes: k.scopes,
    expiresAt: k.expiresAt?.toISOString() ?? null,
    createdAt: k.createdAt.toISOString(),
    lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
    revokedAt: k.revokedAt?.toISOString() ?? null,
  };
}

export type UsersService = ReturnType<typeof createUsersService>;

export function createUsersService(deps: {
  prisma: Db;
  mutate: Mutate;
  tokens: Pick<TokensService, "revokeUser">;
  revoker: Pick<SessionRevoker, "endFor">;
}) {
  const { prisma, mutate } = deps;

  async function find(ref: string) {
    const where = isUuid(ref) ? { id: ref } : { email: ref };
    const user = await prisma.user.findUnique({ where, include: withGroups });
    if (!user) throw new AppError("user.not_found", `user ${ref} not found`);
    return user;
  }

  /**
   * The user whose API keys the caller manages: anyone for admins, only themselves for
   * other callers. Anyone else is answered exactly like a user that does not exist, so
   * the answer tells no one which ids or emails are registered.
   */
  async function findManaged(principal: Principal, ref: string) {
    const user = await find(ref);
    if (principal.role !== "admin" && principal.userId !== user.id) {
      throw new AppError("user.not_found", `user ${ref} not found`);
    }
    return user;
  }

  async function groupIds(names: string[]) {
    const groups = await prisma.group.findMany({ where: { name: { in: names } } });
    const missing = names.filter((n) => !groups.some((g) => g.name === n));
    if (missing.length > 0) throw new AppError("group.not_found", `unknown group(s): ${missing.join(", ")}`);
    return groups.map((g) => g.id);
  }

  return {
    async me(principal: Principal) {
      const user = await find(principal.userId);
      const dto = toUserDto(user);
      return {
        id: dto.id,
        name: dto.name,
        email: dto.email,
        role: dto.role,
        kind: dto.kind,
        groups: dto.groups,
        scopes: principal.scopes ?? [],
      };
    },

    async list() {
      const users = await prisma.user.findMany({
        include: withGroups,
        orderBy: { createdAt: "asc" },
        take: 1000,
      });
      return users.map(toUserDto);
    },

    async get(ref: string) {
      return toUserDto(await find(ref));
    },

    async create(actor: Actor, input: CreateUserInput) {
      const ids = await groupIds(input.groups);
      if (input.email && (await prisma.user.findUnique({ where: { email: input.email } }))) {
        throw new AppError("user.exists", `a user with email ${input.email} already exists`);
      }
      const user = await mutate(actor, async ({ tx, audit }) => {
        const created = await tx.user.create({
          data: {
            name: input.name,
            email: input.email ?? null,
            role: input.role,
            kind: input.kind,
            memberships: { create: ids.map((groupId) => ({ groupId })) },
          },
          include: withGroups,
        });
        await audit({
          action: "user.create",
          targetType: "user",
          targetId: created.id,
          details: { role: input.role },
        });
        return created;
      });
      return toUserDto(user);
    },

    async update(actor: Actor, ref: string, input: UpdateUserInput) {
      const existing = await find(ref);
      if (actor.principal?.userId === existing.id && input.role && input.role !== existing.role) {
        throw new AppError("auth.forbidden", "you cannot change your own role");
      }
      const user = await mutate(actor, async ({ tx, audit }) => {
        const updated = await tx.user.update({
          where: { id: existing.id },
          data: input,
          include: withGroups,
        });
        await audit({
          action: "user.update",
          targetType: "user",
          targetId: existing.id,
          details: { fields: Object.keys(input) },
        });
        return updated;
      });
      if (input.disabled && !existing.disabled)
        await deps.tokens.revokeUser(actor, existing.id, "user disabled");
      return toUserDto(user);
    },

    async remove(actor: Actor, ref: string) {
      const existing = await find(ref);
      if (actor.principal?.userId === existing.id)
        throw new AppError("auth.forbidden", "you cannot delete yourself");
      const sessions = await prisma.session.count({ where: { userId: existing.id } });
      await mutate(actor, async ({ tx, audit }) => {
        // Users with session history are disabled rather than deleted, so recordings keep their owner.
        if (sessions > 0) await tx.user.update({ where: { id: existing.id }, data: { disabled: true } });
        else await tx.user.delete({ where: { id: existing.id } });
        await tx.apiKey.updateMany({
          where: { userId: existing.id, revokedAt: null },
          data: { revokedAt: new Date() },
        });
        await audit({
          action: "user.delete",
          targetType: "user",
          targetId: existing.id,
          details: { disabledOnly: sessions > 0 },
        });
      });
      if (sessions > 0) await deps.tokens.revokeUser(actor, existing.id, "user removed");
    },

    /** Revokes every login of the user and ends the user's live sessions. */
    async revokeTokens(actor: Actor, ref: string) {
      const user = await find(ref);
      const sessionsEnded = await deps.tokens.revokeUser(
        actor,
        user.id,
        "tokens revoked by an administrator",
      );
      return { sessionsEnded };
    },

    async createApiKey(actor: Actor & { principal: Principal }, ref: string, input: CreateApiKeyInput) {
      const user = await findManaged(actor.principal, ref);
      const key = generateApiKey();
      const row = await mutate(actor, async ({ tx, audit }) => {
        const created = await tx.apiKey.create({
          data: {
            userId: user.id,
            name: input.name,
            prefix: key.prefix,
            secretHash: key.secretHash,
            scopes: input.scopes,
            expiresAt: input.expiresInDays ? new Date(Date.now() + input.expiresInDays * 86_400_000) : null,
          },
        });
        await audit({
          action: "apikey.create",
          targetType: "api_key",
          targetId: created.id,
          details: { userId: user.id },
        });
        return created;
      });
      return { key: keyDto(row), secret: key.plaintext };
    },

    async listApiKeys(principal: Principal, ref: string) {
      const user = await findManaged(principal, ref);
      const keys = await prisma.apiKey.findMany({
        where: { userId: user.id },
        orderBy: { createdAt: "asc" },
      });
      return keys.map(keyDto);
    },

    async revokeApiKey(actor: Actor & { principal: Principal }, ref: string, keyId: string) {
      const user = await findManaged(actor.principal, ref);
      const key = isUuid(keyId)
        ? await prisma.apiKey.findFirst({ where: { id: keyId, userId: user.id } })
        : null;
      if (!key) throw new AppError("apikey.not_found", "API key not found");
      await mutate(actor, async ({ tx, audit }) => {
        await tx.apiKey.update({ where: { id: key.id }, data: { revokedAt: key.revokedAt ?? new Date() } });
        await audit({ action: "apikey.revoke", targetType: "api_key", targetId: key.id });
      });
      await deps.revoker.endFor({ credentialIds: [key.id] }, "API key revoked");
    },
  };
}
