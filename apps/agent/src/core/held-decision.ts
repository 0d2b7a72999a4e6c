import type { SessionContext } from "./broker";
import type { HeldAction, ReviewVerdict } from "./policy-types";

/** A guard's verdict on one action of a request-shaped protocol (HTTP, Kubernetes). */
export type ActionVerdict =
  | { action: "allow" }
  | { action: "deny"; rule: string; policyId: string; policyName: string; message: string }
  | (ReviewVerdict & { policyName: string });

export type Decision =
  | { allow: true }
  | { allow: false; status: number; code: string; message: string; rule?: string; reviewId?: string };

/**
 * Applies a verdict: records a denial, or holds the action for review while the client
 * waits (the approval is bound to the SHA-256 of `text()`), and records the outcome.
 */
export async function decideHeld(
  ctx: Pick<SessionContext, "requestReview" | "recordPolicy">,
  kind: HeldAction["kind"],
  verdict: ActionVerdict,
  text: () => string,
  signal: AbortSignal,
): Promise<Decision> {
  if (verdict.action === "allow") return { allow: true };
  const statement = text();
  const base = { rule: verdict.rule, policyId: verdict.policyId, policy: verdict.policyName, statement };
  if (verdict.action === "deny") {
    ctx.recordPolicy({ decision: "denied", ...base });
    return { allow: false, status: 403, code: "policy.denied", message: verdict.message, rule: verdict.rule };
  }
  const outcome = await ctx.requestReview(
    { kind, text: statement, verdict },
    (p) => ctx.recordPolicy({ decision: "held", ...base, reviewId: p.reviewId }),
    signal,
  );
  if (outcome.approved) {
    ctx.recordPolicy({ decision: "approved", ...base, reviewId: outcome.reviewId });
    return { allow: true };
  }
  ctx.recordPolicy({
    decision: "rejected",
    ...base,
    ...(outcome.reviewId ? { reviewId: outcome.reviewId } : {}),
    reason: outcome.reason,
  });
  return {
    allow: false,
    status: 403,
    code: "policy.review_rejected",
    message: `Sluice: ${outcome.reason} (rule ${verdict.rule})`,
    rule: verdict.rule,
    ...(outcome.reviewId ? { reviewId: outcome.reviewId } : {}),
  };
}
