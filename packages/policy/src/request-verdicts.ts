import type { GuardVerdict } from "./sql/guard";

type SqlDeny = Extract<GuardVerdict, { action: "deny" }>;
type SqlReview = Extract<GuardVerdict, { action: "review" }>;

/**
 * The verdicts of the request dialects (HTTP, Kubernetes). `statement` names the request
 * as a reviewer reads it; both are assignable to the SQL guard's verdicts, so held
 * requests use the same review client.
 */
export type RequestDenyVerdict = SqlDeny & { policyId: string; policyName: string };
export type RequestReviewVerdict = SqlReview & {
  reviewerGroups: string[];
  minApprovals: number;
  timeoutSeconds: number;
};
export type RequestVerdict = { action: "allow" } | RequestDenyVerdict | RequestReviewVerdict;
