import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestControlPlane, type TestControlPlane } from "../../testing/control-plane.testing";

let cp: TestControlPlane;
let policyId: string;

beforeAll(async () => {
  cp = await startTestControlPlane();
  const created = await cp.api("/api/v1/policies", {
    method: "POST",
    body: {
      name: "prod-safety",
      guardrails: [
        { name: "no-ddl", statementKinds: ["DROP", "TRUNCATE"] },
        { name: "where-required", requireWhere: true },
      ],
      masking: [
        { name: "emails", detector: "email" },
        { name: "cards", columns: ["^card"], action: "keep_last", keep: 4 },
      ],
      reviewRules: [
        { name: "money", statementKinds: ["UPDATE"], objects: ["accounts"], reviewerGroups: ["dba"] },
      ],
    },
  });
  expect(created.status).toBe(201);
  policyId = created.body.id;
});
afterAll(async () => {
  await cp?.stop();
});

const evaluate = (body: unknown) => cp.api(`/api/v1/policies/${policyId}/evaluate`, { method: "POST", body });

describe("policy dry run", () => {
  it("names the rule a statement would trigger and shows how the parser saw it", async () => {
    const res = await evaluate({ sql: "SELECT 1; DELETE FROM orders" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      policy: "prod-safety",
      verdict: "deny",
      rule: "where-required",
      statement: "DELETE FROM orders",
      statements: [
        { kind: "SELECT", readOnly: true },
        { kind: "DELETE", objects: ["orders"], unboundedWrite: true, readOnly: false },
      ],
    });
  });

  it("reports statements held for review with the review rule", async () => {
    const res = await evaluate({ sql: "UPDATE accounts SET balance = 0 WHERE id = 1" });
    expect(res.body).toMatchObject({ verdict: "review", rule: "money", reviewRule: "money" });
  });

  it("allows benign statements and reports parse errors as denials", async () => {
    expect((await evaluate({ sql: "SELECT 1 AS delete" })).body.verdict).toBe("allow");
    const bad = await evaluate({ sql: "SELEC 1" });
    expect(bad.body).toMatchObject({ verdict: "deny", rule: "sluice.unparseable" });
    expect(bad.body.parseError).toContain("syntax error");
  });

  it("masks sample values as the agent would", async () => {
    const res = await evaluate({
      sql: "",
      values: [
        { column: "note", value: "write to ann@example.com" },
        { column: "card_number", value: "4111111111111111" },
        { column: "name", value: "Ann" },
      ],
    });
    expect(res.status).toBe(200);
    const masked = res.body.masked as { column: string; masked: string }[];
    expect(masked[0]?.masked).not.toContain("ann@example.com");
    expect(masked[0]?.masked).toContain("write to");
    expect(masked[1]?.masked).toMatch(/1111$/);
    expect(masked[1]?.masked).not.toBe("4111111111111111");
    expect(masked[2]?.masked).toBe("Ann");
  });

  it("bounds the statement text", async () => {
    const res = await evaluate({ sql: "x".repeat(70_000) });
    expect(res.status).toBe(400);
  });
});

describe("policy validation", () => {
  it("refuses a guardrail that asks for review when no review rule says who reviews", async () => {
    const res = await cp.api("/api/v1/policies", {
      method: "POST",
      body: {
        name: "half-done",
        guardrails: [{ name: "drops", action: "review", statementKinds: ["DROP"] }],
      },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("policy.invalid");
    expect(res.body.error.message).toContain("no review rule");
  });

  it("refuses invalid regular expressions with the field named", async () => {
    const res = await cp.api("/api/v1/policies", {
      method: "POST",
      body: { name: "bad-regex", guardrails: [{ name: "r", pattern: "(unclosed" }] },
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain("not a valid regular expression");
  });
});
