import { describe, expect, it } from "vitest";
import { MAX_COMMAND_LENGTH } from "../commands/command-guard";
import { execCommand } from "./exec-command";
import { compileKubeGuard } from "./kube-guard";
import { exec, kube, kubePolicy, outcome } from "./kube-guard.testing";

/** The guard's answers for list items, impersonation and exec commands. */

describe("list and watch items", () => {
  const guard = compileKubeGuard([
    kubePolicy("p", [{ name: "hide-prod-secrets", kube: { resources: ["secrets"], names: ["prod-*"] } }]),
  ]);

  it("hides the items a deny rule on names covers instead of refusing the list", () => {
    const list = kube("GET", "/api/v1/namespaces/team/secrets");
    expect(guard.evaluate(list)).toEqual({ action: "allow" });
    expect(guard.allowsItem(list, { namespace: "team", name: "prod-db" })).toBe(false);
    expect(guard.allowsItem(list, { namespace: "team", name: "PROD-db" })).toBe(false);
    expect(guard.allowsItem(list, { namespace: "team", name: "dev-db" })).toBe(true);
  });

  it("filters watch events the same way, and denies a get of a hidden item", () => {
    const watch = kube("GET", "/api/v1/namespaces/team/secrets?watch=1");
    expect(guard.evaluate(watch)).toEqual({ action: "allow" });
    expect(guard.allowsItem(watch, { name: "prod-db" })).toBe(false);
    expect(outcome(guard.evaluate(kube("GET", "/api/v1/namespaces/team/secrets/prod-db")))).toBe(
      "deny:hide-prod-secrets",
    );
  });

  it("refuses a list narrowed to a hidden name by a field selector", () => {
    const list = kube("GET", "/api/v1/namespaces/team/secrets?fieldSelector=metadata.name%3Dprod-db");
    expect(outcome(guard.evaluate(list))).toBe("deny:hide-prod-secrets");
  });

  it("hides items of namespaces a rule denies from a list across all namespaces", () => {
    const g = compileKubeGuard([kubePolicy("p", [{ name: "no-prod", kube: { namespaces: ["prod"] } }])]);
    const all = kube("GET", "/api/v1/pods");
    expect(g.evaluate(all)).toEqual({ action: "allow" });
    expect(g.allowsItem(all, { namespace: "prod", name: "web" })).toBe(false);
    expect(g.allowsItem(all, { namespace: "dev", name: "web" })).toBe(true);
    const namespaces = kube("GET", "/api/v1/namespaces");
    expect(g.allowsItem(namespaces, { name: "prod" })).toBe(false);
    expect(g.allowsItem(namespaces, { name: "dev" })).toBe(true);
  });

  it("shows an item only when a get of it would be allowed too", () => {
    const g = compileKubeGuard([
      kubePolicy("p", [{ name: "no-get", kube: { verbs: ["get"], names: ["x"] } }]),
    ]);
    const list = kube("GET", "/api/v1/namespaces/team/configmaps");
    expect(g.allowsItem(list, { name: "x" })).toBe(false);
    expect(g.allowsItem(list, { name: "y" })).toBe(true);
  });

  it("does not hide items a review rule covers (the list was held as a whole)", () => {
    const g = compileKubeGuard([
      kubePolicy("p", [], [{ name: "r", reviewerGroups: ["sre"], kube: { verbs: ["get"], names: ["x"] } }]),
    ]);
    expect(g.allowsItem(kube("GET", "/api/v1/namespaces/team/configmaps"), { name: "x" })).toBe(true);
  });
});

describe("impersonation", () => {
  const asAlice = { user: "alice", groups: [], extra: [] };
  const getPod = kube("GET", "/api/v1/namespaces/prod/pods/web");

  it("is refused when no rule permits it, even with no kube rule at all", () => {
    for (const guard of [
      compileKubeGuard([]),
      compileKubeGuard([kubePolicy("p", [{ name: "lane", action: "allow", kube: {} }])]),
    ]) {
      expect(guard.impersonation(getPod, asAlice)).toEqual({
        action: "deny",
        rule: "sluice.impersonation",
        policyId: "",
        policyName: "",
        message: "impersonation (as alice) is refused: no allow rule with kube.impersonate permits it here",
        statement: "get pods prod/web as alice",
      });
    }
  });

  it("is allowed by an allow rule with impersonate that matches the request", () => {
    const guard = compileKubeGuard([
      kubePolicy("p", [
        { name: "reads-as", action: "allow", kube: { verbs: ["get", "list"], impersonate: true } },
        { name: "default-deny", kube: {} },
      ]),
    ]);
    expect(guard.impersonation(getPod, asAlice)).toEqual({ action: "allow" });
    expect(outcome(guard.impersonation(kube("DELETE", "/api/v1/namespaces/prod/pods/web"), asAlice))).toBe(
      "deny:sluice.impersonation",
    );
  });

  it("limits who may be impersonated to the rule's users and groups", () => {
    const guard = compileKubeGuard([
      kubePolicy("p", [
        { name: "ci-as", action: "allow", kube: { impersonate: { users: ["ci-*"], groups: ["ci"] } } },
      ]),
    ]);
    expect(guard.impersonation(getPod, { user: "ci-deploy", groups: ["ci"], extra: [] }).action).toBe(
      "allow",
    );
    expect(
      guard.impersonation(getPod, { user: "ci-deploy", groups: ["system:masters"], extra: [] }).action,
    ).toBe("deny");
    expect(guard.impersonation(getPod, { user: "admin", groups: [], extra: [] }).action).toBe("deny");
    expect(guard.impersonation(getPod, { user: "ci-deploy", groups: [], uid: "1", extra: [] }).action).toBe(
      "deny",
    );
  });
});

