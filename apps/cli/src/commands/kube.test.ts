import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestOidcProvider, type TestOidcProvider } from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  startTestControlPlane,
  type TestControlPlane,
} from "../../../control-plane/src/testing/control-plane.testing";
import { type FakeAgent, startFakeAgent } from "../../../control-plane/src/testing/fake-agent.testing";
import { runCliProcess } from "../cli-process.testing";
import { normalizeUrl, readStoredConfig, writeStoredConfig } from "../config-store";
import { createMemoryIo } from "../fake-control-plane.testing";
import { runCli } from "../run";
import { storeTokens } from "../token-session";
import { cacheFile } from "./kube/credential-cache";

const KUBECTL = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";
const BIN = join(import.meta.dirname, "..", "..", "bin", "sluice.js");

let idp: TestOidcProvider;
let cp: TestControlPlane;
let url: string;
let edge: FakeAgent;
let bare: FakeAgent;
let listener: Server;
/** Each request the fake Kubernetes listener let through, with the credential it carried. */
const served: { path: string; token: string }[] = [];
/** A config dir holding an API key login of `dev`, and one holding an OIDC login of `kim`. */
let keyDir: string;
let oidcDir: string;

function temp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `sluice-kube-${prefix}-`));
}

/** Runs any program to completion without blocking the servers in this process. */
function runProcess(cmd: string, args: string[], env: Record<string, string>) {
  const child = spawn(cmd, args, { env: { PATH: process.env.PATH ?? "", ...env } });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  child.stdin.end();
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    child.on("close", (code) => resolve({ code, out, err })),
  );
}

async function credential(env: Record<string, string>, args: string[] = ["prod-k8s"]) {
  const io = createMemoryIo({ HOME: temp("home"), ...env });
  const code = await runCli(["kube", "credential", ...args], io);
  return { code, out: io.out(), err: io.err() };
}

const connectionLookups = () => cp.logs().split('"url":"/api/v1/connections/prod-k8s"').length - 1;

