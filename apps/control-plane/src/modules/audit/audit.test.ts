import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestControlPlane, type TestControlPlane } from "../../testing/control-plane.testing";

let cp: TestControlPlane;

async function sql(text: string) {
  const client = new pg.Client({ connectionString: cp.db.url });
  await client.connect();
  try {
    await client.query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only");
    await client.query(text);
    await client.query("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only");
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  cp = await startTestControlPlane();
  for (const name of ["a", "b", "c"]) await cp.api("/api/v1/groups", { method: "POST", body: { name } });
  await cp.api("/api/v1/groups/b", { method: "DELETE" });
});
afterAll(async () => {
  await cp?.stop();
});

describe("audit log", () => {
  it("lists mutations with actor, action, target and outcome, filterable", async () => {
    const res = await cp.api("/api/v1/audit?action=group.*");
    expect(res.status).toBe(200);
    expect(res.body.items.map((e: { action: string }) => e.action)).toEqual([
      "group.delete",
      "group.create",
      "group.create",
      "group.create",
    ]);
    expect(res.body.items[0]).toMatchObject({
      actorKind: "user",
      outcome: "success",
      targetType: "group",
      clientAddress: "127.0.0.1",
    });
  });

  it("verifies a clean chain and detects an edited entry", async () => {
    const clean = await cp.api("/api/v1/audit/verify");
    expect(clean.body).toMatchObject({ ok: true, problem: null });
    expect(clean.body.entries).toBeGreaterThanOrEqual(5);
    const head = clean.body.head as string;
    expect((await cp.api(`/api/v1/audit/verify?expectHead=${head}`)).body.ok).toBe(true);

    await sql(
      `UPDATE audit_events SET details = '{"name":"zzz"}' WHERE action = 'group.create' AND seq = (SELECT min(seq) FROM audit_events WHERE action = 'group.create')`,
    );
    const edited = await cp.api("/api/v1/audit/verify");
    expect(edited.body.ok).toBe(false);
    expect(edited.body.problem.reason).toMatch(/edited/);
  });

  it("detects a deleted entry and a truncated tail", async () => {
    const cp2 = await startTestControlPlane();
    try {
      for (const name of ["x", "y", "z"]) await cp2.api("/api/v1/groups", { method: "POST", body: { name } });
      const head = (await cp2.api("/api/v1/audit/verify")).body.head as string;
      const client = new pg.Client({ connectionString: cp2.db.url });
      await client.connect();
      await client.query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only");
      await client.query(`DELETE FROM audit_events WHERE seq = ${head.split(":")[0]}`);
      let res = await cp2.api(`/api/v1/audit/verify?expectHead=${head}`);
      expect(res.body).toMatchObject({
        ok: false,
        problem: { reason: "expected head is missing (log truncated)" },
      });
      await client.query("DELETE FROM audit_events WHERE seq = 2");
      res = await cp2.api("/api/v1/audit/verify");
      expect(res.body).toMatchObject({ ok: false, problem: { seq: 2, reason: "entry missing (deleted)" } });
      await client.end();
    } finally {
      await cp2.stop();
    }
  });

  it("is read-only to users", async () => {
    const u = await cp.api("/api/v1/users", { method: "POST", body: { name: "u", email: "u@example.com" } });
    const key = (await cp.api(`/api/v1/users/${u.body.id}/api-keys`, { method: "POST", body: { name: "k" } }))
      .body.secret;
    expect((await cp.api("/api/v1/audit", { key })).status).toBe(403);
  });
});
