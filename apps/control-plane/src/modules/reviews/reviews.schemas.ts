import { z } from "zod";
import { nullableTimestamp, ref, timestamp } from "../../lib/schemas";

export const reviewKind = z.enum(["access", "statement"]);
export const reviewStatus = z.enum(["pending", "approved", "denied", "expired", "revoked"]);

/** The longest statement text a statement review holds (the decision is bound to its hash). */
export const MAX_STATEMENT_BYTES = 64 * 1024;
/** The longest access window anyone may ask for; each connection sets its own lower maximum. */
export const MAX_ACCESS_SECONDS = 30 * 86_400;

export const reviewDecisionDto = z.object({
  userId: z.string(),
  name: z.string(),
  decision: z.enum(["approve", "deny", "revoke"]),
  comment: z.string().nullable(),
  at: timestamp,
});

export const reviewDto = z.object({
  id: z.string(),
  kind: reviewKind,
  status: reviewStatus,
  requester: z.object({ id: z.string(), name: z.string() }),
  connection: z.object({ id: z.string(), name: z.string(), type: z.string() }),
  sessionId: z.string().nullable(),
  reason: z.string(),
  statement: z.string().nullable().describe("statement reviews: the exact statement text"),
  statementHash: z.string().nullable().describe("hex SHA-256 of the statement; the decision is bound to it"),
  policyId: z.string().nullable(),
  ruleName: z.string().nullable(),
  durationSeconds: z.number().nullable().describe("access reviews: the length of the access window"),
  accessUntil: nullableTimestamp.describe("access reviews: end of the approved access window"),
  active: z.boolean().describe("access reviews: approved and the window has not ended"),
  expiresAt: timestamp.describe("a pending review expires (is denied) at this time"),
  requiredGroups: z.array(z.string()),
  minApprovals: z.number(),
  approvals: z.number(),
  decisions: z.array(reviewDecisionDto),
  canDecide: z.boolean().describe("whether the caller may approve or deny it now"),
  url: z.string(),
  decidedAt: nullableTimestamp,
  consumedAt: nullableTimestamp,
  revokedAt: nullableTimestamp,
  createdAt: timestamp,
});
export type ReviewDto = z.infer<typeof reviewDto>;

export const createReviewBody = z.strictObject({
  kind: z
    .literal("access")
    .default("access")
    .describe("only access reviews are requested here; agents request statement reviews"),
  connection: ref,
  durationSeconds: z.number().int().min(60).max(MAX_ACCESS_SECONDS),
  reason: z.string().trim().min(1, "say why you need access").max(500),
});
export type CreateReviewInput = z.infer<typeof createReviewBody>;

export const decideReviewBody = z
  .strictObject({ comment: z.string().trim().max(500).optional() })
  .optional()
  .describe("an optional comment, shown to the requester");

const flag = z
  .enum(["true", "false", "1", "0"])
  .optional()
  .transform((v) => v === "true" || v === "1");

export const listReviewsQuery = z.object({
  status: reviewStatus.optional(),
  kind: reviewKind.optional(),
  connection: ref.optional(),
  mine: flag.describe("only reviews I requested"),
  toReview: flag.describe("only pending reviews I may decide now"),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.iso.datetime().optional(),
});
export type ListReviewsQuery = z.infer<typeof listReviewsQuery>;
