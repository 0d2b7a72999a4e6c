import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  eventually,
  type PrivateCluster,
  startPrivateCluster,
  startTestOidcProvider,
  type TestOidcProvider,
} from "@sluice/testkit";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { psql } from "./psql";
import { type AgentProcess, repoRoot, type Stack, startStack } from "./stack";

const PASSWORD = `id-pw-${Math.random().toString(36).slice(2)}`;
let idp: TestOidcProvider;
let cluster: PrivateCluster;
let stack: Stack;
let agent: AgentProcess;
let firstReplicaUrl: string;

const native = (a: AgentProcess) => `host=127.0.0.1 port=${a.pgPort} dbname=app-pg user=ci sslmode=disable`;

function cli(
  args: string[],
  configDir: string,
): {
  child: ChildProcessWithoutNullStreams;
  done: Promise<{ code: number | null; out: string; err: string }>;
  stderr: () => string;
} {
  const child = spawn(process.execPath, [join(repoRoot, "apps/cli/bin/sluice.js"), ...args], {
    env: { PATH: process.env.PATH ?? "", SLUICE_CONFIG_DIR: configDir },
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const done = new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    child.on("close", (code) => resolve({ code, out, err })),
  );
  return { child, done, stderr: () => err };
}

async function exchangeCiToken(): Promise<string> {
  const res = await fetch(`${stack.cp.apiUrl}/api/v1/auth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      subject_token: await idp.ciToken(),
      subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
    }).toString(),
  });
  const body = (await res.json()) as { access_token: string };
  expect(res.status).toBe(200);
  return body.access_token;
}

beforeAll(async () => {
  idp = await startTestOidcProvider();
  cluster = await startPrivateCluster([{ name: "app_rw", password: PASSWORD, method: "scram-sha-256" }]);
  await cluster.psql("CREATE DATABASE appdb OWNER app_rw");
  stack = await startStack();
  firstReplicaUrl = stack.cp.apiUrl;
  // A second replica with the IdP configured; agents and clients use it, admin calls may hit either.
  stack.cp = await stack.startControlPlane({
    SLUICE_OIDC_ISSUER: idp.issuer,
    SLUICE_OIDC_CLIENT_ID: idp.cliClientId,
    SLUICE_OIDC_ALLOW_INSECURE_HTTP: "true",
    SLUICE_OIDC_ADMIN_GROUPS: "sluice-admins",
  });
  for (const name of ["engineering", "ci-deployers"]) {
    await stack.api("/api/v1/groups", { method: "POST", body: { name } });
  }
  const issuer = await stack.api("/api/v1/trusted-issuers", {
    method: "POST",
    body: {
      name: "ci",
      issuer: idp.issuer,
      audience: idp.ciAudience,
      subjectClaim: "repo:{repository}",
      groupMappings: [{ claim: "environment", equals: "production", group: "ci-deployers" }],
    },
  });
  expect(issuer.status).toBe(201);
  const conn = await stack.api("/api/v1/connections", {
    method: "POST",
    body: {
      name: "app-pg",
      type: "postgres",
      host: "127.0.0.1",
      port: cluster.port,
      database: "appdb",
      username: "app_rw",
      credentialRef: "env:APP_PG_PASSWORD",
      allowedGroups: ["ci-deployers", "engineering"],
    },
  });
  expect(conn.status).toBe(201);
  agent = await stack.startAgent("id-edge", { APP_PG_PASSWORD: PASSWORD });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await cluster?.stop();
  await idp?.stop();
});

describe("sluice login with the organisation's IdP", () => {
  it("completes the authorization code flow through a loopback listener and stores refreshable tokens", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-login-"));
    const login = cli(["login", "--url", stack.cp.apiUrl, "--no-browser"], dir);
    const url = await eventually(
      async () => /\s(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)/.exec(login.stderr())?.[1],
      20_000,
    );
    const back = await idp.browse(url, "alice");
    expect(back.status).toBe(200);
    const res = await login.done;
    expect(res.err).not.toMatch(/error/i);
    expect(res.code).toBe(0);
    expect(res.out).toMatch(/as Alice Demo \(admin\)/);
    const whoami = await cli(["whoami", "-o", "json"], dir).done;
    expect(JSON.parse(whoami.out)).toMatchObject({ name: "Alice Demo", groups: ["engineering"] });
    const logout = await cli(["logout"], dir).done;
    expect(logout.err).toMatch(/login revoked/);
  });

  it("completes the device flow", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-device-"));
    const login = cli(["login", "--url", stack.cp.apiUrl, "--device"], dir);
    const url = await eventually(async () => /\(or open (\S+)\)/.exec(login.stderr())?.[1], 20_000);
    await idp.browse(url, "alice");
    const res = await login.done;
    expect(res.code).toBe(0);
    expect(res.out).toMatch(/as Alice Demo/);
  }, 60_000);

  it("refuses a session to a user outside the connection's groups", async () => {
    const start = await stack.api("/api/v1/auth/oidc/start", {
      method: "POST",
      key: null,
      body: { redirectUri: "http://127.0.0.1:9/callback" },
    });
    const back = new URL((await idp.browse(start.body.authorizationUrl, "bob")).url);
    const tokens = await stack.api("/api/v1/auth/oidc/callback", {
      method: "POST",
      key: null,
      body: {
        code: back.searchParams.get("code"),
        state: back.searchParams.get("state"),
        iss: back.searchParams.get("iss"),
      },
    });
    expect(tokens.status).toBe(200);
    const res = psql(native(agent), tokens.body.access_token, "SELECT 1");
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/not found|not in a group|not allowed/);
  });
});

describe("workload identity through the agent", () => {
  it("opens a psql session with an exchanged CI token and records the service identity", async () => {
    const token = await exchangeCiToken();
    const res = psql(native(agent), token, "SELECT 41 + 1");
    expect(res.stderr).toBe("");
    expect(res.stdout.trim()).toBe("42");
    const sessions = (await stack.api("/api/v1/sessions?connection=app-pg")).body.items as { id: string }[];
    const start = await eventually(async () => {
      const ev = (await stack.api(`/api/v1/sessions/${sessions[0]?.id}/events?limit=100`)).body.items as {
        kind: string;
        payload: any;
      }[];
      return ev?.find((e) => e.kind === "session.start");
    }, 15_000);
    expect(start.payload.identity).toMatchObject({ name: "repo:acme/app", kind: "service" });
  });

  it("ends the live session when the identity's tokens are revoked", async () => {
    const token = await exchangeCiToken();
    const client = new pg.Client({
      host: "127.0.0.1",
      port: agent.pgPort,
      database: "app-pg",
      user: "ci",
      password: token,
    });
    const failure = new Promise<Error & { code?: string }>((resolve) => client.on("error", resolve));
    await client.connect();
    expect((await client.query("SELECT 1 AS one")).rows[0].one).toBe(1);
    const me = await stack.api("/api/v1/me", { key: token });
    // Revoke through the first replica: the request reaches the agent's replica over Redis.
    const res = await fetch(`${firstReplicaUrl}/api/v1/users/${me.body.id}/revoke-tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.adminKey}` },
    });
    expect(res.status).toBe(200);
    const err = await Promise.race([
      failure,
      new Promise<Error & { code?: string }>((resolve) =>
        setTimeout(() => resolve(Object.assign(new Error("no termination"), { code: "none" })), 15_000),
      ),
    ]);
    expect(err.code).toBe("57P01");
    expect(err.message).toMatch(/session terminated by Sluice/);
    await client.end().catch(() => undefined);
    expect((await stack.api("/api/v1/me", { key: token })).status).toBe(401);
  }, 60_000);
});
