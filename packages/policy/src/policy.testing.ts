import { guardrailRule, type PolicyDocument, reviewRule } from "./rules";

let seq = 0;

/** A policy document for tests, through the same schemas the control plane and the agent parse with. */
export function testPolicy(name: string, guardrails: unknown[], reviewRules: unknown[] = []): PolicyDocument {
  seq += 1;
  return {
    id: `00000000-0000-0000-0000-${String(seq).padStart(12, "0")}`,
    name,
    guardrails: guardrails.map((g) => guardrailRule.parse(g)),
    masking: [],
    reviewRules: reviewRules.map((r) => reviewRule.parse(r)),
  };
}
