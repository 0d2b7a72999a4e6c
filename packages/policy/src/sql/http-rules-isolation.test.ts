import { beforeAll, describe, expect, it } from "vitest";
import { compileCommandGuard } from "../commands/command-guard";
import { guardrailRule, type PolicyDocument, reviewRule } from "../rules";
import { guardedPolicy } from "./adversarial-corpus";
import { initSqlParser } from "./classify";
import { compileConnectionGuard } from "./connection-guard";
import { compileGuard } from "./guard";

beforeAll(() => initSqlParser());

/**
 * HTTP rules share policy documents with SQL and command rules: a policy attached to an
 * HTTP connection and a database must not change a single SQL or command verdict.
 */

const httpGuardrails = [
  { name: "http-lane", action: "allow", http: { methods: ["GET"], paths: ["/**"] } },
  { name: "http-no-delete", action: "deny", http: { methods: ["DELETE"], paths: ["/orders/*"] } },
  { name: "http-refunds", action: "review", http: { methods: ["POST"], paths: ["/refunds"] } },
  { name: "http-body", http: { body: [{ path: "$.amount", op: "ge", value: 1000 }] } },
  { name: "http-default-deny", http: {} },
].map((g) => guardrailRule.parse(g));

const httpReviewRules = [
  { name: "http-review", reviewerGroups: ["sre"], http: { paths: ["/exports/**"] } },
].map((r) => reviewRule.parse(r));

function withHttp(doc: PolicyDocument, guardrails = httpGuardrails): PolicyDocument {
  return {
    ...doc,
    guardrails: [...guardrails, ...doc.guardrails],
    reviewRules: [...doc.reviewRules, ...httpReviewRules],
  };
}

const httpOnly: PolicyDocument = {
  id: "00000000-0000-0000-0000-0000000000h1",
  name: "http-only",
  guardrails: httpGuardrails,
  masking: [],
  reviewRules: httpReviewRules,
};

const statements = [
  "SELECT * FROM orders",
  "INSERT INTO orders VALUES (1)",
  "UPDATE orders SET total = 0 WHERE id = 1",
  "DELETE FROM orders",
  "DROP TABLE orders",
  "SELECT * FROM vault.tokens",
  "COPY orders TO STDOUT",
];

const commands = ["ls -la", "rm -rf /", "curl http://internal/admin", "DELETE /orders/1"];

describe("http rules in a policy", () => {
  it("leave a policy with no SQL rule inactive for SQL", () => {
    const guard = compileGuard([httpOnly]);
    expect(guard.active).toBe(false);
    for (const sql of statements) expect(guard.evaluate(sql)).toEqual({ action: "allow" });
  });

  it("change no SQL verdict of a policy with SQL rules", () => {
    const plain = compileConnectionGuard([guardedPolicy]);
    const mixed = compileConnectionGuard([withHttp(guardedPolicy)]);
    const verdicts = statements.map((s) => plain.evaluate(s));
    expect(verdicts.map((v) => v.action)).toEqual([
      "allow",
      "allow",
      "review",
      "deny",
      "deny",
      "deny",
      "allow",
    ]);
    expect(statements.map((s) => mixed.evaluate(s))).toEqual(verdicts);
  });

  it("change no command verdict", () => {
    const commandPolicy: PolicyDocument = {
      ...httpOnly,
      guardrails: [guardrailRule.parse({ name: "no-rm", commands: ["\\brm\\s+-rf\\b"] })],
      reviewRules: [],
    };
    const httpOnlyGuard = compileCommandGuard([httpOnly]);
    expect(httpOnlyGuard.active).toBe(false);
    for (const c of commands) expect(httpOnlyGuard.evaluate(c)).toEqual({ action: "allow" });
    const plain = compileCommandGuard([commandPolicy]);
    const mixed = compileCommandGuard([withHttp(commandPolicy)]);
    expect(commands.map((c) => mixed.evaluate(c))).toEqual(commands.map((c) => plain.evaluate(c)));
    expect(plain.evaluate("rm -rf /")).toMatchObject({ action: "deny", rule: "no-rm" });
  });

  /** `readOnly` on an http rule means "no writing methods", never "no SQL writes". */
  it("an http read-only rule changes no SQL verdict", () => {
    const readOnlyHttp = [
      guardrailRule.parse({ name: "http-read-only", action: "deny", readOnly: true, http: {} }),
      guardrailRule.parse({
        name: "http-write-lane",
        action: "allow",
        readOnly: true,
        http: { paths: ["/jobs"] },
      }),
    ];
    const plain = compileGuard([guardedPolicy]);
    const mixed = compileGuard([withHttp(guardedPolicy, readOnlyHttp)]);
    expect(mixed.evaluate("INSERT INTO orders VALUES (1)")).toEqual(
      plain.evaluate("INSERT INTO orders VALUES (1)"),
    );
  });
});

describe("kubernetes rules in a policy", () => {
  const kubeOnly: PolicyDocument = {
    id: "00000000-0000-0000-0000-0000000000k1",
    name: "kube-only",
    guardrails: [
      { name: "read-only", readOnly: true, kube: {} },
      { name: "keep-prod", kube: { verbs: ["delete"], resources: ["namespaces"], names: ["prod"] } },
    ].map((g) => guardrailRule.parse(g)),
    masking: [],
    reviewRules: [
      reviewRule.parse({ name: "prod-exec", reviewerGroups: ["sre"], kube: { resources: ["pods/exec"] } }),
    ],
  };

  it("leave SQL and command verdicts alone: a kube read-only lane does not make SQL read-only", () => {
    const sqlGuard = compileGuard([kubeOnly]);
    expect(sqlGuard.active).toBe(false);
    for (const sql of statements) expect(sqlGuard.evaluate(sql)).toEqual({ action: "allow" });
    const cmd = compileCommandGuard([kubeOnly]);
    for (const c of commands) expect(cmd.match(c)).toBeUndefined();
  });
});
