import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AuthorizationAttributes,
  type FakeKube,
  startFakeKubeApiServer,
  writeKubeconfig,
} from "./fake-kube";
import { createKubectlEnv, KUBECTL, KUBECTL_OLD, type KubectlEnv, rawRequest } from "./kubectl.testing";

let fake: FakeKube;
let kubectl: KubectlEnv;
let bob: string;
const asked: AuthorizationAttributes[] = [];

/** RBAC stand-in: "alice" may only read pods in "dev"; everyone else may do anything. */
function authorize(attrs: AuthorizationAttributes): boolean {
  asked.push(attrs);
  if (attrs.user !== "alice") return true;
  return (
    attrs.resource === "pods" && attrs.namespace === "dev" && ["get", "list", "watch"].includes(attrs.verb)
  );
}

beforeAll(async () => {
  fake = await startFakeKubeApiServer({
    tokens: { "bob-token": { user: "bob", groups: ["devs"] } },
    authorize,
  });
  kubectl = createKubectlEnv(fake);
  bob = kubectl.kubeconfigFor("bob-token", "bob");
  fake.seed({ apiVersion: "v1", kind: "Namespace", metadata: { name: "dev" } });
});

afterAll(async () => {
  await fake?.close();
  kubectl?.cleanup();
});

describe.each([
  ["newest", KUBECTL],
  ["1.27", KUBECTL_OLD],
])("authentication and impersonation with kubectl %s", (_label, bin) => {
  it("records the impersonated user and groups the cluster saw", async () => {
    fake.reset();
    const out = await kubectl.run(
      ["--as", "alice", "--as-group", "team-a", "--as-group", "team-b", "-n", "dev", "get", "pods"],
      { bin },
    );
    expect(out.stderr).toBe("No resources found in dev namespace.\n");
    const list = fake.requests.find((r) => r.verb === "list" && r.resource === "pods");
    expect(list).toMatchObject({
      authUser: "kubernetes-admin",
      user: "alice",
      groups: ["team-a", "team-b", "system:authenticated"],
      impersonated: true,
      namespace: "dev",
      status: 200,
    });
    expect(list?.headers["impersonate-user"]).toBe("alice");
    expect(list?.headers.authorization).toBeUndefined();
  });

  it("refuses an impersonation by a token that may not impersonate, in the real words", async () => {
    const out = await kubectl.run(["--as", "alice", "get", "pods"], { bin, kubeconfig: bob });
    expect(out.code).toBe(1);
    expect(out.stderr).toBe(
      'Error from server (Forbidden): users "alice" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope\n',
    );
    const refused = fake.requests.findLast((r) => r.status === 403);
    expect(refused).toMatchObject({ authUser: "bob", user: "bob", impersonated: false });
  });

  it("answers RBAC refusals with the authorizer's message and can-i from the same rules", async () => {
    const denied = await kubectl.run(["--as", "alice", "-n", "prod", "get", "pods"], { bin });
    expect(denied.stderr).toBe(
      'Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "prod"\n',
    );
    const yes = await kubectl.run(["--as", "alice", "auth", "can-i", "list", "pods", "-n", "dev"], { bin });
    expect(yes).toMatchObject({ code: 0, stdout: "yes\n" });
    const no = await kubectl.run(["--as", "alice", "auth", "can-i", "delete", "pods", "-n", "dev"], { bin });
    expect(no).toMatchObject({ code: 1, stdout: "no\n" });
    expect(asked).toContainEqual(
      expect.objectContaining({ user: "alice", verb: "delete", resource: "pods", namespace: "dev" }),
    );
  });
});

describe("credentials", () => {
  it("answers a missing or unknown token with the real 401 Status", async () => {
    const attempts: Record<string, string>[] = [{}, { Authorization: "Bearer nope" }];
    for (const headers of attempts) {
      const res = await rawRequest(fake, "GET", "/api/v1/namespaces/default/pods", headers);
      expect(res.status).toBe(401);
      expect(JSON.parse(res.body)).toEqual({
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: "Unauthorized",
        reason: "Unauthorized",
        code: 401,
      });
    }
  });

  it("returns the exact 403 Status body for a refused impersonation", async () => {
    const res = await rawRequest(fake, "GET", "/api/v1/pods", {
      Authorization: "Bearer bob-token",
      "Impersonate-User": "alice",
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message:
        'users "alice" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope',
      reason: "Forbidden",
      details: { name: "alice", kind: "users" },
      code: 403,
    });
  });

  it("authenticates a client certificate signed by the fake's CA by its common name", async () => {
    const cert = await fake.issueClientCertificate("dana");
    const config = join(kubectl.dir, "kubeconfig-dana");
    writeKubeconfig(config, {
      server: fake.url,
      caPem: fake.caPem,
      clientCertFile: cert.certFile,
      clientKeyFile: cert.keyFile,
    });
    const out = await kubectl.run(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"], {
      kubeconfig: config,
    });
    expect(out).toMatchObject({ code: 0, stdout: "dana" });
  });

  it("tells kubectl auth whoami who the request acts as", async () => {
    const own = await kubectl.run(["auth", "whoami", "-o", "json"], { kubeconfig: bob });
    expect(JSON.parse(own.stdout).status.userInfo).toEqual({
      username: "bob",
      groups: ["devs", "system:authenticated"],
    });
    const as = await kubectl.run(["--as", "carol", "--as-uid", "u-1", "auth", "whoami", "-o", "json"]);
    expect(JSON.parse(as.stdout).status.userInfo).toEqual({
      username: "carol",
      uid: "u-1",
      groups: ["system:authenticated"],
    });
  });
});
