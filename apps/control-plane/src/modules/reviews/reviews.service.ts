import { AppError } from "@sluice/errors";
import type { Db, Tx } from "../../lib/db";
import { byIdOrName, isUuid } from "../../lib/ids";
import type { Actor, Mutate } from "../../lib/mutate";
import type { Principal } from "../../server/principal";
import { createAccessRequests } from "./access-requests";
import type { ReviewEffects } from "./review-effects";
import {
  accessDurationSeconds,
  type Decision,
  decisionsOf,
  isEligibleReviewer,
  mayView,
  type ReviewRow,
  reviewInclude,
  toReviewDto,
} from "./review-model";
import type { ReviewSweeper } from "./review-sweeper";
import type { ListReviewsQuery, ReviewDto } from "./reviews.schemas";

export interface ReviewsServiceDeps {
  prisma: Db;
  mutate: Mutate;
  effects: Pick<ReviewEffects, "requested" | "decided" | "approvalAdded">;
  sweeper: Pick<ReviewSweeper, "expire">;
  publicUrl: () => string;
}

type PersonActor = Actor & { principal: Principal };

const privileged = (p: Principal) => p.role === "admin" || p.role === "auditor";

/** Serializes decisions on one review: two reviewers approving at once both count. */
async function lockReview(tx: Tx, id: string): Promise<ReviewRow> {
  await tx.$queryRaw`SELECT id FROM reviews WHERE id = ${id}::uuid FOR UPDATE`;
  return tx.review.findUniqueOrThrow({ where: { id }, include: reviewInclude });
}

function isLive(session: { status: string; endedAt: Date | null } | null): boolean {
  return !!session && !session.endedAt && (session.status === "pending" || session.status === "active");
}

/** What recording a decision changes: the decisions list, and the outcome once it is decided. */
async function decisionUpdate(tx: Tx, r: ReviewRow, decisions: Decision[], now: Date) {
  const data: Record<string, unknown> = { decisions: decisions as object };
  const last = decisions.at(-1);
  const approvals = decisions.filter((d) => d.decision === "approve").length;
  if (last?.decision === "deny") return { ...data, status: "denied", decidedAt: now };
  if (approvals < r.minApprovals) return data;
  Object.assign(data, { status: "approved", decidedAt: now });
  if (r.kind === "access") {
    data.accessUntil = new Date(now.getTime() + (accessDurationSeconds(r) ?? 0) * 1000);
  } else if (r.sessionId) {
    // The agent still holds the statement: it runs now, so this approval is used up.
    const session = await tx.session.findUnique({
      where: { id: r.sessionId },
      select: { status: true, endedAt: true },
    });
    if (isLive(session)) data.consumedAt = now;
  }
  return data;
}

export type ReviewsService = ReturnType<typeof createReviewsService>;

