import type { Logger } from "@sluice/logger";
import type { Db } from "../../lib/db";
import type { Notifier } from "../notifications/events";
import type { SessionRevoker } from "../sessions/session-revoker";
import { decisionsOf, type ReviewRow, reviewUrl, toReviewState } from "./review-model";
import type { ReviewPush } from "./review-push";

export interface ReviewEffectsDeps {
  prisma: Db;
  notifier: Notifier;
  push: Pick<ReviewPush, "push">;
  revoker: Pick<SessionRevoker, "endFor">;
  publicUrl: () => string;
  logger?: Logger;
}

export type ReviewEffects = ReturnType<typeof createReviewEffects>;

/**
 * What follows a committed review change, outside its transaction: notifications,
 * the decision pushed to the agent holding a statement, and the sessions a revoked
 * access review ends. A failure here is logged; the recorded decision stands.
 */
export function createReviewEffects(deps: ReviewEffectsDeps) {
  const warn = (err: unknown, what: string) => deps.logger?.warn({ err }, what);

  async function notifyRequested(row: ReviewRow): Promise<void> {
    await deps.notifier
      .publish("review.requested", {
        reviewId: row.id,
        kind: row.kind,
        connection: row.connection.name,
        requester: row.requester.name,
        reason: row.reason,
        ...(row.statement !== null ? { statement: row.statement } : {}),
        reviewerGroups: row.requiredGroups,
        expiresAt: row.expiresAt.toISOString(),
        url: reviewUrl(deps.publicUrl(), row.id),
      })
      .catch((err: unknown) => warn(err, "review.requested notification failed"));
  }

  async function notifyDecided(row: ReviewRow): Promise<void> {
    if (row.status === "pending") return;
    const last = decisionsOf(row).at(-1);
    const byPerson = row.status !== "expired" && last;
    await deps.notifier
      .publish("review.decided", {
        reviewId: row.id,
        kind: row.kind,
        connection: row.connection.name,
        requester: row.requester.name,
        status: row.status,
        ...(byPerson ? { decidedBy: last.name } : {}),
        ...(byPerson && last.comment ? { comment: last.comment } : {}),
        url: reviewUrl(deps.publicUrl(), row.id),
      })
      .catch((err: unknown) => warn(err, "review.decided notification failed"));
  }

  /** Tells the agent that holds the session's statement what became of it. */
  async function pushToAgent(row: ReviewRow): Promise<void> {
    if (row.kind !== "statement" || !row.sessionId) return;
    const session = await deps.prisma.session.findUnique({
      where: { id: row.sessionId },
      select: { agentId: true },
    });
    if (!session?.agentId) return;
    await deps.push
      .push(session.agentId, toReviewState(row, deps.publicUrl()))
      .catch((err: unknown) => warn(err, "review state push failed"));
  }

  /** Ends the requester's live sessions on the review's connection. */
  async function endAccess(row: ReviewRow, reason: string): Promise<void> {
    await deps.revoker
      .endFor({ userId: row.requesterId, connectionId: row.connectionId }, reason)
      .catch((err: unknown) => deps.logger?.error({ err, reviewId: row.id }, "ending sessions failed"));
  }

  return {
    requested: notifyRequested,

    /** An approval was recorded but the review still waits for more. */
    async approvalAdded(row: ReviewRow): Promise<void> {
      const decisions = decisionsOf(row);
      const last = decisions.at(-1);
      if (row.status !== "pending" || last?.decision !== "approve") return;
      await deps.notifier
        .publish("review.approval_added", {
          reviewId: row.id,
          kind: row.kind,
          connection: row.connection.name,
          requester: row.requester.name,
          approvedBy: last.name,
          approvals: decisions.filter((d) => d.decision === "approve").length,
          minApprovals: row.minApprovals,
          ...(last.comment ? { comment: last.comment } : {}),
          url: reviewUrl(deps.publicUrl(), row.id),
        })
        .catch((err: unknown) => warn(err, "review.approval_added notification failed"));
    },

    /** After a review left `pending` (or an approved review was revoked). */
    async decided(row: ReviewRow): Promise<void> {
      await pushToAgent(row);
      if (row.kind === "access" && row.status === "revoked") {
        await endAccess(row, `access to ${row.connection.name} was revoked (review ${row.id})`);
      }
      await notifyDecided(row);
    },
  };
}
