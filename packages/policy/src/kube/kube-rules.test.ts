import { describe, expect, it } from "vitest";
import { guardrailRule, reviewRule } from "../rules";

function problem(schema: typeof guardrailRule | typeof reviewRule, rule: unknown): string | undefined {
  const r = schema.safeParse(rule);
  return r.success ? undefined : r.error.issues.map((i) => i.message).join("; ");
}

describe("kube rules in policy documents", () => {
  it.each([
    { name: "read-only", readOnly: true, kube: {} },
    { name: "lane", action: "allow", kube: { verbs: ["get", "list", "watch"], namespaces: ["app-*"] } },
    { name: "exec", action: "review", kube: { resources: ["pods/exec", "*/attach"], commands: ["^rm\\b"] } },
    { name: "core", kube: { groups: ["", "apps", "*"], resources: ["*", "pods/*", "deployments/scale"] } },
    { name: "as", action: "allow", kube: { impersonate: { users: ["ci-*"], groups: ["ci"] } } },
    { name: "paths", kube: { paths: ["/metrics", "/logs/**"] } },
    { name: "names", kube: { names: ["system:node:*", "prod-db"] } },
  ])("accepts %j", (rule) => {
    expect(problem(guardrailRule, rule)).toBeUndefined();
  });

  it.each([
    [{ name: "r", kube: { verbs: ["DELETE"] } }, "use a Kubernetes verb"],
    [{ name: "r", kube: { resources: ["Pods"] } }, 'use a resource like "pods"'],
    [{ name: "r", kube: { resources: ["pods/exec/x"] } }, 'use a resource like "pods"'],
    [{ name: "r", kube: { groups: ["Apps"] } }, "use an API group"],
    [{ name: "r", kube: { namespaces: ["prod/x"] } }, "without '/'"],
    [{ name: "r", kube: { names: ["a b"] } }, "without '/'"],
    [{ name: "r", kube: { commands: ["("] } }, "is not a valid regular expression"],
    [{ name: "r", kube: { paths: ["metrics"] } }, "paths start with /"],
    [{ name: "r", kube: { verbs: Array(21).fill("get") } }, "<=20 items"],
    [{ name: "r", kube: { pods: [] } }, "Unrecognized key"],
    [{ name: "r", kube: {}, statementKinds: ["DROP"] }, "a kube rule carries no SQL, command or http fields"],
    [{ name: "r", kube: {}, commands: ["rm"] }, "exec commands go in kube.commands"],
    [{ name: "r", kube: {}, http: {} }, "a kube rule carries no SQL, command or http fields"],
    [{ name: "r", kube: { impersonate: true } }, "kube.impersonate is for allow rules"],
  ])("refuses %j with a clear message", (rule, message) => {
    expect(problem(guardrailRule, rule)).toContain(message);
  });

  it("permits action allow on a kube rule, and keeps the HTTP-only message for other rules", () => {
    expect(problem(guardrailRule, { name: "r", action: "allow", kube: {} })).toBeUndefined();
    expect(problem(guardrailRule, { name: "r", action: "allow", statementKinds: ["DROP"] })).toBe(
      "action allow is for HTTP rules only (a rule with http and no SQL or command fields)",
    );
  });

  it("takes kube on review rules, without SQL fields or impersonation", () => {
    const base = { name: "r", reviewerGroups: ["sre"] };
    expect(problem(reviewRule, { ...base, kube: { resources: ["pods/exec"] } })).toBeUndefined();
    expect(problem(reviewRule, { ...base, kube: {}, statementKinds: ["DROP"] })).toContain(
      "a kube review rule",
    );
    expect(problem(reviewRule, { ...base, kube: { impersonate: true } })).toContain("not review rules");
  });
});
