import { AppError } from "@sluice/errors";
import type { Db } from "../../lib/db";
import type { Actor, Mutate } from "../../lib/mutate";
import { connectionOptions } from "../connections/connections.service";

/** The approved access review that lets `userId` use the connection now, if any. */
export async function currentAccessGrant(prisma: Db, userId: string, connectionId: string, now = new Date()) {
  return prisma.review.findFirst({
    where: {
      kind: "access",
      status: "approved",
      requesterId: userId,
      connectionId,
      accessUntil: { gt: now },
    },
    orderBy: { accessUntil: "desc" },
  });
}

/**
 * Refuses a session on a connection that requires approval unless the caller holds an
 * approved, unexpired access review for it. The refusal is audited and tells the
 * caller how to ask for access.
 */
export async function requireAccessApproval(
  deps: { prisma: Db; mutate: Mutate },
  actor: Actor & { principal: { userId: string } },
  conn: { id: string; name: string; options: unknown },
): Promise<void> {
  if (!connectionOptions(conn).access?.requireApproval) return;
  const userId = actor.principal.userId;
  if (await currentAccessGrant(deps.prisma, userId, conn.id)) return;
  const pending = await deps.prisma.review.findFirst({
    where: {
      kind: "access",
      status: "pending",
      requesterId: userId,
      connectionId: conn.id,
      expiresAt: { gt: new Date() },
    },
    select: { id: true },
  });
  await deps.mutate(actor, ({ audit }) =>
    audit({
      action: "session.start",
      outcome: "denied",
      targetType: "connection",
      targetId: conn.id,
      details: { reason: "approval required", pendingReview: pending?.id ?? null },
    }),
  );
  const next = pending
    ? `your request ${pending.id} is waiting for reviewers (see \`sluice reviews show ${pending.id}\`)`
    : `ask for it with \`sluice request ${conn.name} --for 1h --reason "…"\``;
  throw new AppError(
    "access.approval_required",
    `${conn.name} requires approved access and you hold none right now: ${next}`,
    { details: { connection: conn.name, ...(pending ? { pendingReview: pending.id } : {}) } },
  );
}
