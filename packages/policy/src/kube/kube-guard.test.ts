import { describe, expect, it } from "vitest";
import { compileCommandGuard } from "../commands/command-guard";
import { compileHttpGuard } from "../http/http-guard";
import { httpRequest } from "../http/http-guard.testing";
import type { GuardVerdict } from "../sql/guard";
import { compileKubeGuard } from "./kube-guard";
import { exec, kube, kubePolicy, outcome } from "./kube-guard.testing";

const sre = { name: "sre", reviewerGroups: ["sre"], minApprovals: 2, timeoutSeconds: 300 };

describe("deny rules", () => {
  const guard = compileKubeGuard([
    kubePolicy("prod-safety", [
      {
        name: "no-prod-namespace-delete",
        kube: { verbs: ["delete"], resources: ["namespaces"], names: ["prod"] },
        message: "prod cannot be deleted through Sluice",
      },
      { name: "no-secret-writes", kube: { verbs: ["create", "update", "patch"], resources: ["secrets"] } },
    ]),
  ]);

  it("denies deleting namespace prod, naming the rule and the request", () => {
    expect(guard.evaluate(kube("DELETE", "/api/v1/namespaces/prod"))).toEqual({
      action: "deny",
      rule: "no-prod-namespace-delete",
      policyId: expect.stringMatching(/^0{8}-/),
      policyName: "prod-safety",
      message: "prod cannot be deleted through Sluice",
      statement: "delete namespaces prod",
    });
  });

  it.each([
    ["DELETE", "/api/v1/namespaces/dev"],
    ["GET", "/api/v1/namespaces/prod"],
    ["DELETE", "/api/v1/namespaces/prod/pods/web"],
    ["GET", "/api/v1/namespaces/prod/secrets/db"],
  ])("allows %s %s", (method, target) => {
    expect(guard.evaluate(kube(method, target))).toEqual({ action: "allow" });
  });

  it("denies a write of a secret with the default message", () => {
    expect(guard.evaluate(kube("PATCH", "/api/v1/namespaces/prod/secrets/db"))).toMatchObject({
      rule: "no-secret-writes",
      message: "request blocked by policy rule no-secret-writes",
      statement: "patch secrets prod/db",
    });
  });

  it("reads resources as RBAC does: pods is not pods/exec, */exec and pods/* are", () => {
    const g = compileKubeGuard([
      kubePolicy("p", [
        { name: "pods", kube: { verbs: ["create"], resources: ["pods"] } },
        { name: "any-exec", kube: { resources: ["*/exec"] } },
        { name: "pod-subresources", kube: { resources: ["pods/*"] } },
      ]),
    ]);
    expect(outcome(g.evaluate(kube("POST", "/api/v1/namespaces/prod/pods")))).toBe("deny:pods");
    expect(outcome(g.evaluate(exec("prod", "web", ["ls"]).info))).toBe("deny:any-exec");
    expect(outcome(g.evaluate(kube("GET", "/api/v1/namespaces/prod/pods/web/log")))).toBe(
      "deny:pod-subresources",
    );
    expect(g.evaluate(kube("GET", "/api/v1/namespaces/prod/pods/web"))).toEqual({ action: "allow" });
  });

  it("matches groups, with an empty string for the core group", () => {
    const g = compileKubeGuard([
      kubePolicy("p", [{ name: "core-deletes", kube: { verbs: ["delete"], groups: [""] } }]),
    ]);
    expect(outcome(g.evaluate(kube("DELETE", "/api/v1/namespaces/prod/pods/web")))).toBe("deny:core-deletes");
    expect(g.evaluate(kube("DELETE", "/apis/apps/v1/namespaces/prod/deployments/web"))).toEqual({
      action: "allow",
    });
  });

  it("denies a deletecollection that could remove a protected name (it names no object)", () => {
    const g = compileKubeGuard([
      kubePolicy("p", [
        { name: "keep-db", kube: { verbs: ["delete", "deletecollection"], names: ["db-*"] } },
      ]),
    ]);
    expect(outcome(g.evaluate(kube("DELETE", "/api/v1/namespaces/prod/pods")))).toBe("deny:keep-db");
    expect(g.evaluate(kube("DELETE", "/api/v1/namespaces/prod/pods/web"))).toEqual({ action: "allow" });
  });
});

