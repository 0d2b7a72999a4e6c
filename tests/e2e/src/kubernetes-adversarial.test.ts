import { gzipSync } from "node:zlib";
import { eventually, type FakeKube } from "@sluice/testkit";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKubeWorld } from "./kube-world";
import type { AgentProcess, Stack } from "./stack";

/**
 * What an attacker with a valid Sluice key tries against the Kubernetes listener: paths the
 * API server reads differently from a naive matcher, impersonation headers in odd
 * spellings, content negotiation that would carry a Secret past the redactor, and streams
 * the agent cannot read. Every one must be refused or redacted, never passed through.
 */

const CONN = "cluster";
const SECRET = "s3cr3t-value-do-not-leak";
let stack: Stack;
let agent: AgentProcess;
let fake: FakeKube;
let devKey: string;
let dispatcher: Agent;

async function send(
  path: string,
  opts: { method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer } = {},
) {
  const res = await request(`https://127.0.0.1:${agent.kubePort}/${CONN}${path}`, {
    method: (opts.method ?? "GET") as "GET",
    headers: { authorization: `Bearer ${devKey}`, ...opts.headers },
    ...(opts.body !== undefined ? { body: opts.body } : {}),
    dispatcher,
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, text: body.toString("utf8"), raw: body };
}

beforeAll(async () => {
  const world = await startKubeWorld({
    connection: CONN,
    seed: (fake) => {
      fake.seed({ apiVersion: "v1", kind: "Namespace", metadata: { name: "prod" } });
      fake.seed({
        apiVersion: "v1",
        kind: "Secret",
        metadata: {
          name: "db",
          namespace: "prod",
          annotations: {
            "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify({
              stringData: { password: SECRET },
            }),
          },
        },
        data: { password: Buffer.from(SECRET).toString("base64") },
      });
    },
    policy: {
      name: "prod-guard",
      guardrails: [
        {
          name: "no-prod-secrets-write",
          kube: { verbs: ["delete", "update", "patch"], resources: ["secrets"], namespaces: ["prod"] },
        },
      ],
    },
  });
  ({ stack, fake, agent, devKey } = world);
  dispatcher = new Agent({ connect: { ca: world.agentCa } });
  await eventually(async () => (await send("/api/v1/namespaces")).status === 200, 30_000, 300);
}, 180_000);

afterAll(async () => {
  await dispatcher?.close();
  await stack?.stop();
  await fake?.close();
});

describe("paths the API server would read another way", () => {
  it.each([
    ["an encoded slash", "/api/v1/namespaces/prod%2Fsecrets/db"],
    ["a dot segment", "/api/v1/namespaces/prod/pods/../secrets/db"],
    ["an encoded dot segment", "/api/v1/namespaces/prod/pods/%2e%2e/secrets/db"],
    ["an empty segment", "/api/v1/namespaces/prod//secrets/db"],
    ["upper case", "/API/v1/namespaces/prod/secrets/db"],
  ])(
    "refuses %s (or judges the path it resolves to), and the cluster never sees it",
    async (_label, path) => {
      fake.reset();
      const res = await send(path, { method: "DELETE" });
      // Either the path is refused as unreadable, or it is resolved before policy reads it
      // (the path judged is the path sent) and the delete rule refuses it.
      expect([400, 403]).toContain(res.status);
      expect(JSON.parse(res.text)).toMatchObject({ kind: "Status", status: "Failure", code: res.status });
      expect(fake.requests.filter((r) => r.method === "DELETE")).toEqual([]);
    },
  );

  it("refuses a repeated watch parameter instead of guessing which one counts", async () => {
    const res = await send("/api/v1/namespaces/prod/secrets?watch=false&watch=true");
    expect(res.status).toBe(400);
  });
});

