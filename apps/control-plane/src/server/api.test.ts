import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestControlPlane, type TestControlPlane } from "../testing/control-plane.testing";

let cp: TestControlPlane;
let userKey: string;
let auditorKey: string;

async function createUserWithKey(role: string, email: string, groups: string[] = []) {
  const user = await cp.api("/api/v1/users", { method: "POST", body: { name: email, email, role, groups } });
  expect(user.status).toBe(201);
  const key = await cp.api(`/api/v1/users/${user.body.id}/api-keys`, {
    method: "POST",
    body: { name: "test" },
  });
  expect(key.status).toBe(201);
  return { id: user.body.id as string, key: key.body.secret as string };
}

beforeAll(async () => {
  cp = await startTestControlPlane();
  await cp.api("/api/v1/groups", { method: "POST", body: { name: "dba" } });
  userKey = (await createUserWithKey("user", "dev@example.com", ["dba"])).key;
  auditorKey = (await createUserWithKey("auditor", "audit@example.com")).key;
});
afterAll(async () => {
  await cp?.stop();
});

describe("authentication", () => {
  it("rejects a missing key with 401", async () => {
    const res = await cp.api("/api/v1/connections", { key: null });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("auth.missing_credentials");
  });

  it("rejects a bad or malformed key with 401 and no detail", async () => {
    for (const key of [
      "slk_aaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
      "nonsense",
      "x".repeat(5000),
    ]) {
      const res = await cp.api("/api/v1/connections", { key });
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe("auth.invalid_credentials");
    }
    const malformed = await cp.api("/api/v1/me", { key: null, headers: { authorization: "Basic abc" } });
    expect(malformed.status).toBe(401);
  });

  it("rejects a revoked key", async () => {
    const { id, key } = await createUserWithKey("user", "leaver@example.com");
    expect((await cp.api("/api/v1/me", { key })).status).toBe(200);
    const keys = await cp.api(`/api/v1/users/${id}/api-keys`);
    await cp.api(`/api/v1/users/${id}/api-keys/${keys.body.items[0].id}`, { method: "DELETE" });
    const res = await cp.api("/api/v1/me", { key });
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/revoked/);
  });
});

describe("authorization", () => {
  it("forbids admin-only actions to users and auditors with 403", async () => {
    for (const key of [userKey, auditorKey]) {
      const res = await cp.api("/api/v1/agents", {
        method: "POST",
        key,
        body: { name: "sneaky" },
      });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe("auth.forbidden");
    }
  });

  it("lets auditors read but not change, and users see only their connections", async () => {
    const mk = (name: string, allowedGroups: string[]) =>
      cp.api("/api/v1/connections", {
        method: "POST",
        body: { name, type: "tcp", host: "127.0.0.1", port: 9, allowedGroups },
      });
    expect((await mk("dba-only", ["dba"])).status).toBe(201);
    expect((await mk("secret-db", ["finance"])).status).toBe(201);
    const asUser = await cp.api("/api/v1/connections", { key: userKey });
    expect(asUser.body.items.map((c: { name: string }) => c.name)).toEqual(["dba-only"]);
    expect(asUser.body.items[0].credentialRef).toBeUndefined();
    expect((await cp.api("/api/v1/connections/secret-db", { key: userKey })).status).toBe(404);
    const asAuditor = await cp.api("/api/v1/connections", { key: auditorKey });
    expect(asAuditor.body.items).toHaveLength(2);
    expect(
      (await cp.api("/api/v1/connections/secret-db", { method: "DELETE", key: auditorKey })).status,
    ).toBe(403);
    expect((await cp.api("/api/v1/users", { key: userKey })).status).toBe(403);
  });

  it("keeps a user's API keys private to them", async () => {
    const other = await createUserWithKey("user", "other@example.com");
    const res = await cp.api(`/api/v1/users/${other.id}/api-keys`, { key: userKey });
    expect(res.status).toBe(404);
  });
});