describe("review routing", () => {
  const execReview = {
    name: "exec-in-prod",
    action: "review",
    kube: { resources: ["pods/exec"], namespaces: ["prod"] },
  };

  it("holds an exec in prod for the policy's first review rule, with the command in the statement", () => {
    const guard = compileKubeGuard([kubePolicy("ops", [execReview], [sre])]);
    const { info, command } = exec("prod", "web", ["sh", "-c", "rm -rf /"]);
    const v = guard.evaluate(info, { command });
    expect(v).toEqual({
      action: "review",
      rule: "exec-in-prod",
      policyId: expect.any(String),
      policyName: "ops",
      reviewRule: "sre",
      reviewerGroups: ["sre"],
      minApprovals: 2,
      timeoutSeconds: 300,
      message: "request held for review by policy rule exec-in-prod",
      statement: 'create pods/exec prod/web -- sh -c "rm -rf /"',
    });
    if (v.action === "review") {
      const asSql: Extract<GuardVerdict, { action: "review" }> = v;
      expect(asSql.statement).toBe('create pods/exec prod/web -- sh -c "rm -rf /"');
    }
    expect(guard.evaluate(exec("dev", "web", ["sh"]).info)).toEqual({ action: "allow" });
  });

  it("names an interactive exec as such, so its approval never covers a scripted one", () => {
    const guard = compileKubeGuard([kubePolicy("ops", [execReview], [sre])]);
    const { info, command } = exec("prod", "web", ["bash"], { stdin: true, tty: true });
    expect(guard.evaluate(info, { command })).toMatchObject({
      statement: "create pods/exec prod/web -it -- bash",
    });
  });

  it("denies a review guardrail when its policy has no review rule", () => {
    const guard = compileKubeGuard([kubePolicy("ops", [execReview])]);
    expect(outcome(guard.evaluate(exec("prod", "web", ["ls"]).info))).toBe("deny:exec-in-prod");
  });

  it("holds what only a review rule matches, under that rule", () => {
    const scale = {
      name: "scaling",
      reviewerGroups: ["capacity"],
      kube: { resources: ["deployments/scale"] },
    };
    const guard = compileKubeGuard([kubePolicy("ops", [], [scale])]);
    expect(
      guard.evaluate(kube("PATCH", "/apis/apps/v1/namespaces/prod/deployments/web/scale")),
    ).toMatchObject({
      action: "review",
      rule: "scaling",
      reviewerGroups: ["capacity"],
      statement: "patch deployments.apps/scale prod/web",
    });
  });

  it("holds a whole list that a review rule on names covers", () => {
    const secrets = {
      name: "db-secrets",
      reviewerGroups: ["dba"],
      kube: { resources: ["secrets"], names: ["db-*"] },
    };
    const guard = compileKubeGuard([kubePolicy("ops", [], [secrets])]);
    expect(guard.evaluate(kube("GET", "/api/v1/namespaces/prod/secrets"))).toMatchObject({
      action: "review",
      statement: "list secrets in prod",
    });
  });
});

describe("read-only lane", () => {
  const guard = compileKubeGuard([kubePolicy("viewers", [{ name: "read-only", readOnly: true, kube: {} }])]);

  it.each([
    ["GET", "/api/v1/namespaces/prod/pods/web"],
    ["GET", "/api/v1/namespaces/prod/pods"],
    ["GET", "/api/v1/pods?watch=true"],
    ["GET", "/api/v1/namespaces/prod/pods/web/log?follow=true"],
    ["GET", "/api"],
    ["GET", "/apis/apps/v1"],
    ["GET", "/version"],
  ])("allows %s %s", (method, target) => {
    expect(guard.evaluate(kube(method, target))).toEqual({ action: "allow" });
  });

  it.each([
    ["POST", "/api/v1/namespaces/prod/configmaps"],
    ["PUT", "/api/v1/namespaces/prod/configmaps/app"],
    ["PATCH", "/apis/apps/v1/namespaces/prod/deployments/web"],
    ["DELETE", "/api/v1/namespaces/prod/pods/web"],
    ["DELETE", "/api/v1/namespaces/prod/pods"],
    ["GET", "/api/v1/namespaces/prod/pods/web/exec?command=sh&stdin=true&tty=true"],
    ["GET", "/api/v1/namespaces/prod/pods/web/portforward?ports=5432"],
    ["GET", "/api/v1/namespaces/prod/services/web/proxy/admin"],
    ["POST", "/logs"],
  ])("denies %s %s", (method, target) => {
    expect(outcome(guard.evaluate(kube(method, target)))).toBe("deny:read-only");
  });
});