describe("exec commands", () => {
  it("denies a command a pattern matches, on the command line joined by spaces", () => {
    const guard = compileKubeGuard([
      kubePolicy("p", [{ name: "no-rm", kube: { resources: ["pods/exec"], commands: ["\\brm\\s+-rf\\b"] } }]),
    ]);
    const rm = exec("prod", "web", ["sh", "-c", "rm -rf /"]);
    expect(outcome(guard.evaluate(rm.info, { command: rm.command }))).toBe("deny:no-rm");
    const ls = exec("prod", "web", ["ls", "-la"]);
    expect(guard.evaluate(ls.info, { command: ls.command })).toEqual({ action: "allow" });
  });

  it("denies an exec whose command the caller did not read, when a deny pattern applies", () => {
    const guard = compileKubeGuard([kubePolicy("p", [{ name: "no-rm", kube: { commands: ["rm"] } }])]);
    expect(outcome(guard.evaluate(exec("prod", "web", ["ls"]).info))).toBe("deny:no-rm");
    expect(guard.evaluate(kube("POST", "/api/v1/namespaces/prod/pods/web/attach?stdin=true"))).toEqual({
      action: "allow",
    });
  });

  it("refuses commands longer than the SSH command guard accepts", () => {
    const guard = compileKubeGuard([kubePolicy("p", [{ name: "no-rm", kube: { commands: ["rm"] } }])]);
    // kubeRequestInfo already refuses such a query; this is a command the caller read itself.
    const command = execCommand(`command=echo&command=${"x".repeat(MAX_COMMAND_LENGTH)}`);
    const v = guard.evaluate(exec("prod", "web", ["echo"]).info, { command });
    expect(v).toMatchObject({
      action: "deny",
      rule: "sluice.command_too_long",
      statement: "create pods/exec prod/web",
    });
  });

  describe("a deny-by-default exec policy", () => {
    const guard = compileKubeGuard([
      kubePolicy("exec", [
        {
          name: "diagnostics",
          action: "allow",
          kube: { resources: ["pods/exec"], namespaces: ["prod"], commands: ["^ls( |$)", "^cat /var/log/"] },
        },
        {
          name: "no-other-exec",
          kube: { resources: ["pods/exec", "pods/attach", "pods/ephemeralcontainers"] },
        },
      ]),
    ]);
    const run = (argv: string[], flags: { stdin?: boolean; tty?: boolean } = {}) => {
      const { info, command } = exec("prod", "web", argv, flags);
      return outcome(guard.evaluate(info, { command }));
    };

    it("allows the listed non-interactive commands", () => {
      expect(run(["ls", "-la", "/app"])).toBe("allow");
      expect(run(["cat", "/var/log/app.log"])).toBe("allow");
    });

    it("denies other commands, interactive shells and an allowed command with stdin", () => {
      expect(run(["sh", "-c", "ls"])).toBe("deny:no-other-exec");
      expect(run(["bash"], { stdin: true, tty: true })).toBe("deny:no-other-exec");
      expect(run(["ls"], { stdin: true })).toBe("deny:no-other-exec");
      expect(
        outcome(guard.evaluate(kube("POST", "/api/v1/namespaces/prod/pods/web/attach?stdin=true"))),
      ).toBe("deny:no-other-exec");
    });

    it("denies kubectl debug, which would run a container of the client's choosing", () => {
      const debug = kube("PATCH", "/api/v1/namespaces/prod/pods/web/ephemeralcontainers");
      expect(outcome(guard.evaluate(debug))).toBe("deny:no-other-exec");
    });
  });
});
