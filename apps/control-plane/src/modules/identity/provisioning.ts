import type { Db, Tx } from "../../lib/db";
import type { Mutate } from "../../lib/mutate";

const externalId = (issuer: string, subject: string) => `${issuer}#${subject}`;

/**
 * Makes the identity provider's memberships of a user exactly `wanted`. Memberships an admin
 * granted are left alone: the IdP neither removes them nor takes them over.
 */
async function syncIdpMemberships(tx: Tx, userId: string, wanted: Set<string>): Promise<void> {
  await tx.groupMembership.deleteMany({ where: { userId, source: "idp", groupId: { notIn: [...wanted] } } });
  await tx.groupMembership.createMany({
    data: [...wanted].map((groupId) => ({ userId, groupId, source: "idp" as const })),
    skipDuplicates: true,
  });
}

/**
 * Finds or creates the service identity a trusted issuer's subject maps to, and sets its
 * IdP groups to the mapped ones (the issuer's claims own them; an admin's grants stay).
 */
export async function syncServiceIdentity(
  deps: { prisma: Db; mutate: Mutate },
  input: {
    issuer: { id: string; issuer: string; name: string };
    subject: string;
    groups: string[];
    clientAddress: string | null;
  },
) {
  const key = externalId(input.issuer.issuer, input.subject);
  const groups = await deps.prisma.group.findMany({ where: { name: { in: input.groups } } });
  const existing = await deps.prisma.user.findUnique({
    where: { oidcSubject: key },
    include: { memberships: { where: { source: "idp" } } },
  });
  const wanted = new Set(groups.map((g) => g.id));
  const have = new Set(existing?.memberships.map((m) => m.groupId) ?? []);
  const same = existing && wanted.size === have.size && [...wanted].every((id) => have.has(id));
  if (existing && same) return existing;
  return deps.mutate(
    { principal: null, kind: "system", clientAddress: input.clientAddress },
    async ({ tx, audit }) => {
      const user =
        existing ??
        (await tx.user.create({
          data: { name: input.subject, kind: "service", role: "user", oidcSubject: key },
        }));
      await syncIdpMemberships(tx, user.id, wanted);
      await audit({
        action: existing ? "user.groups_sync" : "user.provision",
        targetType: "user",
        targetId: user.id,
        details: { issuer: input.issuer.name, subject: input.subject, groups: input.groups, kind: "service" },
      });
      return user;
    },
  );
}

/**
 * Finds or creates a person from an OIDC login and syncs role and groups from the
 * IdP's claims: mapped IdP groups plus Sluice groups of the same name. Groups an admin
 * added the person to stay.
 */
export async function syncPerson(
  deps: { prisma: Db; mutate: Mutate },
  input: {
    issuer: string;
    subject: string;
    name: string;
    email: string | null;
    idpGroups: string[];
    /** Undefined keeps the current role (new users get `user`). */
    role: "admin" | "auditor" | "user" | undefined;
    clientAddress: string | null;
  },
) {
  const key = externalId(input.issuer, input.subject);
  const mappings = await deps.prisma.idpGroupMapping.findMany({
    where: { idpGroup: { in: input.idpGroups } },
  });
  const sameName = await deps.prisma.group.findMany({ where: { name: { in: input.idpGroups } } });
  const wanted = new Set([...mappings.map((m) => m.groupId), ...sameName.map((g) => g.id)]);
  const existing = await deps.prisma.user.findUnique({ where: { oidcSubject: key } });
  const byEmail =
    !existing && input.email ? await deps.prisma.user.findUnique({ where: { email: input.email } }) : null;
  return deps.mutate(
    { principal: null, kind: "system", clientAddress: input.clientAddress },
    async ({ tx, audit }) => {
      const current = existing ?? byEmail;
      const role = input.role ?? current?.role ?? "user";
      const user = current
        ? await tx.user.update({
            where: { id: current.id },
            data: { oidcSubject: key, name: input.name, role },
          })
        : await tx.user.create({
            data: {
              name: input.name,
              email: input.email,
              kind: "human",
              role,
              oidcSubject: key,
            },
          });
      await syncIdpMemberships(tx, user.id, wanted);
      if (!current || current.role !== role) {
        await audit({
          action: current ? "user.role_sync" : "user.provision",
          targetType: "user",
          targetId: user.id,
          details: { issuer: input.issuer, role, kind: "human" },
        });
      }
      return user;
    },
  );
}
