import { describe, expect, it } from "vitest";
import { exec, kube } from "./kube-guard.testing";
import { kubeStatement } from "./kube-statement";

describe("kubeStatement", () => {
  it.each([
    ["DELETE", "/api/v1/namespaces/prod", "delete namespaces prod"],
    ["GET", "/api/v1/namespaces/prod/secrets", "list secrets in prod"],
    ["GET", "/api/v1/secrets", "list secrets"],
    ["GET", "/api/v1/namespaces/prod/pods?watch=1", "watch pods in prod"],
    [
      "GET",
      "/api/v1/namespaces/prod/pods?watch=1&fieldSelector=metadata.name%3Dweb",
      "watch pods prod/web --field-selector metadata.name=web",
    ],
    ["GET", "/apis/apps/v1/namespaces/prod/deployments/web", "get deployments.apps prod/web"],
    ["PATCH", "/apis/apps/v1/namespaces/prod/deployments/web/scale", "patch deployments.apps/scale prod/web"],
    ["GET", "/api/v1/nodes/n1", "get nodes n1"],
    ["POST", "/api/v1/namespaces/prod/configmaps", "create configmaps in prod"],
    [
      "DELETE",
      "/api/v1/namespaces/prod/pods?labelSelector=app%3Dweb",
      "deletecollection pods in prod -l app=web",
    ],
    [
      "DELETE",
      "/api/v1/namespaces/prod/pods?labelSelector=app%20in%20(a,b)",
      'deletecollection pods in prod -l "app in (a,b)"',
    ],
    [
      "GET",
      "/api/v1/namespaces/prod/services/web:http/proxy/admin/users",
      "get services/proxy prod/web:http /admin/users",
    ],
    ["GET", "/api/v1/proxy/namespaces/prod/pods/web/metrics", "proxy pods prod/web /metrics"],
    ["GET", "/version", "get /version"],
    ["POST", "/logs", "post /logs"],
  ])("%s %s reads %s", (method, target, text) => {
    expect(kubeStatement(kube(method, target))).toBe(text);
  });

  it("names an exec's container, flags and command, quoting what a shell would split", () => {
    const { info } = exec("prod", "web", []);
    const command = {
      argv: ["sh", "-c", 'echo "hi"\nrm -rf /'],
      line: "",
      interactive: true,
      stdin: true,
      tty: false,
      container: "app",
    };
    expect(kubeStatement(info, command)).toBe(
      'create pods/exec prod/web -c app -i -- sh -c "echo \\"hi\\"\\nrm -rf /"',
    );
  });

  it("escapes characters that could make a statement read as something else", () => {
    const { info, command } = exec("prod", "web", ["echo", "safe\u202e", "a\u2028b"]);
    expect(kubeStatement(info, command)).toBe(
      'create pods/exec prod/web -- echo "safe\\u{202e}" "a\\u{2028}b"',
    );
  });

  it("keeps different commands apart, so one approval never covers another", () => {
    const a = exec("prod", "web", ["sh", "-c", "ls /"]);
    const b = exec("prod", "web", ["sh", "-c", "ls", "/"]);
    expect(kubeStatement(a.info, a.command)).toBe('create pods/exec prod/web -- sh -c "ls /"');
    expect(kubeStatement(b.info, b.command)).toBe("create pods/exec prod/web -- sh -c ls /");
  });
});
