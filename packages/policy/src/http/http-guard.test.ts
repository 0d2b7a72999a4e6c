import { describe, expect, it } from "vitest";
import { guardrailRule } from "../rules";
import type { GuardVerdict } from "../sql/guard";
import { compileHttpGuard, type HttpVerdict } from "./http-guard";
import { httpPolicy, httpRequest as req } from "./http-guard.testing";

/** What a client notices: allowed, or which rule denied or held it. */
function outcome(v: HttpVerdict): string {
  return v.action === "allow" ? "allow" : `${v.action}:${v.rule}`;
}

describe("deny rules", () => {
  const guard = compileHttpGuard([
    httpPolicy("orders", [
      { name: "no-order-delete", action: "deny", http: { methods: ["DELETE"], paths: ["/orders/*"] } },
    ]),
  ]);

  it.each([
    ["DELETE", "/orders/42"],
    ["DELETE", "/ORDERS/42"],
    ["DELETE", "/orders/42/"],
    ["DELETE", "//orders//42"],
    ["DELETE", "/orders/42;jsessionid=1"],
    ["DELETE", "/public/../orders/42"],
    ["DELETE", "/public/%2e%2e/orders/42"],
    ["DELETE", "/orders./42."],
    ["DELETE", "/%6Frders/42"],
    ["delete", "/orders/42"],
  ])("denies %s %s", (method, target) => {
    expect(outcome(guard.evaluate(req(method, target)))).toBe("deny:no-order-delete");
  });

  it.each([
    ["GET", "/orders/42"],
    ["DELETE", "/orders"],
    ["DELETE", "/orders/42/items"],
    ["DELETE", "/orders-archive/42"],
  ])("allows %s %s", (method, target) => {
    expect(guard.evaluate(req(method, target))).toEqual({ action: "allow" });
  });

  it("denies a POST that asks the upstream to treat it as a DELETE", () => {
    const viaHeader = req("POST", "/orders/42", { "x-http-method-override": "DELETE" });
    const viaQuery = req("POST", "/orders/42?_method=delete");
    expect(outcome(guard.evaluate(viaHeader))).toBe("deny:no-order-delete");
    expect(outcome(guard.evaluate(viaQuery))).toBe("deny:no-order-delete");
  });

  it("names the policy and the rule, and the request it refused", () => {
    expect(guard.evaluate(req("DELETE", "/orders/42?force=1"))).toMatchObject({
      action: "deny",
      rule: "no-order-delete",
      policyName: "orders",
      policyId: expect.stringMatching(/^0{8}-/),
      message: "request blocked by policy rule no-order-delete",
      statement: "DELETE /orders/42?force=1",
    });
  });

  it("uses the rule's own message when it has one", () => {
    const g = compileHttpGuard([
      httpPolicy("p", [
        { name: "no-admin", http: { paths: ["/admin/**"] }, message: "ask #platform for admin" },
      ]),
    ]);
    expect(g.evaluate(req("GET", "/admin/users"))).toMatchObject({ message: "ask #platform for admin" });
  });
});

describe("allow lanes with a trailing default deny", () => {
  const guard = compileHttpGuard([
    httpPolicy("lanes", [
      { name: "read-api", action: "allow", http: { methods: ["GET", "HEAD"], paths: ["/api/v1/**"] } },
      {
        name: "create-order",
        action: "allow",
        http: {
          methods: ["POST"],
          paths: ["/api/v1/orders"],
          headers: [{ name: "content-type", pattern: "^application/json" }],
        },
      },
      { name: "default-deny", http: {} },
    ]),
  ]);

  it.each([
    ["GET", "/api/v1/orders", {}],
    ["HEAD", "/api/v1", {}],
    ["GET", "/API/V1/Orders/7/", {}],
    ["POST", "/api/v1/orders", { "content-type": "application/json; charset=utf-8" }],
  ])("allows %s %s", (method, target, headers) => {
    expect(guard.evaluate(req(method, target, headers))).toEqual({ action: "allow" });
  });

  it.each([
    ["GET", "/api/v2/orders", {}],
    ["DELETE", "/api/v1/orders", {}],
    ["GET", "/api/v1/../admin", {}],
    ["POST", "/api/v1/orders", { "content-type": "text/plain" }],
    ["POST", "/api/v1/orders", {}],
    ["GET", "/api/v1/orders", { "x-http-method-override": "DELETE" }],
    ["GET", "/", {}],
  ])("denies %s %s by the default rule", (method, target, headers) => {
    expect(outcome(guard.evaluate(req(method, target, headers)))).toBe("deny:default-deny");
  });
});

describe("read-only lane", () => {
  const guard = compileHttpGuard([
    httpPolicy("analysts", [{ name: "read-only", action: "deny", readOnly: true, http: {} }]),
  ]);

  it.each(["GET", "HEAD", "OPTIONS"])("allows %s", (method) => {
    expect(guard.evaluate(req(method, "/reports/1"))).toEqual({ action: "allow" });
  });

  it.each(["POST", "PUT", "PATCH", "DELETE", "PROPFIND"])("denies %s", (method) => {
    expect(outcome(guard.evaluate(req(method, "/reports/1")))).toBe("deny:read-only");
  });

  it("denies a GET that overrides its method to a write", () => {
    const r = req("GET", "/reports/1", { "x-http-method": "PUT" });
    expect(outcome(guard.evaluate(r))).toBe("deny:read-only");
  });
});

