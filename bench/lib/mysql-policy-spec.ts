/** The PolicySpec (as the control plane sends it) of the MySQL bench's `sluice-policy` target. */
export type MysqlBenchPolicy = "none" | "guard-mask";

const guardrails = [
  { name: "no-ddl", action: "deny", statementKinds: ["DROP", "TRUNCATE"] },
  { name: "writes-need-where", action: "deny", requireWhere: true },
];
const masking = [{ name: "emails", detector: "email", action: "redact" }];

export function mysqlBenchPolicies(kind: MysqlBenchPolicy): {
  id: string;
  name: string;
  guardrailsJson: string;
  maskingJson: string;
  reviewRulesJson: string;
}[] {
  if (kind === "none") return [];
  return [
    {
      id: "00000000-0000-4000-8000-00000000b0e2",
      name: "bench-mysql-guard-mask",
      guardrailsJson: JSON.stringify(guardrails),
      maskingJson: JSON.stringify(masking),
      reviewRulesJson: "[]",
    },
  ];
}

export const mysqlPolicyDetail =
  "guardrails deny DROP/TRUNCATE and UPDATE/DELETE without WHERE; masking: email detector (redact) on every column, so every text value is scanned (none in `big` matches)";
