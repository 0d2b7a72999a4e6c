import { AppError } from "@sluice/errors";
import { z } from "zod";
import type { Db } from "../../lib/db";
import { byIdOrName, isUuid } from "../../lib/ids";
import type { Actor, Mutate } from "../../lib/mutate";
import { description, name, timestamp } from "../../lib/schemas";

export const groupDto = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  members: z.number().int(),
  createdAt: timestamp,
});
export const createGroupBody = z.strictObject({ name, description: description.default("") });
export const updateGroupBody = z.strictObject({ name: name.optional(), description: description.optional() });

type GroupRow = {
  id: string;
  name: string;
  description: string;
  createdAt: Date;
  _count: { memberships: number };
};

function toDto(g: GroupRow): z.infer<typeof groupDto> {
  return {
    id: g.id,
    name: g.name,
    description: g.description,
    members: g._count.memberships,
    createdAt: g.createdAt.toISOString(),
  };
}

const counted = { _count: { select: { memberships: true } } } as const;

export type GroupsService = ReturnType<typeof createGroupsService>;

export function createGroupsService(deps: { prisma: Db; mutate: Mutate }) {
  const { prisma, mutate } = deps;

  async function find(ref: string) {
    const group = await prisma.group.findUnique({ where: byIdOrName(ref), include: counted });
    if (!group) throw new AppError("group.not_found", `group ${ref} not found`);
    return group;
  }

  async function assertNameFree(groupName: string) {
    if (await prisma.group.findUnique({ where: { name: groupName } })) {
      throw new AppError("group.exists", `group ${groupName} already exists`);
    }
  }

  async function findUser(ref: string) {
    const user = await prisma.user.findUnique({ where: isUuid(ref) ? { id: ref } : { email: ref } });
    if (!user) throw new AppError("user.not_found", `user ${ref} not found`);
    return user;
  }

  return {
    async list() {
      return (await prisma.group.findMany({ include: counted, orderBy: { name: "asc" }, take: 1000 })).map(
        toDto,
      );
    },
    async get(ref: string) {
      return toDto(await find(ref));
    },
    async create(actor: Actor, input: z.infer<typeof createGroupBody>) {
      await assertNameFree(input.name);
      return toDto(
        await mutate(actor, async ({ tx, audit }) => {
          const g = await tx.group.create({ data: input, include: counted });
          await audit({
            action: "group.create",
            targetType: "group",
            targetId: g.id,
            details: { name: g.name },
          });
          return g;
        }),
      );
    },
    async update(actor: Actor, ref: string, input: z.infer<typeof updateGroupBody>) {
      const group = await find(ref);
      if (input.name && input.name !== group.name) await assertNameFree(input.name);
      return toDto(
        await mutate(actor, async ({ tx, audit }) => {
          const g = await tx.group.update({ where: { id: group.id }, data: input, include: counted });
          await audit({
            action: "group.update",
            targetType: "group",
            targetId: g.id,
            details: { fields: Object.keys(input) },
          });
          return g;
        }),
      );
    },
    async remove(actor: Actor, ref: string) {
      const group = await find(ref);
      await mutate(actor, async ({ tx, audit }) => {
        await tx.group.delete({ where: { id: group.id } });
        await audit({
          action: "group.delete",
          targetType: "group",
          targetId: group.id,
          details: { name: group.name },
        });
      });
    },
    async addMember(actor: Actor, groupRef: string, userRef: string) {
      const [group, user] = [await find(groupRef), await findUser(userRef)];
      await mutate(actor, async ({ tx, audit }) => {
        await tx.groupMembership.upsert({
          where: { userId_groupId: { userId: user.id, groupId: group.id } },
          // An admin's add pins the membership: a later login no longer removes it.
          create: { userId: user.id, groupId: group.id, source: "manual" },
          update: { source: "manual" },
        });
        await audit({
          action: "group.member_add",
          targetType: "group",
          targetId: group.id,
          details: { userId: user.id },
        });
      });
    },
    async removeMember(actor: Actor, groupRef: string, userRef: string) {
      const [group, user] = [await find(groupRef), await findUser(userRef)];
      await mutate(actor, async ({ tx, audit }) => {
        await tx.groupMembership.deleteMany({ where: { userId: user.id, groupId: group.id } });
        await audit({
          action: "group.member_remove",
          targetType: "group",
          targetId: group.id,
          details: { userId: user.id },
        });
      });
    },
  };
}
