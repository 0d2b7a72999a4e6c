import { readFileSync } from "node:fs";
import { credentials, Metadata, status } from "@grpc/grpc-js";
import { AgentServiceClient, type ControlMessage } from "@sluice/proto";
import { eventually } from "@sluice/testkit";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestControlPlane, type TestControlPlane } from "../../testing/control-plane.testing";

let cp: TestControlPlane;
let client: AgentServiceClient;

function openLink(token: string, resumeVersion = 0) {
  const md = new Metadata();
  md.set("authorization", `Bearer ${token}`);
  const call = client.link(md);
  const messages: ControlMessage[] = [];
  const ended = new Promise<{ code: number; details: string }>((resolve) => {
    call.on("error", (err: Error & { code: number; details: string }) =>
      resolve({ code: err.code, details: err.details }),
    );
  });
  call.on("data", (m: ControlMessage) => messages.push(m));
  call.write({
    body: {
      $case: "hello",
      value: {
        agentVersion: "test-1",
        capabilities: ["postgres"],
        endpoints: [{ protocol: "postgres", host: "127.0.0.1", port: 6432 }],
        resumeVersion,
      },
    },
  });
  return { call, messages, ended };
}

async function createAgent(name: string, segment = "default") {
  const res = await cp.api("/api/v1/agents", { method: "POST", body: { name, segment } });
  expect(res.status).toBe(201);
  return res.body.enrollmentToken as string;
}

beforeAll(async () => {
  cp = await startTestControlPlane();
  client = new AgentServiceClient(cp.grpcTarget, credentials.createSsl(readFileSync(cp.pki.caFile)));
});
afterAll(async () => {
  client?.close();
  await cp?.stop();
});

