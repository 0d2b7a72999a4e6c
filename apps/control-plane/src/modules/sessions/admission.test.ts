import { status } from "@grpc/grpc-js";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestControlPlane, type TestControlPlane } from "../../testing/control-plane.testing";
import { type FakeAgent, startAdmissionWorld } from "../../testing/fake-agent.testing";

let cp: TestControlPlane;
let agent: FakeAgent;
let key: string;

async function sql<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: cp.db.url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  // One authorization at a time and two waiting: a burst of twenty overloads it.
  cp = await startTestControlPlane({
    SLUICE_ADMISSION_CONCURRENCY: "1",
    SLUICE_ADMISSION_QUEUE: "2",
    SLUICE_SESSION_SWEEP_INTERVAL_MS: "100",
  });
  const world = await startAdmissionWorld(cp, ["svc"]);
  agent = world.agent;
  key = world.keys.svc as string;
}, 60_000);

afterAll(async () => {
  agent?.close();
  await cp?.stop();
});

describe("session admission", () => {
  it("answers an overload with RESOURCE_EXHAUSTED 'busy, retry', counts it and logs it once", async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () =>
        agent.authorize({ credential: key, connectionName: "orders", protocol: "tcp" }),
      ),
    );
    const ok = results.filter((r) => r.status === "fulfilled").length;
    const refused = results.flatMap((r) =>
      r.status === "rejected" ? [r.reason as { code: number; details: string }] : [],
    );
    expect(ok).toBeGreaterThanOrEqual(3);
    expect(refused.length).toBeGreaterThan(0);
    for (const e of refused) {
      expect(e.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(e.details).toBe("the control plane is busy: retry in a moment");
    }
    // Nothing was created for a refused call.
    const [count] = await sql<{ n: string }>("SELECT count(*)::text AS n FROM sessions");
    expect(Number(count?.n)).toBe(ok);

    const metrics = await cp.api("/metrics", { key: cp.adminKey });
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(
      new RegExp(`sluice_admission_refusals_total\\{reason="busy"\\} ${refused.length}`),
    );
    expect(metrics.text).toMatch(/sluice_admission_duration_seconds_count\{outcome="ok"\} \d+/);
    await expect
      .poll(() => cp.logs().match(/over its admission limits/g)?.length ?? 0, { timeout: 3000 })
      .toBe(1);
    // A retry once the burst is over goes through.
    await expect(
      agent.authorize({ credential: key, connectionName: "orders", protocol: "tcp" }),
    ).resolves.toMatchObject({
      sessionId: expect.any(String),
    });
  });

  it("keeps /metrics to admins and auditors", async () => {
    expect((await cp.api("/metrics", { key: null })).status).toBe(401);
    expect((await cp.api("/metrics", { key })).status).toBe(403);
  });

  it("closes a session whose grant expired before any client connected as aborted, with the reason, audited", async () => {
    const started = await agent.authorize({ credential: key, connectionName: "orders", protocol: "tcp" });
    // The grant ran out a minute ago and no agent ever reported the session starting.
    await sql(
      `UPDATE sessions SET "grantExpires" = now() AT TIME ZONE 'UTC' - interval '1 minute' WHERE id = $1`,
      [started.sessionId],
    );
    await expect
      .poll(async () => (await cp.api(`/api/v1/sessions/${started.sessionId}`)).body.status, {
        timeout: 5000,
      })
      .toBe("aborted");
    const session = (await cp.api(`/api/v1/sessions/${started.sessionId}`)).body;
    expect(session.endReason).toBe("the grant expired before any client connected");
    expect(session.endedAt).not.toBeNull();
    const audit = await cp.api(`/api/v1/audit?targetId=${started.sessionId}`);
    expect(audit.body.items.map((e: { action: string }) => e.action)).toEqual([
      "session.end",
      "session.start",
    ]);
    expect(audit.body.items[0].details).toMatchObject({ aborted: true });
    // A session still inside its grant is left alone.
    const fresh = await agent.authorize({ credential: key, connectionName: "orders", protocol: "tcp" });
    await new Promise((r) => setTimeout(r, 300));
    expect((await cp.api(`/api/v1/sessions/${fresh.sessionId}`)).body.status).toBe("pending");
  });
});

describe("API key scopes", () => {
  async function scopedKey(scopes: string[]) {
    const me = (await cp.api("/api/v1/me", { key })).body;
    const res = await cp.api(`/api/v1/users/${me.id}/api-keys`, {
      method: "POST",
      body: { name: `scoped-${scopes.join("-")}`, scopes },
      key,
    });
    return res;
  }

  it("refuses an unknown scope when the key is created", async () => {
    const res = await scopedKey(["admin-everything"]);
    expect(res.status).toBe(400);
  });

  it("limits a read key to GETs and keeps it from opening sessions", async () => {
    const read = (await scopedKey(["read"])).body.secret as string;
    expect((await cp.api("/api/v1/connections", { key: read })).status).toBe(200);
    const write = await cp.api("/api/v1/sessions", {
      method: "POST",
      body: { connection: "orders" },
      key: read,
    });
    expect(write.status).toBe(403);
    expect(write.body.error.message).toBe(
      "this API key is limited to read; it may not call POST /api/v1/sessions",
    );
    await expect(
      agent.authorize({ credential: read, connectionName: "orders", protocol: "tcp" }),
    ).rejects.toMatchObject({
      code: status.PERMISSION_DENIED,
      details: "this API key is limited to read; it may not open sessions",
    });
  });

  it("lets a sessions key connect, and nothing else", async () => {
    const sessions = (await scopedKey(["sessions"])).body.secret as string;
    await expect(
      agent.authorize({ credential: sessions, connectionName: "orders", protocol: "tcp" }),
    ).resolves.toMatchObject({ sessionId: expect.any(String) });
    expect((await cp.api("/api/v1/connections", { key: sessions })).status).toBe(200);
    const keys = await cp.api("/api/v1/me", { key: sessions });
    expect(keys.status).toBe(200);
    const other = await cp.api(`/api/v1/users/${keys.body.id}/api-keys`, {
      method: "POST",
      body: { name: "escalate" },
      key: sessions,
    });
    expect(other.status).toBe(403);
  });
});