describe("review routing", () => {
  const finance = {
    name: "finance",
    reviewerGroups: ["finance", "cfo"],
    minApprovals: 2,
    timeoutSeconds: 300,
  };
  const refunds = {
    name: "refunds-need-review",
    action: "review",
    http: { methods: ["POST"], paths: ["/refunds"] },
  };

  it("routes a review guardrail to the policy's first review rule", () => {
    const guard = compileHttpGuard([httpPolicy("payments", [refunds], [finance])]);
    const v = guard.evaluate(req("POST", "/refunds"));
    expect(v).toEqual({
      action: "review",
      rule: "refunds-need-review",
      policyId: expect.any(String),
      policyName: "payments",
      reviewRule: "finance",
      reviewerGroups: ["finance", "cfo"],
      minApprovals: 2,
      timeoutSeconds: 300,
      message: "request held for review by policy rule refunds-need-review",
      statement: "POST /refunds",
    });
    if (v.action === "review") {
      const asSql: Extract<GuardVerdict, { action: "review" }> = v;
      expect(asSql.reviewRule).toBe("finance");
    }
  });

  it("denies a review guardrail when its policy has no review rule", () => {
    const guard = compileHttpGuard([httpPolicy("payments", [refunds])]);
    expect(outcome(guard.evaluate(req("POST", "/refunds")))).toBe("deny:refunds-need-review");
  });

  it("holds a request that only a review rule matches, under that rule", () => {
    const bulk = { name: "bulk-export", reviewerGroups: ["dpo"], http: { paths: ["/exports/**"] } };
    const guard = compileHttpGuard([httpPolicy("data", [], [finance, bulk])]);
    expect(guard.evaluate(req("GET", "/exports/customers"))).toMatchObject({
      action: "review",
      rule: "bulk-export",
      reviewRule: "bulk-export",
      reviewerGroups: ["dpo"],
      timeoutSeconds: 600,
    });
    expect(guard.evaluate(req("GET", "/reports"))).toEqual({ action: "allow" });
  });

  it("lets an allow lane of the same policy pass without its review rules", () => {
    const bulk = { name: "bulk-export", reviewerGroups: ["dpo"], http: { paths: ["/exports/**"] } };
    const lane = { name: "small-exports", action: "allow", http: { paths: ["/exports/small"] } };
    const guard = compileHttpGuard([httpPolicy("data", [lane], [bulk])]);
    expect(guard.evaluate(req("GET", "/exports/small"))).toEqual({ action: "allow" });
    expect(outcome(guard.evaluate(req("GET", "/exports/all")))).toBe("review:bulk-export");
  });
});

describe("several policies on one connection", () => {
  const everything = httpPolicy("team", [{ name: "team-lane", action: "allow", http: { paths: ["/**"] } }]);
  const baseline = httpPolicy("baseline", [{ name: "no-delete", http: { methods: ["DELETE"] } }]);
  const reviewed = httpPolicy(
    "change-control",
    [{ name: "writes-reviewed", action: "review", http: { methods: ["PUT", "DELETE"] } }],
    [{ name: "sre", reviewerGroups: ["sre"] }],
  );

  it("never lets one policy's allow lane lift another policy's deny", () => {
    const guard = compileHttpGuard([everything, baseline]);
    expect(outcome(guard.evaluate(req("DELETE", "/x")))).toBe("deny:no-delete");
    expect(guard.evaluate(req("GET", "/x"))).toEqual({ action: "allow" });
  });

  it("prefers a deny to a review, and a review to an allow", () => {
    const guard = compileHttpGuard([everything, reviewed, baseline]);
    expect(outcome(guard.evaluate(req("DELETE", "/x")))).toBe("deny:no-delete");
    expect(outcome(guard.evaluate(req("PUT", "/x")))).toBe("review:writes-reviewed");
    expect(guard.evaluate(req("GET", "/x"))).toEqual({ action: "allow" });
  });
});

describe("activation", () => {
  it("is inactive, and allows everything, when no rule has http", () => {
    const guard = compileHttpGuard([
      httpPolicy("sql-only", [
        { name: "no-ddl", statementKinds: ["DROP"] },
        { name: "sql-read-only", readOnly: true },
        { name: "no-rm", commands: ["rm\\s+-rf"] },
      ]),
    ]);
    expect(guard.active).toBe(false);
    expect(guard.evaluate(req("DELETE", "/anything"))).toEqual({ action: "allow" });
    expect(guard.needsBody(req("POST", "/anything"))).toBe(false);
  });

  it("is active with a single http rule", () => {
    expect(compileHttpGuard([httpPolicy("p", [{ name: "d", http: { paths: ["/x"] } }])]).active).toBe(true);
  });
});

describe("policy documents", () => {
  it.each([
    { path: "$.amount", op: "lt", value: "1000" },
    { path: "$.amount", op: "in", value: 3 },
    { path: "$.email", op: "matches", value: "(" },
    { path: "$.email", op: "matches", value: 1 },
    { path: "$.flag", op: "exists", value: true },
    { path: "$.role", op: "eq" },
  ])("refuses the body condition %j", (condition) => {
    expect(guardrailRule.safeParse({ name: "r", http: { body: [condition] } }).success).toBe(false);
  });

  it.each([
    { path: "$.amount", op: "ge", value: 0 },
    { path: "$.country", op: "in", value: ["KP"] },
    { path: "$.email", op: "matches", value: "@x$" },
    { path: "$.flag", op: "absent" },
    { path: "$.flag", op: "ne", value: null },
  ])("accepts the body condition %j", (condition) => {
    expect(guardrailRule.safeParse({ name: "r", http: { body: [condition] } }).success).toBe(true);
  });
});
