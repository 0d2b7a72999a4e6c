import { readFileSync } from "node:fs";
import { credentials, status } from "@grpc/grpc-js";
import { AgentServiceClient, type AuthorizeSessionResponse, type RecordingAck } from "@sluice/proto";
import { eventually } from "@sluice/testkit";
import { decodeJwt, decodeProtectedHeader, importSPKI, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestControlPlane, type TestControlPlane } from "../../testing/control-plane.testing";
import {
  agentMetadata,
  createAppDb,
  createUser,
  linkAgent,
  type TestLink,
} from "../../testing/fixtures.testing";

let cp: TestControlPlane;
let client: AgentServiceClient;
let agentToken: string;
let userKey: string;
let outsiderKey: string;
let link: TestLink;

const md = agentMetadata;

beforeAll(async () => {
  cp = await startTestControlPlane();
  client = new AgentServiceClient(cp.grpcTarget, credentials.createSsl(readFileSync(cp.pki.caFile)));
  await cp.api("/api/v1/groups", { method: "POST", body: { name: "dev" } });
  userKey = (await createUser(cp, "dev", ["dev"])).key;
  outsiderKey = (await createUser(cp, "out", [])).key;
  await createAppDb(cp, ["dev"]);
  // Bring the agent online through a real link.
  link = await linkAgent({ cp, grpc: client }, "edge");
  agentToken = link.token;
});
afterAll(async () => {
  link?.close();
  client?.close();
  await cp?.stop();
});

describe("session brokering", () => {
  it("refuses a user outside the connection's groups, hiding the connection", async () => {
    const res = await cp.api("/api/v1/sessions", {
      method: "POST",
      key: outsiderKey,
      body: { connection: "app-db" },
    });
    expect(res.status).toBe(404);
  });

  it("returns the agent endpoint and a grant the agent can verify offline", async () => {
    const res = await cp.api("/api/v1/sessions", {
      method: "POST",
      key: userKey,
      body: { connection: "app-db" },
    });
    expect(res.status).toBe(201);
    expect(res.body.agent).toMatchObject({ name: "edge", endpoints: [{ protocol: "postgres", port: 6432 }] });
    const keys = (await cp.api("/api/v1/signing-keys")).body.items;
    const kid = decodeProtectedHeader(res.body.grant).kid;
    const key = keys.find((k: { kid: string }) => k.kid === kid);
    const { payload } = await jwtVerify(res.body.grant, await importSPKI(key.publicKeyPem, "EdDSA"), {
      issuer: "sluice-control-plane",
      audience: "sluice-agent",
    });
    expect(payload).toMatchObject({ sid: res.body.session.id, cname: "app-db", agent: res.body.agent.id });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(300);
    const mine = await cp.api("/api/v1/sessions", { key: userKey });
    expect(mine.body.items.map((s: { id: string }) => s.id)).toContain(res.body.session.id);
    expect((await cp.api(`/api/v1/sessions/${res.body.session.id}`, { key: outsiderKey })).status).toBe(404);
  });

  it("records the client that started a session, e.g. an MCP assistant", async () => {
    const client = { via: "mcp", name: "claude-code", version: "2.1.0" };
    const res = await cp.api("/api/v1/sessions", {
      method: "POST",
      key: userKey,
      body: { connection: "app-db", client },
    });
    expect(res.status).toBe(201);
    expect(res.body.session.client).toEqual(client);
    const id = res.body.session.id as string;
    expect((await cp.api(`/api/v1/sessions/${id}`, { key: userKey })).body.client).toEqual(client);
    const listed = (await cp.api("/api/v1/sessions", { key: userKey })).body.items;
    expect(listed.find((s: { id: string }) => s.id === id).client).toEqual(client);
    expect(listed.find((s: { id: string }) => s.id !== id).client).toBeNull();
    const bad = await cp.api("/api/v1/sessions", {
      method: "POST",
      key: userKey,
      body: { connection: "app-db", client: { via: "MCP!", name: "x" } },
    });
    expect(bad.status).toBe(400);
  });

  it("keeps old grants verifiable across a key rotation", async () => {
    const before = await cp.api("/api/v1/sessions", {
      method: "POST",
      key: userKey,
      body: { connection: "app-db" },
    });
    const oldKid = decodeProtectedHeader(before.body.grant).kid;
    await cp.api("/api/v1/signing-keys/rotate", { method: "POST" });
    const after = await cp.api("/api/v1/sessions", {
      method: "POST",
      key: userKey,
      body: { connection: "app-db" },
    });
    expect(decodeProtectedHeader(after.body.grant).kid).not.toBe(oldKid);
    const kids = (await cp.api("/api/v1/signing-keys")).body.items.map((k: { kid: string }) => k.kid);
    expect(kids).toEqual(expect.arrayContaining([oldKid, decodeProtectedHeader(after.body.grant).kid]));
  });

  it("authorizes a native client's API key over gRPC and refuses a bad one", async () => {
    const ok = await new Promise<AuthorizeSessionResponse>((resolve, reject) =>
      client.authorizeSession(
        {
          credential: userKey,
          connectionName: "app-db",
          clientAddress: "10.9.9.9",
          protocol: "postgres",
          sshPublicKey: "",
          sshCertificate: "",
          count: 0,
        },
        md(agentToken),
        (err, res) => (err ? reject(err) : resolve(res)),
      ),
    );
    expect(decodeJwt(ok.grant).sid).toBe(ok.sessionId);
    const bad = await new Promise<{ code?: number }>((resolve) =>
      client.authorizeSession(
        {
          credential: "slk_bad",
          connectionName: "app-db",
          clientAddress: "",
          protocol: "postgres",
          sshPublicKey: "",
          sshCertificate: "",
          count: 0,
        },
        md(agentToken),
        (err) => resolve(err ?? {}),
      ),
    );
    expect(bad.code).toBe(status.UNAUTHENTICATED);
  });

  it("stores uploaded recordings exactly once and moves the session's status", async () => {
    const started = await cp.api("/api/v1/sessions", {
      method: "POST",
      key: userKey,
      body: { connection: "app-db" },
    });
    const sid = started.body.session.id as string;
    const stream = client.uploadRecording(md(agentToken));
    const acks: RecordingAck[] = [];
    stream.on("data", (a: RecordingAck) => acks.push(a));
    const ev = (seq: number, kind: string, payload: object) => ({
      seq,
      atUnixMs: Date.now(),
      kind,
      payloadJson: JSON.stringify(payload),
    });
    const batch1 = {
      sessionId: sid,
      events: [
        ev(1, "session.start", { clientAddress: "127.0.0.1" }),
        ev(2, "pg.statement", { text: "select 1" }),
      ],
    };
    stream.write(batch1);
    stream.write(batch1); // re-sent after a reconnect: stored once
    stream.write({
      sessionId: sid,
      events: [ev(3, "session.end", { reason: "client closed", bytesIn: 10, bytesOut: 20 })],
    });
    await eventually(() => acks.length === 3);
    expect(acks.map((a) => a.ackedSeq)).toEqual([2, 2, 3]);
    stream.end();
    const events = await cp.api(`/api/v1/sessions/${sid}/events`, { key: userKey });
    expect(events.body.items.map((e: { seq: number }) => e.seq)).toEqual([1, 2, 3]);
    const session = await cp.api(`/api/v1/sessions/${sid}`, { key: userKey });
    expect(session.body).toMatchObject({
      status: "closed",
      bytesIn: 10,
      bytesOut: 20,
      endReason: "client closed",
    });
  });
});