/** Stands in for the agent's Kubernetes listener: TLS with a CA-issued certificate, the credential checked by AuthorizeSession. */
async function startKubeListener(): Promise<Server> {
  const server = createServer(
    { cert: readFileSync(cp.pki.certFile), key: readFileSync(cp.pki.keyFile) },
    (req, res) => {
      const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "";
      const [, connection = "", ...rest] = (req.url ?? "/").split("/");
      edge.authorize({ credential: token, connectionName: connection, protocol: "kubernetes" }).then(
        () => {
          served.push({ path: req.url ?? "", token });
          res.writeHead(200, { "content-type": "application/json" });
          res.end(
            JSON.stringify({
              major: "1",
              minor: "33",
              gitVersion: "v1.33.0",
              platform: `/${rest.join("/")}`,
            }),
          );
        },
        () => {
          res.writeHead(401, { "content-type": "application/json" });
          res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", code: 401 }));
        },
      );
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

async function oidcLogin(user: string) {
  const redirectUri = "http://127.0.0.1:9/callback";
  const start = await cp.api("/api/v1/auth/oidc/start", { method: "POST", key: null, body: { redirectUri } });
  const back = new URL((await idp.browse(start.body.authorizationUrl, user)).url);
  const tokens = await cp.api("/api/v1/auth/oidc/callback", {
    method: "POST",
    key: null,
    body: {
      code: back.searchParams.get("code"),
      state: back.searchParams.get("state"),
      iss: back.searchParams.get("iss") ?? undefined,
    },
  });
  expect(tokens.status).toBe(200);
  return tokens.body;
}

beforeAll(async () => {
  idp = await startTestOidcProvider({
    users: { kim: { password: "kim-pw", name: "Kim Ops", email: "kim@example.test", groups: ["platform"] } },
  });
  cp = await startTestControlPlane({
    SLUICE_OIDC_ISSUER: idp.issuer,
    SLUICE_OIDC_CLIENT_ID: idp.cliClientId,
    SLUICE_OIDC_ALLOW_INSECURE_HTTP: "true",
  });
  url = normalizeUrl(cp.apiUrl);
  await cp.api("/api/v1/groups", { method: "POST", body: { name: "platform" } });
  const conn = (name: string, type: string, extra: Record<string, unknown> = {}) =>
    cp.api("/api/v1/connections", {
      method: "POST",
      body: { name, type, host: "127.0.0.1", port: 6443, allowedGroups: ["platform"], ...extra },
    });
  expect((await conn("prod-k8s", "kubernetes")).status).toBe(201);
  expect((await conn("orders", "tcp", { port: 9 })).status).toBe(201);
  expect((await conn("bare-k8s", "kubernetes", { agentSegment: "bare" })).status).toBe(201);
  listener = await startKubeListener();
  const kubePort = (listener.address() as AddressInfo).port;
  edge = await startFakeAgent(cp, "edge", [
    { protocol: "tunnel", host: "127.0.0.1", port: 1 },
    { protocol: "kubernetes", host: "127.0.0.1", port: kubePort },
  ]);
  bare = await startFakeAgent(cp, "bare", [{ protocol: "tunnel", host: "127.0.0.1", port: 1 }]);
  expect((await cp.api("/api/v1/agents/bare", { method: "PATCH", body: { segment: "bare" } })).status).toBe(
    200,
  );

  const dev = await cp.api("/api/v1/users", {
    method: "POST",
    body: { name: "dev", email: "dev@example.com", role: "user", groups: ["platform"] },
  });
  const key = await cp.api(`/api/v1/users/${dev.body.id}/api-keys`, { method: "POST", body: { name: "k" } });
  keyDir = temp("key");
  await writeStoredConfig({ SLUICE_CONFIG_DIR: keyDir }, { url, apiKey: key.body.secret });
  oidcDir = temp("oidc");
  await storeTokens({ SLUICE_CONFIG_DIR: oidcDir }, url, await oidcLogin("kim"));
}, 120_000);

afterAll(async () => {
  edge?.close();
  bare?.close();
  listener?.close();
  await cp?.stop();
  await idp?.stop();
});

describe("sluice kube credential", () => {
  it("prints an ExecCredential whose token the control plane and AuthorizeSession accept", async () => {
    const res = await credential({ SLUICE_CONFIG_DIR: oidcDir });
    expect(res.code, res.err).toBe(0);
    expect(res.err).toBe("");
    const cred = JSON.parse(res.out);
    expect(cred).toEqual({
      apiVersion: "client.authentication.k8s.io/v1",
      kind: "ExecCredential",
      status: { token: expect.stringMatching(/^slat\./), expirationTimestamp: expect.any(String) },
    });
    expect(cred.status.expirationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const left = Date.parse(cred.status.expirationTimestamp) - Date.now();
    expect(left).toBeGreaterThan(60_000);
    expect(left).toBeLessThanOrEqual(600_000);
    expect((await cp.api("/api/v1/me", { key: cred.status.token })).body.name).toBe("Kim Ops");
    const granted = await edge.authorize({
      credential: cred.status.token,
      connectionName: "prod-k8s",
      protocol: "kubernetes",
    });
    expect(granted).toBeDefined();
  });

  it("reuses the cached credential without asking the control plane, and checks again when it expired", async () => {
    const env = { SLUICE_CONFIG_DIR: keyDir };
    const first = JSON.parse((await credential(env)).out);
    const lookups = connectionLookups();
    const second = JSON.parse((await credential(env)).out);
    expect(second.status).toEqual(first.status);
    expect(connectionLookups()).toBe(lookups);
    const file = cacheFile(env, url, "prod-k8s");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, "utf8")).not.toContain(first.status.token);
    const entry = JSON.parse(readFileSync(file, "utf8"));
    writeFileSync(file, JSON.stringify({ ...entry, expiresAt: new Date(Date.now() + 30_000).toISOString() }));
    const third = JSON.parse((await credential(env)).out);
    expect(connectionLookups()).toBeGreaterThan(lookups);
    expect(Date.parse(third.status.expirationTimestamp)).toBeGreaterThan(Date.now() + 9 * 60_000);
  });

  it("refreshes an OIDC login close to expiry once, even for kubectl commands started together", async () => {
    const env = { SLUICE_CONFIG_DIR: oidcDir };
    const cached = JSON.parse((await credential(env)).out).status.token;
    const again = JSON.parse((await credential(env)).out).status.token;
    expect(again).toBe(cached);
    const stored = await readStoredConfig(env);
    await writeStoredConfig(env, {
      ...stored!,
      accessTokenExpiresAt: new Date(Date.now() + 30_000).toISOString(),
    });
    const runs = await Promise.all(
      [1, 2, 3, 4].map(() =>
        runCliProcess(["kube", "credential", "prod-k8s"], { ...env, HOME: temp("home") }),
      ),
    );
    const tokens = runs.map((r) => {
      expect(r.code, r.err).toBe(0);
      return JSON.parse(r.out).status.token as string;
    });
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).not.toBe(cached);
    expect((await readStoredConfig(env))?.refreshToken).not.toBe(stored?.refreshToken);
    // One refresh: a refresh token presented twice would have revoked the login.
    expect((await cp.api("/api/v1/me", { key: tokens[0] as string })).status).toBe(200);
  }, 60_000);

  it("answers in the apiVersion kubectl asks for in KUBERNETES_EXEC_INFO", async () => {
    const info = JSON.stringify({
      apiVersion: "client.authentication.k8s.io/v1beta1",
      kind: "ExecCredential",
      spec: { interactive: false, cluster: { server: "https://x" } },
    });
    const res = await credential({ SLUICE_CONFIG_DIR: keyDir, KUBERNETES_EXEC_INFO: info });
    expect(JSON.parse(res.out).apiVersion).toBe("client.authentication.k8s.io/v1beta1");
  });

  it("fails in plain words with a non-zero exit, never printing the token", async () => {
    const key = (await readStoredConfig({ SLUICE_CONFIG_DIR: keyDir }))?.apiKey as string;
    const none = await credential({ SLUICE_CONFIG_DIR: temp("empty") });
    expect(none).toMatchObject({ code: 2, out: "" });
    expect(none.err).toMatch(/sluice cannot get a credential for prod-k8s: not logged in/);
    const unknown = await credential({ SLUICE_CONFIG_DIR: keyDir }, ["nope"]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/there is no connection nope that you may use/);
    const tcp = await credential({ SLUICE_CONFIG_DIR: keyDir }, ["orders"]);
    expect(tcp.code).toBe(1);
    expect(tcp.err).toMatch(/orders is a tcp connection; kubectl reaches kubernetes connections only/);
    const other = await credential({ SLUICE_CONFIG_DIR: keyDir }, [
      "prod-k8s",
      "--url",
      "https://cp.elsewhere",
    ]);
    expect(other.code).toBe(2);
    expect(other.err).toMatch(/belongs to the control plane at https:\/\/cp.elsewhere/);
    const down = temp("down");
    await writeStoredConfig({ SLUICE_CONFIG_DIR: down }, { url: "http://127.0.0.1:9", apiKey: key });
    const unreachable = await credential({ SLUICE_CONFIG_DIR: down });
    expect(unreachable.code).toBe(3);
    expect(unreachable.err).toMatch(/cannot reach the control plane at http:\/\/127.0.0.1:9/);
    for (const r of [none, unknown, tcp, other, unreachable]) expect(r.out + r.err).not.toContain(key);
  });
});

describe("sluice kube login", () => {
  const EXISTING = [
    "# managed by hand",
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "  - name: minikube",
    "    cluster:",
    "      server: https://192.168.49.2:8443",
    "users:",
    "  - name: minikube",
    "    user:",
    "      token: keep-me",
    "contexts:",
    "  - name: minikube",
    "    context: { cluster: minikube, user: minikube, namespace: default }",
    "current-context: minikube",
    "",
  ].join("\n");

  const login = (args: string[], env: Record<string, string> = {}) =>
    runCliProcess(["kube", "login", ...args], { SLUICE_CONFIG_DIR: keyDir, HOME: temp("home"), ...env });

  it("merges a cluster, user and context that kubectl reads and uses to reach the agent", async () => {
    const file = join(temp("kubeconfig"), "config");
    writeFileSync(file, EXISTING);
    const res = await login(["prod-k8s", "--kubeconfig", file]);
    expect(res.code, res.err).toBe(0);
    expect(res.out).toContain("kubectl --context sluice-prod-k8s get pods");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, "utf8");
    expect(text).toContain("# managed by hand");
    const doc = parse(text);
    const before = parse(EXISTING);
    expect(doc.clusters[0]).toEqual(before.clusters[0]);
    expect(doc.users[0]).toEqual(before.users[0]);
    expect(doc.contexts[0]).toEqual(before.contexts[0]);
    expect(doc["current-context"]).toBe("minikube");

    const view = await runProcess(KUBECTL, ["config", "view", "--kubeconfig", file, "--raw", "-o", "json"], {
      HOME: temp("home"),
    });
    expect(view.code, view.err).toBe(0);
    const seen = JSON.parse(view.out);
    const port = (listener.address() as AddressInfo).port;
    expect(seen.clusters.find((c: any) => c.name === "sluice-prod-k8s").cluster).toEqual({
      server: `https://127.0.0.1:${port}/prod-k8s`,
      "certificate-authority-data": Buffer.from(cp.pki.caPem).toString("base64"),
    });
    expect(seen.users.find((u: any) => u.name === "sluice-prod-k8s").user.exec).toMatchObject({
      apiVersion: "client.authentication.k8s.io/v1",
      command: process.execPath,
      args: [BIN, "kube", "credential", "prod-k8s", "--url", url],
      env: [{ name: "SLUICE_CONFIG_DIR", value: keyDir }],
      interactiveMode: "Never",
    });
    expect(seen.contexts.map((c: any) => c.name)).toEqual(["minikube", "sluice-prod-k8s"]);

    served.length = 0;
    // `kubectl version` asks the server through its discovery client, which keeps the /<connection> prefix.
    const version = await runProcess(
      KUBECTL,
      ["--kubeconfig", file, "--context", "sluice-prod-k8s", "version", "-o", "json"],
      { HOME: temp("home") },
    );
    expect(version.code, version.err).toBe(0);
    expect(JSON.parse(version.out).serverVersion.platform).toMatch(/^\/version/);
    expect(served).toEqual([
      { path: expect.stringMatching(/^\/prod-k8s\/version/), token: expect.stringMatching(/^slk_/) },
    ]);
  }, 60_000);

  it("updates its entries in place on a second run, and --use and --context pick the current context", async () => {
    const file = join(temp("kubeconfig"), "nested", "config");
    const viaEnv = await login(["prod-k8s"], { KUBECONFIG: `${file}:/elsewhere/config` });
    expect(viaEnv.code, viaEnv.err).toBe(0);
    const res = await login(["prod-k8s", "--kubeconfig", file, "--use"]);
    expect(res.code, res.err).toBe(0);
    let doc = parse(readFileSync(file, "utf8"));
    expect(doc.clusters).toHaveLength(1);
    expect(doc.users).toHaveLength(1);
    expect(doc["current-context"]).toBe("sluice-prod-k8s");
    expect((await login(["prod-k8s", "--kubeconfig", file, "--context", "prod", "--use"])).code).toBe(0);
    doc = parse(readFileSync(file, "utf8"));
    expect(doc.contexts.map((c: any) => c.name)).toEqual(["sluice-prod-k8s", "prod"]);
    expect(doc["current-context"]).toBe("prod");
  }, 60_000);

  it("refuses connections kubectl cannot use, and leaves the kubeconfig alone", async () => {
    const file = join(temp("kubeconfig"), "config");
    writeFileSync(file, EXISTING);
    const tcp = await login(["orders", "--kubeconfig", file]);
    expect(tcp.code).toBe(1);
    expect(tcp.err).toMatch(/orders is a tcp connection/);
    expect(tcp.err).toMatch(/sluice connect orders --port 9000/);
    const noEndpoint = await login(["bare-k8s", "--kubeconfig", file]);
    expect(noEndpoint.code).toBe(1);
    expect(noEndpoint.err).toMatch(/agent bare, which serves bare-k8s, announces no kubernetes endpoint/);
    const unknown = await login(["nope", "--kubeconfig", file]);
    expect(unknown.err).toMatch(/there is no connection nope/);
    expect(readFileSync(file, "utf8")).toBe(EXISTING);
  }, 60_000);
});