describe("several policies on one connection", () => {
  const everything = kubePolicy("team", [{ name: "team-lane", action: "allow", kube: {} }]);
  const baseline = kubePolicy("baseline", [
    { name: "no-ns-delete", kube: { verbs: ["delete"], resources: ["namespaces"] } },
  ]);
  const reviewed = kubePolicy(
    "change-control",
    [{ name: "writes-reviewed", action: "review", kube: { verbs: ["patch", "delete"] } }],
    [sre],
  );

  it("never lets one policy's allow lane lift another policy's deny", () => {
    const guard = compileKubeGuard([everything, baseline]);
    expect(outcome(guard.evaluate(kube("DELETE", "/api/v1/namespaces/prod")))).toBe("deny:no-ns-delete");
    expect(guard.evaluate(kube("GET", "/api/v1/namespaces/prod"))).toEqual({ action: "allow" });
  });

  it("prefers a deny to a review, and a review to an allow", () => {
    const guard = compileKubeGuard([everything, reviewed, baseline]);
    expect(outcome(guard.evaluate(kube("DELETE", "/api/v1/namespaces/prod")))).toBe("deny:no-ns-delete");
    expect(outcome(guard.evaluate(kube("PATCH", "/api/v1/namespaces/prod")))).toBe("review:writes-reviewed");
    expect(guard.evaluate(kube("GET", "/api/v1/namespaces/prod"))).toEqual({ action: "allow" });
  });
});

describe("allow lanes with a default deny", () => {
  const guard = compileKubeGuard([
    kubePolicy("app-team", [
      { name: "read-app", action: "allow", kube: { verbs: ["get", "list", "watch"], namespaces: ["app-*"] } },
      { name: "default-deny", kube: {} },
    ]),
  ]);

  it("allows reads in the lane's namespaces, and kubectl's discovery", () => {
    expect(guard.evaluate(kube("GET", "/api/v1/namespaces/app-1/pods/web"))).toEqual({ action: "allow" });
    expect(guard.evaluate(kube("GET", "/apis"))).toEqual({ action: "allow" });
    expect(guard.evaluate(kube("GET", "/openapi/v2"))).toEqual({ action: "allow" });
  });

  it("denies everything else, non-resource paths included", () => {
    expect(outcome(guard.evaluate(kube("GET", "/api/v1/namespaces/prod/pods/web")))).toBe(
      "deny:default-deny",
    );
    expect(outcome(guard.evaluate(kube("DELETE", "/api/v1/namespaces/app-1/pods/web")))).toBe(
      "deny:default-deny",
    );
    expect(outcome(guard.evaluate(kube("GET", "/api/v1/nodes/n1")))).toBe("deny:default-deny");
    expect(outcome(guard.evaluate(kube("GET", "/metrics")))).toBe("deny:default-deny");
  });

  it("lets a list across namespaces through, and shows only the lane's items", () => {
    const list = kube("GET", "/api/v1/pods");
    expect(guard.evaluate(list)).toEqual({ action: "allow" });
    expect(guard.allowsItem(list, { namespace: "app-1", name: "web" })).toBe(true);
    expect(guard.allowsItem(list, { namespace: "prod", name: "web" })).toBe(false);
  });

  it("denies a non-resource path a rule names, discovery included", () => {
    const g = compileKubeGuard([kubePolicy("p", [{ name: "no-openapi", kube: { paths: ["/openapi/**"] } }])]);
    expect(outcome(g.evaluate(kube("GET", "/openapi/v3/apis/apps/v1")))).toBe("deny:no-openapi");
    expect(g.evaluate(kube("GET", "/api/v1/namespaces/prod/pods/web"))).toEqual({ action: "allow" });
  });
});

describe("activation and isolation", () => {
  it("is inactive, and allows every request, when no rule has kube", () => {
    const guard = compileKubeGuard([
      kubePolicy("others", [
        { name: "no-ddl", statementKinds: ["DROP"] },
        { name: "no-rm", commands: ["rm\\s+-rf"] },
        { name: "http-deny", http: {} },
      ]),
    ]);
    expect(guard.active).toBe(false);
    expect(guard.evaluate(kube("DELETE", "/api/v1/namespaces/prod"))).toEqual({ action: "allow" });
  });

  it("leaves the HTTP and SSH command guards alone", () => {
    const doc = kubePolicy("kube-only", [
      { name: "kube-deny", kube: {} },
      { name: "kube-rm", kube: { commands: ["rm"] } },
      { name: "kube-lane", action: "allow", kube: { verbs: ["get"] } },
    ]);
    expect(compileHttpGuard([doc]).evaluate(httpRequest("DELETE", "/x"))).toEqual({ action: "allow" });
    expect(compileCommandGuard([doc]).evaluate("rm -rf /")).toEqual({ action: "allow" });
  });
});
