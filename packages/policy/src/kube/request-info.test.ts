import { describe, expect, it } from "vitest";
import { execCommand } from "./exec-command";
import { type KubeRequestInfo, kubeRequestInfo } from "./request-info";
import { bypassAttempts, kubectlRequests } from "./request-info-corpus";

function split(target: string): { path: string; query: string } {
  const q = target.indexOf("?");
  return q < 0 ? { path: target, query: "" } : { path: target.slice(0, q), query: target.slice(q + 1) };
}

function reads(info: KubeRequestInfo): string {
  if (!info.isResourceRequest) return `${info.verb} ${info.path}`;
  const resource = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
  return `${info.verb} ${resource} ${info.namespace || "-"} ${info.name || "-"}`;
}

describe("kubectl requests", () => {
  it.each(kubectlRequests)("%s: %s %s reads as %s", (_label, method, target, expected) => {
    const r = kubeRequestInfo({ method, ...split(target) });
    if (!r.ok) throw new Error(`refused: ${r.message}`);
    expect(reads(r)).toBe(expected);
  });

  it("fills the group, version and prefix of a grouped resource", () => {
    const r = kubeRequestInfo({ method: "GET", path: "/apis/apps/v1/namespaces/prod/deployments/web" });
    expect(r).toMatchObject({
      ok: true,
      isResourceRequest: true,
      apiPrefix: "apis",
      apiGroup: "apps",
      apiVersion: "v1",
      path: "/apis/apps/v1/namespaces/prod/deployments/web",
    });
  });

  it("reports the decoded path, which is the one the agent forwards", () => {
    const r = kubeRequestInfo({ method: "GET", path: "/api/v1/namespaces/prod/%73ecrets/db" });
    expect(r.ok && r.path).toBe("/api/v1/namespaces/prod/secrets/db");
  });

  it("keeps the selectors of a deletecollection, and of no get", () => {
    const del = kubeRequestInfo({
      method: "DELETE",
      path: "/api/v1/namespaces/prod/pods",
      query: "labelSelector=app%3Dweb",
    });
    expect(del).toMatchObject({ verb: "deletecollection", labelSelector: "app=web" });
    const get = kubeRequestInfo({
      method: "GET",
      path: "/api/v1/namespaces/prod/pods/web",
      query: "labelSelector=x",
    });
    expect(get.ok && get.labelSelector).toBeUndefined();
  });
});

describe("bypass attempts", () => {
  it.each(bypassAttempts)("refuses %s (%s %s) as %s", (_label, method, target, reason) => {
    const r = kubeRequestInfo({ method, ...split(target) });
    expect(r).toMatchObject({ ok: false, reason });
    if (!r.ok) expect(r.message.length).toBeGreaterThan(10);
  });
});

describe("execCommand", () => {
  it("reads the repeated command parameters in order, and a non-interactive exec", () => {
    const c = execCommand(
      "command=sh&command=-c&command=rm%20-rf%20%2F&container=app&stdout=true&stderr=true",
    );
    expect(c).toEqual({
      argv: ["sh", "-c", "rm -rf /"],
      line: "sh -c rm -rf /",
      interactive: false,
      stdin: false,
      tty: false,
      container: "app",
    });
  });

  it.each([
    ["stdin=true&command=sh", true],
    ["tty=1&command=sh", true],
    ["stdin=false&tty=0&command=sh", false],
    ["stdin=&command=sh", true],
  ])("%s is interactive: %s", (query, interactive) => {
    expect(execCommand(query).interactive).toBe(interactive);
  });

  it("has no command for an attach", () => {
    expect(execCommand("stdin=true&tty=true")).toMatchObject({ argv: [], line: "", interactive: true });
  });

  it("refuses a query it cannot read", () => {
    expect(() => execCommand("command=%zz")).toThrow(/cannot be read/);
  });
});