describe("agent link", () => {
  it("rejects an unknown credential", async () => {
    const { ended } = openLink("sat_not-a-real-token-aaaaaaaaaaaaaaaaaaaaaaaa");
    const err = await ended;
    expect(err.code).toBe(status.UNAUTHENTICATED);
  });

  it("sends a snapshot of served connections, then changes within a second", async () => {
    const token = await createAgent("hub-a", "eu");
    await cp.api("/api/v1/connections", {
      method: "POST",
      body: { name: "eu-db", type: "tcp", host: "10.1.1.1", port: 5432, agentSegment: "eu" },
    });
    await cp.api("/api/v1/connections", {
      method: "POST",
      body: { name: "us-db", type: "tcp", host: "10.2.2.2", port: 5432, agentSegment: "us" },
    });
    const link = openLink(token);
    const snap = await eventually(() => link.messages.find((m) => m.body?.$case === "snapshot"));
    if (snap.body?.$case !== "snapshot") throw new Error("unreachable");
    expect(snap.body.value.connections.map((c) => c.name)).toEqual(["eu-db"]);
    expect(snap.body.value.agent?.name).toBe("hub-a");

    const agent = await eventually(async () => {
      const a = await cp.api("/api/v1/agents/hub-a");
      return a.body.status === "online" ? a.body : undefined;
    });
    expect(agent).toMatchObject({
      version: "test-1",
      endpoints: [{ protocol: "postgres", host: "127.0.0.1", port: 6432 }],
    });

    const started = Date.now();
    await cp.api("/api/v1/connections/eu-db", { method: "PATCH", body: { port: 6543 } });
    const change = await eventually(() =>
      link.messages.find(
        (m) => m.body?.$case === "change" && m.body.value.body?.$case === "connectionUpsert",
      ),
    );
    expect(Date.now() - started).toBeLessThan(1000);
    if (change.body?.$case !== "change" || change.body.value.body?.$case !== "connectionUpsert")
      throw new Error();
    expect(change.body.value.body.value.port).toBe(6543);

    await cp.api("/api/v1/connections/eu-db", { method: "PATCH", body: { agentSegment: "us" } });
    await eventually(() =>
      link.messages.find(
        (m) => m.body?.$case === "change" && m.body.value.body?.$case === "connectionDelete",
      ),
    );
    link.call.cancel();
  });

  it("delivers a change whose notification was lost, within a few seconds", async () => {
    const token = await createAgent("hub-lost", "lost");
    const made = await cp.api("/api/v1/connections", {
      method: "POST",
      body: { name: "lost-db", type: "tcp", host: "10.4.4.4", port: 1, agentSegment: "lost" },
    });
    const link = openLink(token);
    await eventually(() => link.messages.find((m) => m.body?.$case === "snapshot"));
    // A change committed while Redis was unreachable: recorded, never published.
    const sql = new pg.Client({ connectionString: cp.db.url });
    await sql.connect();
    await sql.query(`UPDATE connections SET port = 4242 WHERE id = $1`, [made.body.id]);
    await sql.query(`INSERT INTO state_changes (kind, "entityId") VALUES ('connection.upsert', $1)`, [
      made.body.id,
    ]);
    await sql.end();
    const change = await eventually(
      () =>
        link.messages.find(
          (m) => m.body?.$case === "change" && m.body.value.body?.$case === "connectionUpsert",
        ),
      5000,
    );
    if (change.body?.$case !== "change" || change.body.value.body?.$case !== "connectionUpsert")
      throw new Error();
    expect(change.body.value.body.value.port).toBe(4242);
    link.call.cancel();
  });

  it("resumes from the agent's cursor with only the changes it missed", async () => {
    const token = await createAgent("hub-b", "resume");
    const first = openLink(token);
    const snap = await eventually(() => first.messages.find((m) => m.body?.$case === "snapshot"));
    const version = snap.body?.$case === "snapshot" ? snap.body.value.version : 0;
    first.call.cancel();
    await cp.api("/api/v1/connections", {
      method: "POST",
      body: { name: "missed", type: "tcp", host: "10.3.3.3", port: 1, agentSegment: "resume" },
    });
    const second = openLink(token, version);
    const change = await eventually(() => second.messages.find((m) => m.body?.$case === "change"));
    expect(second.messages.some((m) => m.body?.$case === "snapshot")).toBe(false);
    if (change.body?.$case !== "change" || change.body.value.body?.$case !== "connectionUpsert")
      throw new Error();
    expect(change.body.value.body.value.name).toBe("missed");
    second.call.cancel();
  });

  it("disconnects an agent at once when it is revoked", async () => {
    const token = await createAgent("hub-c");
    const link = openLink(token);
    await eventually(() => link.messages.find((m) => m.body?.$case === "snapshot"));
    const started = Date.now();
    await cp.api("/api/v1/agents/hub-c/revoke", { method: "POST" });
    const err = await link.ended;
    expect(err.code).toBe(status.UNAUTHENTICATED);
    expect(Date.now() - started).toBeLessThan(1000);
    const again = openLink(token);
    expect((await again.ended).code).toBe(status.UNAUTHENTICATED);
    expect((await cp.api("/api/v1/agents/hub-c")).body.status).toBe("revoked");
  });

  it("answers heartbeats and marks an agent offline when they stop", async () => {
    const token = await createAgent("hub-d");
    const link = openLink(token);
    await eventually(() => link.messages.find((m) => m.body?.$case === "snapshot"));
    link.call.write({
      body: { $case: "heartbeat", value: { activeSessions: 3, stateVersion: 7, spoolBytes: 0 } },
    });
    await eventually(() => link.messages.find((m) => m.body?.$case === "heartbeatAck"));
    expect((await cp.api("/api/v1/agents/hub-d")).body).toMatchObject({
      status: "online",
      activeSessions: 3,
    });
    // A half-open link: the stream stays up but heartbeats stop; the sweeper marks it offline.
    await eventually(async () => (await cp.api("/api/v1/agents/hub-d")).body.status === "offline", 8000, 200);
    link.call.cancel();
  });
});
