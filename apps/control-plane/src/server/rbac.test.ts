import { randomUUID } from "node:crypto";
import { createDb } from "@sluice/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestControlPlane, type TestControlPlane } from "../testing/control-plane.testing";

type Caller = "admin" | "auditor" | "user";
type Rule = "public" | Caller[];

const anyRole: Caller[] = ["admin", "auditor", "user"];
const readers: Caller[] = ["admin", "auditor"];
const admins: Caller[] = ["admin"];

/**
 * Who may call each route. Every route in the OpenAPI document must be listed here,
 * so a new route fails this test until someone decides who may call it.
 */
const matrix: Record<string, Rule> = {
  "GET /healthz": "public",
  "GET /readyz": "public",
  "GET /metrics": readers,
  "GET /api/v1/me": anyRole,
  "GET /api/v1/users": readers,
  "POST /api/v1/users": admins,
  "GET /api/v1/users/{id}": readers,
  "PATCH /api/v1/users/{id}": admins,
  "DELETE /api/v1/users/{id}": admins,
  "POST /api/v1/users/{id}/revoke-tokens": admins,
  "POST /api/v1/users/{id}/api-keys": anyRole,
  "GET /api/v1/users/{id}/api-keys": anyRole,
  "DELETE /api/v1/users/{id}/api-keys/{keyId}": anyRole,
  "GET /api/v1/groups": readers,
  "POST /api/v1/groups": admins,
  "GET /api/v1/groups/{id}": readers,
  "PATCH /api/v1/groups/{id}": admins,
  "DELETE /api/v1/groups/{id}": admins,
  "PUT /api/v1/groups/{id}/members/{userId}": admins,
  "DELETE /api/v1/groups/{id}/members/{userId}": admins,
  "GET /api/v1/agents": readers,
  "POST /api/v1/agents": admins,
  "GET /api/v1/agents/{id}": readers,
  "PATCH /api/v1/agents/{id}": admins,
  "DELETE /api/v1/agents/{id}": admins,
  "POST /api/v1/agents/{id}/revoke": admins,
  "POST /api/v1/agents/{id}/rotate-token": admins,
  "GET /api/v1/connections": anyRole,
  "POST /api/v1/connections": admins,
  "GET /api/v1/connections/{id}": anyRole,
  "PATCH /api/v1/connections/{id}": admins,
  "DELETE /api/v1/connections/{id}": admins,
  "GET /api/v1/policies": readers,
  "POST /api/v1/policies": admins,
  "GET /api/v1/policies/{id}": readers,
  "PATCH /api/v1/policies/{id}": admins,
  "DELETE /api/v1/policies/{id}": admins,
  "POST /api/v1/policies/{id}/evaluate": readers,
  "POST /api/v1/ssh-keys": anyRole,
  "GET /api/v1/ssh-keys": anyRole,
  "DELETE /api/v1/ssh-keys/{id}": anyRole,
  "POST /api/v1/ssh-certificates": anyRole,
  "GET /api/v1/ssh-ca": anyRole,
  "POST /api/v1/ssh-ca/rotate": admins,
  "POST /api/v1/sessions": anyRole,
  "GET /api/v1/sessions": anyRole,
  "GET /api/v1/sessions/{id}": anyRole,
  "GET /api/v1/sessions/{id}/events": anyRole,
  "GET /api/v1/sessions/{id}/cast": anyRole,
  "POST /api/v1/reviews": anyRole,
  "GET /api/v1/reviews": anyRole,
  "GET /api/v1/reviews/{id}": anyRole,
  "POST /api/v1/reviews/{id}/approve": anyRole,
  "POST /api/v1/reviews/{id}/deny": anyRole,
  "POST /api/v1/reviews/{id}/revoke": anyRole,
  "GET /api/v1/signing-keys": readers,
  "POST /api/v1/signing-keys/rotate": admins,
  "GET /api/v1/ca": anyRole,
  "GET /api/v1/audit": readers,
  "GET /api/v1/audit/verify": readers,
  "GET /api/v1/notification-channels": admins,
  "POST /api/v1/notification-channels": admins,
  "GET /api/v1/notification-channels/{id}": admins,
  "PATCH /api/v1/notification-channels/{id}": admins,
  "DELETE /api/v1/notification-channels/{id}": admins,
  "POST /api/v1/notification-channels/{id}/rotate-secret": admins,
  "POST /api/v1/notification-channels/{id}/test": admins,
  "GET /api/v1/notification-deliveries": admins,
  "GET /api/v1/notification-deliveries/{id}": admins,
  "POST /api/v1/notification-deliveries/{id}/retry": admins,
  "POST /api/v1/auth/token": "public",
  "POST /api/v1/auth/logout": anyRole,
  "POST /api/v1/auth/oidc/start": "public",
  "POST /api/v1/auth/oidc/callback": "public",
  "POST /api/v1/auth/device": "public",
  "POST /api/v1/auth/device/poll": "public",
  "GET /api/v1/auth/login": "public",
  "GET /api/v1/auth/callback": "public",
  "GET /.well-known/oauth-protected-resource": "public",
  "GET /.well-known/oauth-protected-resource/mcp": "public",
  "GET /.well-known/oauth-authorization-server": "public",
  "POST /oauth/register": "public",
  "GET /oauth/authorize": "public",
  "POST /oauth/token": "public",
  "GET /oauth/consent": "public",
  "POST /oauth/consent": "public",
  "POST /mcp": "public",
  "GET /mcp": "public",
  "DELETE /mcp": "public",
  "GET /api/v1/trusted-issuers": readers,
  "POST /api/v1/trusted-issuers": admins,
  "GET /api/v1/trusted-issuers/{id}": readers,
  "PATCH /api/v1/trusted-issuers/{id}": admins,
  "DELETE /api/v1/trusted-issuers/{id}": admins,
  "GET /api/v1/idp-group-mappings": readers,
  "POST /api/v1/idp-group-mappings": admins,
  "DELETE /api/v1/idp-group-mappings/{id}": admins,
};

