import { randomBytes } from "node:crypto";
import { eventually, type PrivateCluster, startPrivateCluster } from "@sluice/testkit";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, type RecordedEvent, type Stack, startStack } from "./stack";

/**
 * The control plane, and the PostgreSQL under it, die in the middle of sessions with
 * traffic. A live session on the agent keeps working while they are away; afterwards
 * every statement the client saw is in the recording exactly once, and the audit chain
 * still verifies.
 */
const CP_PASSWORD = randomBytes(12).toString("hex");
const TARGET_PASSWORD = randomBytes(12).toString("hex");
let cpDb: PrivateCluster;
let target: PrivateCluster;
let stack: Stack;
let agent: AgentProcess;
let devKey: string;

beforeAll(async () => {
  [cpDb, target] = await Promise.all([
    startPrivateCluster([{ name: "sluice", password: CP_PASSWORD, method: "scram-sha-256" }]),
    startPrivateCluster([{ name: "app", password: TARGET_PASSWORD, method: "scram-sha-256" }]),
  ]);
  await cpDb.psql("CREATE DATABASE sluice OWNER sluice");
  await target.psql("CREATE DATABASE appdb OWNER app");
  stack = await startStack({
    controlPlaneEnv: {
      DATABASE_URL: `postgres://sluice:${CP_PASSWORD}@127.0.0.1:${cpDb.port}/sluice`,
      SLUICE_MIGRATE_ON_START: "true",
    },
  });
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "dev" } });
  devKey = await stack.userKey("dev@example.com", ["dev"]);
  const conn = await stack.api("/api/v1/connections", {
    method: "POST",
    body: {
      name: "orders",
      type: "postgres",
      host: "127.0.0.1",
      port: target.port,
      database: "appdb",
      username: "app",
      credentialRef: "env:ORDERS_PASSWORD",
      allowedGroups: ["dev"],
    },
  });
  expect(conn.status).toBe(201);
  agent = await stack.startAgent("chaos-edge", { ORDERS_PASSWORD: TARGET_PASSWORD });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await Promise.all([cpDb?.stop(), target?.stop()]);
});

async function client(password: string): Promise<pg.Client> {
  const c = new pg.Client({
    host: "127.0.0.1",
    port: agent.pgPort,
    database: "orders",
    user: "app",
    password,
  });
  c.on("error", () => undefined);
  await c.connect();
  return c;
}

/** The control plane comes back on the ports the agent knows. */
async function restartControlPlane(): Promise<void> {
  await stack.restartControlPlane();
  // The agent links again on its own (with backoff); new sessions are brokered once it has.
  await eventually(
    async () => (await stack.api("/api/v1/agents/chaos-edge")).body?.status === "online",
    30_000,
  );
}

async function statementsRecorded(sessionId: string): Promise<number[]> {
  const events: RecordedEvent[] = await stack.closedSessionEvents(sessionId, 60_000);
  return events
    .filter((e) => e.kind === "pg.result" && !e.payload.error)
    .map((e) => Number(e.payload.rows?.[0]?.[0]))
    .filter((n) => Number.isFinite(n));
}

async function sessionIdOf(c: pg.Client): Promise<string> {
  // The session id is the newest session on the connection once this client is in.
  await c.query("SELECT 0");
  const sessions = await eventually(async () => {
    const res = await stack.api("/api/v1/sessions?connection=orders&status=active");
    return res.body?.items?.length ? (res.body.items as { id: string }[]) : undefined;
  }, 15_000);
  return sessions[0]!.id;
}

describe("kill -9 of the control plane, repeatedly, under a live session", () => {
  it("keeps the session working, refuses only what needs the control plane, and loses nothing", async () => {
    const grant = (
      await stack.api("/api/v1/sessions", { method: "POST", body: { connection: "orders" }, key: devKey })
    ).body.grant as string;
    const live = await client(devKey);
    const sid = await sessionIdOf(live);
    const seen: number[] = [];
    let n = 0;
    const run = async (count: number) => {
      for (let i = 0; i < count; i++) {
        n += 1;
        const res = await live.query(`SELECT ${n} AS n`);
        expect(Number(res.rows[0]?.n)).toBe(n);
        seen.push(n);
      }
    };
    for (let round = 0; round < 3; round++) {
      await run(20);
      await stack.cp.proc.stop("SIGKILL");
      // While it is away: the live session goes on, an API key cannot open a session, a grant can.
      await run(20);
      const refused = await client(devKey).then(
        (c) => c.end().then(() => "connected"),
        (err: Error & { code?: string }) => `${err.code}: ${err.message}`,
      );
      expect(refused).toMatch(/^08006: the control plane is unreachable/);
      if (round === 0) {
        const offline = await client(grant);
        expect((await offline.query("SELECT 'offline' AS v")).rows[0]?.v).toBe("offline");
        await offline.end();
      }
      await restartControlPlane();
      await run(10);
    }
    await live.end();
    const recorded = await statementsRecorded(sid);
    expect(recorded.filter((v) => v > 0)).toEqual(seen);
    const verify = await stack.api("/api/v1/audit/verify");
    expect(verify.body).toMatchObject({ ok: true });
  }, 180_000);
});

describe("kill -9 of PostgreSQL under the control plane", () => {
  it("keeps live sessions working, says why new ones are refused, and recovers without a restart", async () => {
    const live = await client(devKey);
    const sid = await sessionIdOf(live);
    const seen: number[] = [];
    for (let n = 1; n <= 20; n++) {
      await live.query(`SELECT ${n} AS n`);
      seen.push(n);
    }
    await cpDb.crash();
    for (let n = 21; n <= 60; n++) {
      const res = await live.query(`SELECT ${n} AS n`);
      expect(Number(res.rows[0]?.n)).toBe(n);
      seen.push(n);
    }
    const refused = await client(devKey).then(
      (c) => c.end().then(() => "connected"),
      (err: Error & { code?: string }) => `${err.code}: ${err.message}`,
    );
    expect(refused).toMatch(/^08006: /);
    expect(refused).not.toMatch(/internal/i);
    await cpDb.start();
    // The same control-plane process serves again once its database is back.
    const fresh = await eventually(async () => client(devKey).catch(() => undefined), 30_000, 500);
    await fresh.end();
    for (let n = 61; n <= 70; n++) {
      await live.query(`SELECT ${n} AS n`);
      seen.push(n);
    }
    await live.end();
    const recorded = await statementsRecorded(sid);
    expect(recorded.filter((v) => v > 0)).toEqual(seen);
    expect((await stack.api("/api/v1/audit/verify")).body).toMatchObject({ ok: true });
  }, 180_000);
});
