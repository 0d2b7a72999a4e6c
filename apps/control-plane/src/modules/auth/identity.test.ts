import { readFileSync } from "node:fs";
import { credentials, Metadata } from "@grpc/grpc-js";
import { AgentServiceClient, type ControlMessage } from "@sluice/proto";
import {
  DEMO_USERS,
  eventually,
  startTestOidcProvider,
  type TestOidcProvider,
  type TestOidcUser,
} from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestControlPlane, type TestControlPlane } from "../../testing/control-plane.testing";
import { createAppDb } from "../../testing/fixtures.testing";

let idp: TestOidcProvider;
/** Carol's groups at the IdP change during a test; the provider reads them at each login. */
const carol: TestOidcUser = {
  password: "carol-pw",
  name: "Carol Oncall",
  email: "carol@example.test",
  groups: ["engineering", "ci-deployers"],
};
let cp: TestControlPlane;
let client: AgentServiceClient;
const received: ControlMessage[] = [];
let heartbeat: NodeJS.Timeout | undefined;

const EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt";

async function tokenRequest(params: Record<string, string>) {
  const res = await fetch(`${cp.apiUrl}/api/v1/auth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(params).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

const exchange = (subject_token: string) =>
  tokenRequest({ grant_type: EXCHANGE, subject_token, subject_token_type: JWT_TYPE });

async function codeLogin(user: string) {
  const redirectUri = "http://127.0.0.1:9/callback";
  const start = await cp.api("/api/v1/auth/oidc/start", { method: "POST", key: null, body: { redirectUri } });
  expect(start.status).toBe(200);
  const final = await idp.browse(start.body.authorizationUrl, user);
  const back = new URL(final.url);
  expect(back.origin + back.pathname).toBe(redirectUri);
  return cp.api("/api/v1/auth/oidc/callback", {
    method: "POST",
    key: null,
    body: {
      code: back.searchParams.get("code"),
      state: back.searchParams.get("state"),
      iss: back.searchParams.get("iss") ?? undefined,
    },
  });
}

beforeAll(async () => {
  idp = await startTestOidcProvider({ users: { ...DEMO_USERS, carol } });
  cp = await startTestControlPlane({
    SLUICE_OIDC_ISSUER: idp.issuer,
    SLUICE_OIDC_CLIENT_ID: idp.cliClientId,
    SLUICE_OIDC_ALLOW_INSECURE_HTTP: "true",
    SLUICE_OIDC_ADMIN_GROUPS: "sluice-admins",
  });
  for (const name of ["engineering", "ci-deployers"]) {
    await cp.api("/api/v1/groups", { method: "POST", body: { name } });
  }
  const reg = await cp.api("/api/v1/trusted-issuers", {
    method: "POST",
    body: {
      name: "test-ci",
      issuer: idp.issuer,
      audience: idp.ciAudience,
      subjectClaim: "repo:{repository}",
      groupMappings: [{ claim: "environment", equals: "production", group: "ci-deployers" }],
      maxTokenLifetimeSeconds: 300,
    },
  });
  expect(reg.status).toBe(201);
  await createAppDb(cp, ["ci-deployers", "engineering"]);
  const agentToken = (await cp.api("/api/v1/agents", { method: "POST", body: { name: "edge" } })).body
    .enrollmentToken as string;
  client = new AgentServiceClient(cp.grpcTarget, credentials.createSsl(readFileSync(cp.pki.caFile)));
  const md = new Metadata();
  md.set("authorization", `Bearer ${agentToken}`);
  const link = client.link(md);
  link.on("error", () => undefined);
  link.on("data", (m: ControlMessage) => received.push(m));
  link.write({
    body: {
      $case: "hello",
      value: {
        agentVersion: "t",
        capabilities: [],
        endpoints: [{ protocol: "postgres", host: "127.0.0.1", port: 6432 }],
        resumeVersion: 0,
      },
    },
  });
  heartbeat = setInterval(() => {
    link.write({
      body: { $case: "heartbeat", value: { activeSessions: 0, stateVersion: 0, spoolBytes: 0 } },
    });
  }, 500);
  await eventually(async () => (await cp.api("/api/v1/agents/edge")).body.status === "online");
}, 60_000);

afterAll(async () => {
  clearInterval(heartbeat);
  client?.close();
  await cp?.stop();
  await idp?.stop();
});

describe("workload identity federation", () => {
  it("exchanges a CI job's JWT for a short-lived Sluice token naming a provisioned service identity", async () => {
    const res = await exchange(await idp.ciToken());
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      token_type: "Bearer",
      issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
    });
    expect(res.body.expires_in).toBeLessThanOrEqual(300);
    expect(res.body.refresh_token).toBeUndefined();
    const me = await cp.api("/api/v1/me", { key: res.body.access_token });
    expect(me.body).toMatchObject({
      name: "repo:acme/app",
      kind: "service",
      role: "user",
      groups: ["ci-deployers"],
    });
    const audit = await cp.api("/api/v1/audit?action=auth.token_exchange");
    expect(audit.status).toBe(200);
  });

  it("rejects a replayed, expired, wrong-audience or untrusted token with invalid_grant", async () => {
    const token = await idp.ciToken();
    expect((await exchange(token)).status).toBe(200);
    const replay = await exchange(token);
    expect(replay).toEqual({
      status: 400,
      body: { error: "invalid_grant", error_description: "token already used" },
    });

    const expired = await exchange(
      await idp.mintJwt({ sub: "x", repository: "a/b" }, { expiresInSeconds: -120 }),
    );
    expect(expired.body).toEqual({ error: "invalid_grant", error_description: "subject token has expired" });
    const aud = await exchange(
      await idp.mintJwt({ sub: "x", repository: "a/b" }, { audience: "someone-else" }),
    );
    expect(aud.body.error_description).toMatch(/audience/);
    const iss = await exchange(await idp.mintJwt({ sub: "x" }, { issuer: "https://evil.example" }));
    expect(iss.body.error_description).toMatch(/not trusted/);
    const unsupported = await tokenRequest({ grant_type: "password" });
    expect(unsupported.body.error).toBe("unsupported_grant_type");
  });

  it("never accepts an IdP token as a Sluice bearer token", async () => {
    const me = await cp.api("/api/v1/me", { key: await idp.ciToken() });
    expect(me.status).toBe(401);
  });
});

describe("OIDC login for people", () => {
  it("logs in with authorization code + PKCE, provisioning the user with role and groups from the IdP", async () => {
    const res = await codeLogin("alice");
    expect(res.status).toBe(200);
    expect(res.body.refresh_token).toMatch(/^slr_/);
    const me = await cp.api("/api/v1/me", { key: res.body.access_token });
    expect(me.body).toMatchObject({
      name: "Alice Demo",
      email: "alice@example.test",
      role: "admin",
      kind: "human",
    });
    expect(me.body.groups).toEqual(["engineering"]);
  });

  it("re-syncs the IdP's groups at each login and keeps the groups an admin granted", async () => {
    const first = await codeLogin("carol");
    expect(first.status).toBe(200);
    const me = await cp.api("/api/v1/me", { key: first.body.access_token });
    expect(me.body.groups).toEqual(["ci-deployers", "engineering"]);
    expect((await cp.api("/api/v1/groups", { method: "POST", body: { name: "oncall" } })).status).toBe(201);
    const added = await cp.api(`/api/v1/groups/oncall/members/${me.body.id}`, { method: "PUT" });
    expect(added.status).toBe(204);
    // An admin also pins engineering, which the IdP grants too.
    expect((await cp.api(`/api/v1/groups/engineering/members/${me.body.id}`, { method: "PUT" })).status).toBe(
      204,
    );

    // At the IdP, carol leaves both engineering and ci-deployers.
    carol.groups = [];
    const second = await codeLogin("carol");
    expect(second.status).toBe(200);
    const after = await cp.api("/api/v1/me", { key: second.body.access_token });
    expect(after.body.groups).toEqual(["engineering", "oncall"]);
  });

  it("rotates refresh tokens and revokes the whole login when one is used twice", async () => {
    const login = (await codeLogin("bob")).body;
    const first = await tokenRequest({ grant_type: "refresh_token", refresh_token: login.refresh_token });
    expect(first.status).toBe(200);
    expect(first.body.refresh_token).not.toBe(login.refresh_token);
    expect((await cp.api("/api/v1/me", { key: first.body.access_token })).status).toBe(200);
    const reuse = await tokenRequest({ grant_type: "refresh_token", refresh_token: login.refresh_token });
    expect(reuse.body.error).toBe("invalid_grant");
    expect((await cp.api("/api/v1/me", { key: first.body.access_token })).status).toBe(401);
    const after = await tokenRequest({
      grant_type: "refresh_token",
      refresh_token: first.body.refresh_token,
    });
    expect(after.body.error).toBe("invalid_grant");
  });

  it("logs in with the device flow", async () => {
    const start = await cp.api("/api/v1/auth/device", { method: "POST", key: null });
    expect(start.status).toBe(200);
    const pending = await cp.api("/api/v1/auth/device/poll", {
      method: "POST",
      key: null,
      body: { device_code: start.body.device_code },
    });
    expect(pending.body.error).toBe("authorization_pending");
    await idp.browse(start.body.verification_uri_complete, "alice");
    const done = await cp.api("/api/v1/auth/device/poll", {
      method: "POST",
      key: null,
      body: { device_code: start.body.device_code },
    });
    expect(done.status).toBe(200);
    expect((await cp.api("/api/v1/me", { key: done.body.access_token })).body.name).toBe("Alice Demo");
  });

  it("logout revokes the login", async () => {
    const login = (await codeLogin("alice")).body;
    const out = await cp.api("/api/v1/auth/logout", { method: "POST", key: login.access_token });
    expect(out.status).toBe(204);
    expect((await cp.api("/api/v1/me", { key: login.access_token })).status).toBe(401);
    const refresh = await tokenRequest({ grant_type: "refresh_token", refresh_token: login.refresh_token });
    expect(refresh.body.error).toBe("invalid_grant");
  });
});

describe("revocation reaches live sessions", () => {
  it("ends the sessions a revoked identity started, through the agent's link", async () => {
    const token = (await exchange(await idp.ciToken())).body.access_token as string;
    const started = await cp.api("/api/v1/sessions", {
      method: "POST",
      key: token,
      body: { connection: "app-db" },
    });
    expect(started.status).toBe(201);
    const sessionId = started.body.session.id as string;
    const me = await cp.api("/api/v1/me", { key: token });
    const revoked = await cp.api(`/api/v1/users/${me.body.id}/revoke-tokens`, { method: "POST" });
    expect(revoked.status).toBe(200);
    expect(revoked.body.sessionsEnded).toBeGreaterThanOrEqual(1);
    await eventually(async () =>
      received.some((m) => m.body?.$case === "endSession" && m.body.value.sessionId === sessionId),
    );
    expect((await cp.api("/api/v1/me", { key: token })).status).toBe(401);
  });
});