let cp: TestControlPlane;
let routes: { method: string; path: string }[] = [];
const keys = {} as Record<Caller | "other", string>;
const ids = {} as Record<"owner" | "ownerKey" | "ownerSession", string>;

async function userKey(name: string, role: Caller) {
  const u = await cp.api("/api/v1/users", {
    method: "POST",
    body: { name, email: `${name}@example.test`, role },
  });
  const k = await cp.api(`/api/v1/users/${u.body.id}/api-keys`, { method: "POST", body: { name: "k" } });
  return { userId: u.body.id as string, keyId: k.body.key.id as string, secret: k.body.secret as string };
}

beforeAll(async () => {
  cp = await startTestControlPlane();
  keys.admin = cp.adminKey;
  keys.auditor = (await userKey("auditor", "auditor")).secret;
  const owner = await userKey("owner", "user");
  keys.user = owner.secret;
  keys.other = (await userKey("other", "user")).secret;
  const conn = await cp.api("/api/v1/connections", {
    method: "POST",
    body: {
      name: "db",
      type: "postgres",
      host: "127.0.0.1",
      port: 5432,
      database: "x",
      username: "x",
      credentialRef: "env:X",
    },
  });
  const db = createDb(cp.db.url);
  const session = await db.prisma.session.create({
    data: { userId: owner.userId, connectionId: conn.body.id, protocol: "postgres" },
  });
  await db.close();
  Object.assign(ids, { owner: owner.userId, ownerKey: owner.keyId, ownerSession: session.id });
  const doc = (await cp.api("/api/v1/openapi.json", { key: null })).body as {
    paths: Record<string, Record<string, unknown>>;
  };
  routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.keys(ops).map((method) => ({ method: method.toUpperCase(), path })),
  );
}, 60_000);

afterAll(async () => {
  await cp?.stop();
});

const fill = (path: string) => path.replace(/\{[^}]+\}/g, () => randomUUID());

describe("RBAC matrix", () => {
  it("classifies every route in the OpenAPI document", () => {
    expect(routes.length).toBeGreaterThan(40);
    const unclassified = routes.map((r) => `${r.method} ${r.path}`).filter((r) => !(r in matrix));
    expect(unclassified).toEqual([]);
  });

  it("answers 401 without credentials on every non-public route", async () => {
    const wrong: string[] = [];
    for (const r of routes) {
      if (matrix[`${r.method} ${r.path}`] === "public") continue;
      const res = await cp.api(fill(r.path), { method: r.method, key: null });
      if (res.status !== 401) wrong.push(`${r.method} ${r.path} → ${res.status}`);
    }
    expect(wrong).toEqual([]);
  });

  it("answers 403 to roles that may not call a route, and lets allowed roles through", async () => {
    const wrong: string[] = [];
    for (const r of routes) {
      const rule = matrix[`${r.method} ${r.path}`];
      if (!rule || rule === "public") continue;
      const roles = ["auditor", "user", "admin"] as const;
      const answers = await Promise.all(
        roles.map((role) => cp.api(fill(r.path), { method: r.method, key: keys[role] })),
      );
      for (const [i, role] of roles.entries()) {
        const res = answers[i] as { status: number };
        const allowed = rule.includes(role);
        if (allowed && (res.status === 401 || res.status === 403))
          wrong.push(`${role} ${r.method} ${r.path} → ${res.status}`);
        if (!allowed && res.status !== 403)
          wrong.push(`${role} ${r.method} ${r.path} → ${res.status}, want 403`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("answers 404, not 403, for another user's session and API keys", async () => {
    const theirs = [
      { method: "GET", path: `/api/v1/sessions/${ids.ownerSession}` },
      { method: "GET", path: `/api/v1/sessions/${ids.ownerSession}/events` },
      { method: "GET", path: `/api/v1/sessions/${ids.ownerSession}/cast` },
      { method: "GET", path: `/api/v1/users/${ids.owner}/api-keys` },
      { method: "POST", path: `/api/v1/users/${ids.owner}/api-keys`, body: { name: "x" } },
      { method: "DELETE", path: `/api/v1/users/${ids.owner}/api-keys/${ids.ownerKey}` },
    ];
    for (const r of theirs) {
      const res = await cp.api(r.path, { method: r.method, key: keys.other, body: r.body });
      expect(res.status, `${r.method} ${r.path}`).toBe(404);
      const own = await cp.api(r.path, { method: r.method, key: keys.user, body: r.body });
      expect([200, 201, 204], `owner ${r.method} ${r.path}`).toContain(own.status);
    }
  });
});
