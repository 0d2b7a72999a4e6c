import { eventually, type PrivateCluster, startPrivateCluster } from "@sluice/testkit";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, type Stack, startStack } from "./stack";

/**
 * "Ten application instances with a pool of 100 each restart together": 1,000 clients
 * connect through one agent at the same moment, with an API key as the password and with
 * grants. Every one must get in, and no session may be left `pending` afterwards.
 */
const BURST = Number(process.env.SLUICE_BURST_CONNECTS ?? 1000);
const PASSWORD = `burst-pw-${Math.random().toString(36).slice(2)}`;

let cluster: PrivateCluster;
let stack: Stack;
let agent: AgentProcess;
let memberKey: string;

beforeAll(async () => {
  cluster = await startPrivateCluster([{ name: "app", password: PASSWORD, method: "scram-sha-256" }], {
    settings: { max_connections: BURST + 50, shared_buffers: "32MB" },
  });
  await cluster.psql("CREATE DATABASE appdb OWNER app");
  stack = await startStack();
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "apps" } });
  memberKey = await stack.userKey("orders-service@example.com", ["apps"]);
  const conn = await stack.api("/api/v1/connections", {
    method: "POST",
    body: {
      name: "burst-pg",
      type: "postgres",
      host: "127.0.0.1",
      port: cluster.port,
      database: "appdb",
      username: "app",
      credentialRef: "env:BURST_PG_PASSWORD",
      allowedGroups: ["apps"],
    },
  });
  expect(conn.status).toBe(201);
  agent = await stack.startAgent("burst-edge", { BURST_PG_PASSWORD: PASSWORD });
  await agent.proc.waitForOutput(/tunnel listener ready/);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await cluster?.stop();
});

/** Opens every client at once, runs one query on each while all are open, then closes them. */
async function burst(passwords: string[]): Promise<{ ok: number; errors: Map<string, number>; ms: number }> {
  const began = Date.now();
  const clients = passwords.map(
    (password) =>
      new pg.Client({
        host: "127.0.0.1",
        port: agent.pgPort,
        database: "burst-pg",
        user: "app",
        password,
        connectionTimeoutMillis: 60_000,
      }),
  );
  const errors = new Map<string, number>();
  const results = await Promise.allSettled(
    clients.map(async (c) => {
      c.on("error", () => undefined);
      await c.connect();
      const res = await c.query("SELECT 1 AS one");
      if (res.rows[0]?.one !== 1) throw new Error("wrong answer");
    }),
  );
  const ms = Date.now() - began;
  for (const r of results) {
    if (r.status === "rejected") {
      const msg = String((r.reason as Error).message).slice(0, 120);
      errors.set(msg, (errors.get(msg) ?? 0) + 1);
    }
  }
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  return { ok: results.filter((r) => r.status === "fulfilled").length, errors, ms };
}

async function sessionStatuses(): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: stack.db.url });
  await client.connect();
  try {
    const res = await client.query<{ status: string; n: string }>(
      "SELECT status::text, count(*)::text AS n FROM sessions GROUP BY status",
    );
    return Object.fromEntries(res.rows.map((r) => [r.status, Number(r.n)]));
  } finally {
    await client.end();
  }
}

describe(`a burst of ${BURST} simultaneous connects through one agent`, () => {
  it("lets every client in with an API key as the password, and leaves no session pending", async () => {
    const r = await burst(Array.from({ length: BURST }, () => memberKey));
    expect(Object.fromEntries(r.errors)).toEqual({});
    expect(r.ok).toBe(BURST);
    // The agent coalesced identical connects: far fewer control-plane calls than sessions.
    const metrics = (await stack.api("/metrics")).text;
    const calls = Number(/sluice_admission_duration_seconds_count\{outcome="ok"\} (\d+)/.exec(metrics)?.[1]);
    expect(calls).toBeGreaterThan(0);
    expect(calls).toBeLessThan(BURST / 2);
    console.log(`api-key burst: ${BURST} connects in ${r.ms} ms, ${calls} AuthorizeSession calls`);
    const statuses = await eventually(async () => {
      const s = await sessionStatuses();
      return (s.closed ?? 0) >= BURST ? s : undefined;
    }, 150_000);
    expect(statuses.pending ?? 0).toBe(0);
    expect(statuses.active ?? 0).toBe(0);
  }, 300_000);

  it("lets every client in with its own grant", async () => {
    const grants: string[] = [];
    for (let i = 0; i < BURST; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, BURST - i) }, () =>
          stack.api("/api/v1/sessions", { method: "POST", body: { connection: "burst-pg" }, key: memberKey }),
        ),
      );
      for (const res of batch) {
        expect(res.status).toBe(201);
        grants.push(res.body.grant as string);
      }
    }
    const r = await burst(grants);
    expect(Object.fromEntries(r.errors)).toEqual({});
    expect(r.ok).toBe(BURST);
    console.log(`grant burst: ${BURST} connects in ${r.ms} ms`);
    const statuses = await eventually(async () => {
      const s = await sessionStatuses();
      return (s.closed ?? 0) >= 2 * BURST ? s : undefined;
    }, 150_000);
    expect(statuses.pending ?? 0).toBe(0);
  }, 300_000);
});
