/** The PolicySpecs (as the control plane sends them) of the HTTP bench's policy targets. */
export type HttpBenchPolicy = "none" | "guard" | "guard-mask";

const guardrails = [
  { name: "no-order-deletes", action: "deny", http: { methods: ["DELETE"], paths: ["/v1/orders/*"] } },
  { name: "items-read", action: "allow", http: { methods: ["GET", "HEAD"], paths: ["/v1/items/*"] } },
  { name: "default-deny", action: "deny", http: { paths: ["/**"] }, message: "not on an allow lane" },
];
const masking = [
  { name: "emails", detector: "email", action: "redact" },
  { name: "cards", jsonPaths: ["$.card"], action: "keep_last", keep: 4 },
];

export function httpBenchPolicies(kind: HttpBenchPolicy): {
  id: string;
  name: string;
  guardrailsJson: string;
  maskingJson: string;
  reviewRulesJson: string;
}[] {
  if (kind === "none") return [];
  return [
    {
      id: "00000000-0000-4000-8000-00000000b0e3",
      name: `bench-http-${kind}`,
      guardrailsJson: JSON.stringify(guardrails),
      maskingJson: kind === "guard-mask" ? JSON.stringify(masking) : "[]",
      reviewRulesJson: "[]",
    },
  ];
}

export const httpPolicyDetail: Record<HttpBenchPolicy, string> = {
  none: "no policy",
  guard:
    "guardrails: deny DELETE /v1/orders/*, allow GET/HEAD /v1/items/*, deny /** (every request is judged and takes the allow lane); no masking",
  "guard-mask":
    "the same guardrails plus masking: email detector (redact) on every JSON string, `$.card` keep_last 4 (every response is parsed and rewritten: one email, one card)",
};