/** People's side of reviews: ask for access, list and read reviews, approve, deny and revoke. */
export function createReviewsService(deps: ReviewsServiceDeps) {
  const { prisma, mutate } = deps;
  const dto = (row: ReviewRow, p: Principal) => toReviewDto(row, p, deps.publicUrl());
  const accessRequests = createAccessRequests(deps);

  async function findVisible(p: Principal, id: string): Promise<ReviewRow> {
    const row = isUuid(id) ? await prisma.review.findUnique({ where: { id }, include: reviewInclude }) : null;
    // A review the caller may not see is a 404: do not reveal that it exists.
    if (!row || !mayView(p, row)) throw new AppError("review.not_found", `review ${id} not found`);
    return row;
  }

  /** Records a refused decision in the audit log, then refuses. */
  async function refuse(actor: PersonActor, row: ReviewRow, action: string, message: string): Promise<never> {
    await mutate(actor, ({ audit }) =>
      audit({
        action,
        outcome: "denied",
        targetType: "review",
        targetId: row.id,
        details: { kind: row.kind, connection: row.connection.name, statementHash: row.statementHash },
      }),
    );
    throw new AppError("review.forbidden", message);
  }

  /** Checks who may decide, outside the transaction so refusals are audited. */
  async function assertMayDecide(actor: PersonActor, row: ReviewRow, action: string): Promise<void> {
    const p = actor.principal;
    if (row.requesterId === p.userId) {
      await refuse(actor, row, action, "you cannot approve or deny your own request; another reviewer must");
    }
    if (!isEligibleReviewer(p, row)) {
      await refuse(
        actor,
        row,
        action,
        `only members of ${row.requiredGroups.join(", ")} may decide this review`,
      );
    }
  }

  /** Refuses a review that is no longer pending; `expire` records an expiry that is due (outside a transaction). */
  async function assertPending(row: ReviewRow, now: Date, expire: boolean): Promise<void> {
    if (row.status === "pending" && row.expiresAt <= now) {
      if (expire) await deps.sweeper.expire(row.id, now);
      throw new AppError("review.not_pending", `review ${row.id} has expired`);
    }
    if (row.status !== "pending") {
      throw new AppError("review.not_pending", `review ${row.id} is already ${row.status}`);
    }
  }

  return {
    requestAccess: accessRequests.request,

    async list(p: Principal, q: ListReviewsQuery): Promise<ReviewDto[]> {
      const now = new Date();
      const and: Record<string, unknown>[] = [];
      if (!privileged(p)) {
        and.push({ OR: [{ requesterId: p.userId }, { requiredGroups: { hasSome: p.groups } }] });
      }
      if (q.status) and.push({ status: q.status });
      if (q.kind) and.push({ kind: q.kind });
      if (q.connection) and.push({ connection: byIdOrName(q.connection) });
      if (q.mine) and.push({ requesterId: p.userId });
      if (q.toReview) {
        and.push({
          status: "pending",
          expiresAt: { gt: now },
          requesterId: { not: p.userId },
          requiredGroups: { hasSome: p.groups },
          NOT: { decisions: { array_contains: [{ userId: p.userId }] } },
        });
      }
      if (q.before) and.push({ createdAt: { lt: new Date(q.before) } });
      const rows = await prisma.review.findMany({
        where: { AND: and },
        include: reviewInclude,
        orderBy: { createdAt: "desc" },
        take: q.limit,
      });
      return rows.map((r) => toReviewDto(r, p, deps.publicUrl(), now));
    },

    async get(p: Principal, id: string): Promise<ReviewDto> {
      return dto(await findVisible(p, id), p);
    },

    async decide(
      actor: PersonActor,
      id: string,
      decision: "approve" | "deny",
      comment: string | undefined,
    ): Promise<ReviewDto> {
      const p = actor.principal;
      const action = `review.${decision}`;
      const current = await findVisible(p, id);
      await assertMayDecide(actor, current, action);
      const now = new Date();
      await assertPending(current, now, true);
      const row = await mutate(actor, async ({ tx, audit }) => {
        const r = await lockReview(tx, id);
        await assertPending(r, now, false);
        const previous = decisionsOf(r);
        if (previous.some((d) => d.userId === p.userId && d.decision !== "revoke")) {
          throw new AppError("review.already_decided", `you already decided review ${id}`);
        }
        const entry: Decision = {
          userId: p.userId,
          name: p.name,
          decision,
          comment: comment || null,
          at: now.toISOString(),
        };
        const decisions = [...previous, entry];
        const approvals = decisions.filter((d) => d.decision === "approve").length;
        const data = await decisionUpdate(tx, r, decisions, now);
        const updated = await tx.review.update({ where: { id }, data, include: reviewInclude });
        await audit({
          action,
          targetType: "review",
          targetId: id,
          details: {
            kind: r.kind,
            connection: r.connection.name,
            status: updated.status,
            approvals,
            minApprovals: r.minApprovals,
            statementHash: r.statementHash,
            ...(entry.comment ? { comment: entry.comment } : {}),
          },
        });
        return updated;
      });
      if (row.status !== "pending") await deps.effects.decided(row);
      else await deps.effects.approvalAdded(row);
      return dto(row, p);
    },

    /** Withdraws a pending review or takes back an approval; a revoked access review ends live sessions. */
    async revoke(actor: PersonActor, id: string, comment: string | undefined): Promise<ReviewDto> {
      const p = actor.principal;
      const current = await findVisible(p, id);
      const allowed =
        p.role === "admin" || p.userId === current.requesterId || isEligibleReviewer(p, current);
      if (!allowed) {
        await refuse(
          actor,
          current,
          "review.revoke",
          "only the requester, an eligible reviewer or an admin may revoke this review",
        );
      }
      const now = new Date();
      const row = await mutate(actor, async ({ tx, audit }) => {
        const r = await lockReview(tx, id);
        const open = r.status === "pending" || (r.status === "approved" && !r.consumedAt);
        if (!open) {
          const state = r.status !== "approved" ? r.status : r.kind === "access" ? "over" : "used";
          throw new AppError("review.not_pending", `review ${id} is already ${state}; nothing to revoke`);
        }
        const entry: Decision = {
          userId: p.userId,
          name: p.name,
          decision: "revoke",
          comment: comment || null,
          at: now.toISOString(),
        };
        const updated = await tx.review.update({
          where: { id },
          data: {
            status: "revoked",
            revokedAt: now,
            decisions: [...decisionsOf(r), entry] as object,
            ...(r.decidedAt ? {} : { decidedAt: now }),
          },
          include: reviewInclude,
        });
        await audit({
          action: "review.revoke",
          targetType: "review",
          targetId: id,
          details: {
            kind: r.kind,
            connection: r.connection.name,
            previousStatus: r.status,
            statementHash: r.statementHash,
            ...(entry.comment ? { comment: entry.comment } : {}),
          },
        });
        return updated;
      });
      await deps.effects.decided(row);
      return dto(row, p);
    },
  };
}
