import type { Review } from "@sluice/db";
import type { ReviewState } from "@sluice/proto";
import type { Principal } from "../../server/principal";
import type { ReviewDto } from "./reviews.schemas";

/** One entry of a review's `decisions` JSON. */
export interface Decision {
  userId: string;
  name: string;
  decision: "approve" | "deny" | "revoke";
  comment: string | null;
  at: string;
}

export const reviewInclude = {
  requester: { select: { id: true, name: true } },
  connection: { select: { id: true, name: true, type: true } },
} as const;

export type ReviewRow = Review & {
  requester: { id: string; name: string };
  connection: { id: string; name: string; type: string };
};

const decisionKinds = new Set(["approve", "deny", "revoke"]);

export function decisionsOf(row: Pick<Review, "decisions">): Decision[] {
  if (!Array.isArray(row.decisions)) return [];
  return (row.decisions as unknown[]).filter(
    (d): d is Decision =>
      typeof d === "object" &&
      d !== null &&
      typeof (d as Decision).userId === "string" &&
      decisionKinds.has((d as Decision).decision),
  );
}

export function approvalsOf(row: Pick<Review, "decisions">): number {
  return decisionsOf(row).filter((d) => d.decision === "approve").length;
}

/** True once the review reached its approvals (it may have been revoked since). */
export function wasApproved(row: Pick<Review, "decisions" | "decidedAt" | "minApprovals">): boolean {
  return row.decidedAt !== null && approvalsOf(row) >= row.minApprovals;
}

const privileged = (p: Principal) => p.role === "admin" || p.role === "auditor";

/** A reviewer may decide when they belong to a required group and did not ask for it themselves. */
export function isEligibleReviewer(
  p: Principal,
  row: Pick<Review, "requesterId" | "requiredGroups">,
): boolean {
  return p.userId !== row.requesterId && row.requiredGroups.some((g) => p.groups.includes(g));
}

/** Requesters, eligible reviewers, admins and auditors see a review; anyone else gets a 404. */
export function mayView(p: Principal, row: Pick<Review, "requesterId" | "requiredGroups">): boolean {
  return privileged(p) || p.userId === row.requesterId || isEligibleReviewer(p, row);
}

/**
 * An access review keeps its requested duration in `accessUntil`: counted from the
 * request while it waits, rewritten to count from the approval once approved.
 */
export function accessDurationSeconds(row: ReviewRow): number | null {
  if (row.kind !== "access" || !row.accessUntil) return null;
  const from = wasApproved(row) && row.decidedAt ? row.decidedAt : row.createdAt;
  return Math.round((row.accessUntil.getTime() - from.getTime()) / 1000);
}

export function reviewUrl(publicUrl: string, id: string): string {
  return `${publicUrl}/api/v1/reviews/${id}`;
}

export function toReviewDto(
  row: ReviewRow,
  viewer: Principal,
  publicUrl: string,
  now = new Date(),
): ReviewDto {
  const decisions = decisionsOf(row);
  const approved = wasApproved(row);
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    requester: row.requester,
    connection: row.connection,
    sessionId: row.sessionId,
    reason: row.reason,
    statement: row.statement,
    statementHash: row.statementHash,
    policyId: row.policyId,
    ruleName: row.ruleName,
    durationSeconds: accessDurationSeconds(row),
    accessUntil: approved && row.accessUntil ? row.accessUntil.toISOString() : null,
    active:
      row.kind === "access" && row.status === "approved" && row.accessUntil !== null && row.accessUntil > now,
    expiresAt: row.expiresAt.toISOString(),
    requiredGroups: row.requiredGroups,
    minApprovals: row.minApprovals,
    approvals: approvalsOf(row),
    decisions,
    canDecide:
      row.status === "pending" &&
      row.expiresAt > now &&
      isEligibleReviewer(viewer, row) &&
      !decisions.some((d) => d.userId === viewer.userId && d.decision !== "revoke"),
    url: reviewUrl(publicUrl, row.id),
    decidedAt: row.decidedAt?.toISOString() ?? null,
    consumedAt: row.consumedAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
  };
}

/** What the agent tells the client when the review is decided. */
function stateReason(row: Review): string {
  const last = decisionsOf(row).at(-1);
  switch (row.status) {
    case "pending":
      return "";
    case "expired":
      return "no reviewer decided before the review timed out";
    case "revoked":
      return last?.decision === "revoke"
        ? `revoked by ${last.name}${last.comment ? `: ${last.comment}` : ""}`
        : "the review was revoked";
    case "denied":
      return last?.comment
        ? `denied by ${last.name}: ${last.comment}`
        : `denied by ${last?.name ?? "a reviewer"}`;
    case "approved":
      return last?.comment ?? "";
  }
}

/** The review as the agent holding its statement sees it. */
export function toReviewState(row: Review, publicUrl: string): ReviewState {
  return {
    reviewId: row.id,
    sessionId: row.sessionId ?? "",
    status: row.status,
    statementHash: row.statementHash ?? "",
    url: reviewUrl(publicUrl, row.id),
    expiresAtUnixMs: row.expiresAt.getTime(),
    reason: stateReason(row),
  };
}