describe("input validation", () => {
  it("rejects malformed JSON with a clear 400", async () => {
    const res = await cp.api("/api/v1/groups", { method: "POST", body: "{not json" });
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({ code: "request.invalid", message: "request body is not valid JSON" });
  });

  it("rejects oversized and unknown fields with 400 naming the field", async () => {
    const long = await cp.api("/api/v1/connections", {
      method: "POST",
      body: { name: "x".repeat(500), type: "tcp", host: "h", port: 1 },
    });
    expect(long.status).toBe(400);
    expect(long.body.error.message).toMatch(/name/);
    expect(long.body.error.details.issues[0].path).toBe("body.name");
    const unknown = await cp.api("/api/v1/groups", { method: "POST", body: { name: "ok", colour: "red" } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(/colour/);
    const port = await cp.api("/api/v1/connections", {
      method: "POST",
      body: { name: "p", type: "tcp", host: "h", port: 70000 },
    });
    expect(port.status).toBe(400);
    expect(port.body.error.message).toMatch(/port/);
  });

  it("rejects a body over the limit with 413", async () => {
    const res = await cp.api("/api/v1/groups", {
      method: "POST",
      body: { name: "big", description: "x".repeat(2 * 1024 * 1024) },
    });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe("request.too_large");
  });

  it("accepts only credential references, never a literal secret", async () => {
    const res = await cp.api("/api/v1/connections", {
      method: "POST",
      body: {
        name: "pg",
        type: "postgres",
        host: "db",
        port: 5432,
        database: "app",
        username: "app",
        credentialRef: "hunter2",
      },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/env:NAME/);
    expect(res.text).not.toContain('hunter2"');
  });

  it("refuses guardrails on a tcp connection instead of silently not enforcing them", async () => {
    const policy = await cp.api("/api/v1/policies", {
      method: "POST",
      body: { name: "no-drop", guardrails: [{ name: "no drop", statementKinds: ["DROP"] }] },
    });
    expect(policy.status).toBe(201);
    const res = await cp.api("/api/v1/connections", {
      method: "POST",
      body: { name: "raw", type: "tcp", host: "h", port: 1, policyIds: ["no-drop"] },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/tcp connection cannot enforce guardrails/);
  });

  it("rejects an invalid regex in a policy", async () => {
    const res = await cp.api("/api/v1/policies", {
      method: "POST",
      body: { name: "bad-re", guardrails: [{ name: "x", pattern: "(unclosed" }] },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/regular expression/);
  });
});

describe("resources", () => {
  it("runs a connection through create, get by name, update, conflict and delete", async () => {
    const body = {
      name: "pg-prod",
      type: "postgres",
      host: "10.0.0.5",
      port: 5432,
      database: "app",
      username: "app_rw",
      credentialRef: "env:PG_PROD_PASSWORD",
      tls: { mode: "verify-full" },
      allowedGroups: ["dba"],
    };
    const created = await cp.api("/api/v1/connections", { method: "POST", body });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: "pg-prod",
      credentialRef: "env:PG_PROD_PASSWORD",
      tls: { mode: "verify-full" },
    });
    expect((await cp.api("/api/v1/connections", { method: "POST", body })).status).toBe(409);
    const updated = await cp.api("/api/v1/connections/pg-prod", { method: "PATCH", body: { port: 6543 } });
    expect(updated.body.port).toBe(6543);
    expect((await cp.api(`/api/v1/connections/${created.body.id}`)).body.port).toBe(6543);
    expect((await cp.api("/api/v1/connections/pg-prod", { method: "DELETE" })).status).toBe(204);
    expect((await cp.api("/api/v1/connections/pg-prod")).status).toBe(404);
  });

  it("creates an agent with a one-time enrollment token that never shows again", async () => {
    const res = await cp.api("/api/v1/agents", {
      method: "POST",
      body: { name: "edge-1", segment: "eu", labels: { tier: "prod" } },
    });
    expect(res.status).toBe(201);
    expect(res.body.enrollmentToken).toMatch(/^sat_/);
    const again = await cp.api("/api/v1/agents/edge-1");
    expect(again.body.status).toBe("pending");
    expect(again.text).not.toContain(res.body.enrollmentToken);
    expect(again.text).not.toMatch(/enrollmentTokenHash/);
  });

  it("serves an OpenAPI document and health endpoints without auth", async () => {
    const doc = await cp.api("/api/v1/openapi.json", { key: null });
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe("3.1.0");
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining(["/api/v1/connections", "/api/v1/agents/{id}"]),
    );
    expect((await cp.api("/healthz", { key: null })).status).toBe(200);
    const ready = await cp.api("/readyz", { key: null });
    expect(ready.body).toEqual({ status: "ready", checks: { database: true, redis: true } });
  });

  it("records every mutation in the audit log", async () => {
    const { createDb } = await import("@sluice/db");
    const db = createDb(cp.db.url);
    try {
      const actions = (await db.prisma.auditEvent.findMany({ orderBy: { seq: "asc" } })).map((e) => e.action);
      expect(actions).toEqual(
        expect.arrayContaining(["user.bootstrap_admin", "group.create", "connection.create", "agent.create"]),
      );
    } finally {
      await db.close();
    }
  });
});

describe("identity resources", () => {
  it("answers conflicts and unknown trusted issuers and IdP mappings with the standard error codes", async () => {
    const body = { name: "ci", issuer: "https://ci.example.com", audience: "sluice" };
    expect((await cp.api("/api/v1/trusted-issuers", { method: "POST", body })).status).toBe(201);
    const again = await cp.api("/api/v1/trusted-issuers", { method: "POST", body });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("trusted_issuer.exists");
    const missing = await cp.api("/api/v1/trusted-issuers/nope");
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("trusted_issuer.not_found");
    const mapping = await cp.api("/api/v1/idp-group-mappings", {
      method: "POST",
      body: { idpGroup: "eng", group: "no-such-group" },
    });
    expect(mapping.status).toBe(404);
    expect(mapping.body.error.code).toBe("group.not_found");
    const gone = await cp.api("/api/v1/idp-group-mappings/00000000-0000-0000-0000-000000000000", {
      method: "DELETE",
    });
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe("idp_group_mapping.not_found");
  });
});
