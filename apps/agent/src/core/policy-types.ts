import type { GuardVerdict } from "@sluice/policy";

/** The verdict of a rule that routes an action to a human reviewer. */
export type ReviewVerdict = Extract<GuardVerdict, { action: "review" }>;

/**
 * An action a guard held for review, as the review service sees it: SQL text today; an
 * HTTP request line, a kubectl verb or a tool call for the protocols that follow.
 */
export interface HeldAction {
  kind: "sql" | "command" | "http" | "kubernetes" | "tool";
  /** The exact text a reviewer approves; the approval is bound to its SHA-256. */
  text: string;
  verdict: ReviewVerdict;
}

export interface PendingReview {
  reviewId: string;
  url: string;
}

export type ReviewOutcome =
  | { approved: true; reviewId: string }
  | { approved: false; reviewId?: string; reason: string };

/** Asks for human approval; calls `onPending` once the review exists, resolves with the decision. */
export type RequestReview = (
  held: HeldAction,
  onPending: (p: PendingReview) => void,
  signal: AbortSignal,
) => Promise<ReviewOutcome>;

/** Policy decisions as the session recording and the audit trail see them. */
export type PolicyEvent =
  | { decision: "denied"; rule: string; policyId?: string; policy?: string; statement: string }
  | { decision: "held"; rule: string; policyId: string; policy: string; statement: string; reviewId: string }
  | {
      decision: "approved";
      rule: string;
      policyId: string;
      policy: string;
      statement: string;
      reviewId: string;
    }
  | { decision: "masked"; counts: Record<string, number>; statement: string }
  | {
      decision: "rejected";
      rule: string;
      policyId: string;
      policy: string;
      statement: string;
      reviewId?: string;
      reason: string;
    };
