import { AppError } from "@sluice/errors";
import type { Db, Tx } from "../../lib/db";
import { byIdOrName } from "../../lib/ids";
import type { Actor, Mutate } from "../../lib/mutate";
import type { Principal } from "../../server/principal";
import { connectionOptions, mayUse } from "../connections/connections.service";
import type { ReviewEffects } from "./review-effects";
import { reviewInclude, toReviewDto } from "./review-model";
import type { CreateReviewInput, ReviewDto } from "./reviews.schemas";

/** Just-in-time access requests: `sluice request <conn> --for 1h --reason …`. */
export function createAccessRequests(deps: {
  prisma: Db;
  mutate: Mutate;
  effects: Pick<ReviewEffects, "requested">;
  publicUrl: () => string;
}) {
  /** The connection and its access settings, when the caller may use it and it requires approval. */
  async function approvalSettings(p: Principal, input: CreateReviewInput) {
    const conn = await deps.prisma.connection.findUnique({ where: byIdOrName(input.connection) });
    if (!conn || !mayUse(p, conn.allowedGroups)) {
      throw new AppError("connection.not_found", `connection ${input.connection} not found`);
    }
    const access = connectionOptions(conn).access;
    if (!access?.requireApproval) {
      throw new AppError(
        "access.not_required",
        `${conn.name} does not require approval; connect to it directly`,
      );
    }
    if (input.durationSeconds > access.maxDurationSeconds) {
      throw new AppError(
        "review.invalid",
        `${conn.name} grants access for at most ${access.maxDurationSeconds} seconds; ask for less`,
      );
    }
    return { conn, access };
  }

  /** One pending request per user and connection, even when two arrive at once. */
  async function assertNonePending(tx: Tx, userId: string, conn: { id: string; name: string }, now: Date) {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(7313002, hashtext(${`${userId}:${conn.id}`}))`;
    const pending = await tx.review.findFirst({
      where: {
        kind: "access",
        status: "pending",
        requesterId: userId,
        connectionId: conn.id,
        expiresAt: { gt: now },
      },
      select: { id: true },
    });
    if (pending) {
      throw new AppError(
        "review.exists",
        `you already asked for access to ${conn.name}: review ${pending.id} is waiting for reviewers`,
        { details: { review: pending.id } },
      );
    }
  }

  return {
    async request(actor: Actor & { principal: Principal }, input: CreateReviewInput): Promise<ReviewDto> {
      const p = actor.principal;
      const { conn, access } = await approvalSettings(p, input);
      const now = new Date();
      const row = await deps.mutate(actor, async ({ tx, audit }) => {
        await assertNonePending(tx, p.userId, conn, now);
        const r = await tx.review.create({
          data: {
            kind: "access",
            requesterId: p.userId,
            connectionId: conn.id,
            reason: input.reason,
            // Holds the requested window while pending; rewritten to count from the approval.
            accessUntil: new Date(now.getTime() + input.durationSeconds * 1000),
            expiresAt: new Date(now.getTime() + access.requestTimeoutSeconds * 1000),
            requiredGroups: access.reviewerGroups,
            minApprovals: access.minApprovals,
            createdAt: now,
          },
          include: reviewInclude,
        });
        await audit({
          action: "review.request",
          targetType: "review",
          targetId: r.id,
          details: {
            kind: "access",
            connection: conn.name,
            durationSeconds: input.durationSeconds,
            reason: input.reason,
            reviewerGroups: r.requiredGroups,
          },
        });
        return r;
      });
      await deps.effects.requested(row);
      return toReviewDto(row, p, deps.publicUrl());
    },
  };
}