describe("impersonation headers", () => {
  it.each([
    ["Impersonate-User", { "Impersonate-User": "cluster-admin" }],
    ["upper case", { "IMPERSONATE-USER": "cluster-admin" }],
    ["a group only", { "Impersonate-Group": "system:masters" }],
    ["an extra field", { "Impersonate-Extra-scopes": "admin" }],
    ["a uid", { "Impersonate-Uid": "0" }],
  ])("refuses %s with 403, and the cluster never sees the request", async (_label, headers) => {
    fake.reset();
    const res = await send("/api/v1/namespaces/prod/pods", { headers });
    expect(res.status).toBe(403);
    expect(res.text).toContain("impersonation (kubectl --as) is not allowed through Sluice");
    expect(fake.requests).toEqual([]);
  });

  it("sends the identity's own impersonation and never the caller's key", async () => {
    fake.reset();
    const res = await send("/api/v1/namespaces/prod/pods");
    expect(res.status).toBe(200);
    expect(fake.requests[0]).toMatchObject({ user: "dev@example.com", impersonated: true });
    expect(JSON.stringify(fake.requests[0]?.headers)).not.toContain(devKey);
  });
});

describe("content negotiation around the Secret redactor", () => {
  it.each([
    ["protobuf only", { accept: "application/vnd.kubernetes.protobuf" }],
    ["gzip", { accept: "application/json", "accept-encoding": "gzip" }],
    ["a table with full objects", { accept: "application/json;as=Table;v=v1;g=meta.k8s.io" }],
  ])("never lets a Secret value out when asking for %s", async (_label, headers) => {
    for (const path of [
      "/api/v1/namespaces/prod/secrets/db",
      "/api/v1/namespaces/prod/secrets?includeObject=Object",
    ]) {
      const res = await send(path, { headers });
      expect(res.status).toBeLessThan(500);
      expect(res.text).not.toContain(SECRET);
      expect(res.text).not.toContain(Buffer.from(SECRET).toString("base64"));
      expect(res.raw.includes(gzipSync(SECRET).subarray(10, 20))).toBe(false);
    }
  });

  it("redacts Secrets in a watch stream", async () => {
    const res = await request(
      `https://127.0.0.1:${agent.kubePort}/${CONN}/api/v1/namespaces/prod/secrets?watch=true`,
      {
        headers: { authorization: `Bearer ${devKey}` },
        dispatcher,
      },
    );
    expect(res.statusCode).toBe(200);
    const it = res.body[Symbol.asyncIterator]();
    const first = Buffer.from((await it.next()).value).toString();
    expect(first).toContain('"name":"db"');
    expect(first).not.toContain(Buffer.from(SECRET).toString("base64"));
    expect(first).not.toContain(SECRET);
    res.body.destroy();
  });
});

describe("writes the rules cover", () => {
  it("refuses a patch to a prod Secret, whatever patch type is claimed", async () => {
    fake.reset();
    for (const type of [
      "application/merge-patch+json",
      "application/json-patch+json",
      "application/apply-patch+yaml",
    ]) {
      const res = await send("/api/v1/namespaces/prod/secrets/db", {
        method: "PATCH",
        headers: { "content-type": type },
        body: '{"data":{"password":"eA=="}}',
      });
      expect(res.status).toBe(403);
    }
    expect(fake.requests).toEqual([]);
  });
});

describe("streams", () => {
  it("refuses a SPDY upgrade with a Status instead of passing an unrecorded stream", async () => {
    fake.reset();
    const tls = await import("node:tls");
    const ca = (await stack.api("/api/v1/ca")).body.caPem as string;
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: "127.0.0.1", port: agent.kubePort, ca }, () =>
        socket.write(
          `POST /${CONN}/api/v1/namespaces/prod/pods/web/exec?command=sh&stdin=true HTTP/1.1\r\n` +
            `Host: x\r\nAuthorization: Bearer ${devKey}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n` +
            "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n",
        ),
      );
      let out = "";
      socket.on("data", (c) => {
        out += c.toString("latin1");
      });
      socket.on("close", () => resolve(out));
      socket.on("error", reject);
      socket.setTimeout(10_000, () => socket.destroy());
    });
    expect(answer, answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer, answer).toContain("over WebSocket only");
    expect(fake.requests.filter((r) => r.subresource === "exec")).toEqual([]);
  });
});
