import { ClientCredentialsProvider } from "@modelcontextprotocol/sdk/client/auth-extensions.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { eventually, parseForm, startTestOidcProvider, type TestOidcProvider } from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearerStatus, RecordingProvider } from "./mcp-oauth-client";
import { type Stack, startStack } from "./stack";

/**
 * MCP authorization against the control plane as the SDK's client does it: discovery from
 * the 401, dynamic registration, code + PKCE with a person signing in at a real IdP, client
 * credentials for a service identity, and audience-bound tokens.
 */

const TOKEN_TTL_SECONDS = 30;
const REDIRECT = "http://127.0.0.1:9/mcp-callback";
const assistant = { name: "oauth-assistant", version: "0.9.0" };
let idp: TestOidcProvider;
let stack: Stack;
let serviceKey: string;
/** A client-credentials token issued at the start, to see it expire at the end. */
let earlyToken: { value: string; at: number };

const mcpUrl = () => new URL(`${stack.cp.apiUrl}/mcp`);
const post = (path: string, body: Record<string, string>) =>
  fetch(`${stack.cp.apiUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(body).toString(),
  });

const mcpStatus = (token: string) => bearerStatus(mcpUrl(), token);

/** Signs alice in at the IdP and allows the client; answers where the CP sent the browser back. */
async function signIn(authorizationUrl: URL | string, decision = "allow"): Promise<URL> {
  const first = await fetch(authorizationUrl, { redirect: "manual" });
  expect(first.status, await first.text()).toBe(302);
  const back = await idp.browse(first.headers.get("location") ?? "", "alice");
  expect(back.location).toMatch(/\/oauth\/consent\?request=/);
  const page = await fetch(back.location ?? "");
  expect(page.headers.get("x-frame-options")).toBe("DENY");
  const form = parseForm(await page.text());
  expect(form?.action).toBe("/oauth/consent");
  const decided = await fetch(`${stack.cp.apiUrl}/oauth/consent`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ ...form?.fields, decision }).toString(),
    redirect: "manual",
  });
  expect(decided.status).toBe(302);
  return new URL(decided.headers.get("location") ?? "");
}

beforeAll(async () => {
  idp = await startTestOidcProvider();
  stack = await startStack({
    controlPlaneEnv: {
      SLUICE_OIDC_ISSUER: idp.issuer,
      SLUICE_OIDC_CLIENT_ID: idp.cliClientId,
      SLUICE_OIDC_ALLOW_INSECURE_HTTP: "true",
      SLUICE_ACCESS_TOKEN_TTL_SECONDS: String(TOKEN_TTL_SECONDS),
    },
  });
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "bots" } });
  const ci = await stack.api("/api/v1/trusted-issuers", {
    method: "POST",
    body: { name: "ci", issuer: idp.issuer, audience: idp.ciAudience, subjectClaim: "repo:{repository}" },
  });
  expect(ci.status, ci.text).toBe(201);
  const bot = await stack.api("/api/v1/users", {
    method: "POST",
    body: { name: "report-bot", kind: "service", groups: ["bots"] },
  });
  expect(bot.status, bot.text).toBe(201);
  const key = await stack.api(`/api/v1/users/${bot.body.id}/api-keys`, {
    method: "POST",
    body: { name: "mcp" },
  });
  serviceKey = key.body.secret;
  const conn = await stack.api("/api/v1/connections", {
    method: "POST",
    body: {
      name: "reports",
      type: "postgres",
      host: "127.0.0.1",
      port: 5432,
      database: "reports",
      username: "reader",
      credentialRef: "env:REPORTS_PASSWORD",
      allowedGroups: ["bots"],
    },
  });
  expect(conn.status, conn.text).toBe(201);
  const res = await post("/oauth/token", {
    grant_type: "client_credentials",
    client_id: "report-bot",
    client_secret: serviceKey,
  });
  earlyToken = { value: ((await res.json()) as { access_token: string }).access_token, at: Date.now() };
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await idp?.stop();
});

describe("MCP authorization", () => {
  it("publishes authorization-server metadata with S256 only", async () => {
    const meta = await stack.api("/.well-known/oauth-authorization-server", { key: null });
    expect(meta.body).toMatchObject({
      issuer: stack.cp.apiUrl,
      authorization_endpoint: `${stack.cp.apiUrl}/oauth/authorize`,
      token_endpoint: `${stack.cp.apiUrl}/oauth/token`,
      registration_endpoint: `${stack.cp.apiUrl}/oauth/register`,
      code_challenge_methods_supported: ["S256"],
    });
  });

  it("signs a person in with code + PKCE and serves the tools with the token", async () => {
    const provider = new RecordingProvider(REDIRECT);
    const first = new Client(assistant);
    await expect(
      first.connect(new StreamableHTTPClientTransport(mcpUrl(), { authProvider: provider })),
    ).rejects.toThrow(/unauthorized/i);
    const asked = provider.authorizationUrl;
    expect(asked?.searchParams.get("code_challenge_method")).toBe("S256");
    expect(asked?.searchParams.get("resource")).toBe(`${stack.cp.apiUrl}/mcp`);
    const back = await signIn(asked as URL);
    expect(back.origin + back.pathname).toBe(REDIRECT);
    expect(back.searchParams.get("state")).toBe(asked?.searchParams.get("state"));
    const code = back.searchParams.get("code") ?? "";
    const transport = new StreamableHTTPClientTransport(mcpUrl(), { authProvider: provider });
    await transport.finishAuth(code);
    const mcp = new Client(assistant);
    await mcp.connect(new StreamableHTTPClientTransport(mcpUrl(), { authProvider: provider }));
    const { tools } = await mcp.listTools();
    expect(tools.map((t) => t.name)).toContain("query");
    const listed = (await mcp.callTool({ name: "list_connections", arguments: {} })) as { isError?: boolean };
    expect(listed.isError).toBeFalsy();
    await mcp.close();

    // The code was single-use, and the token is for /mcp only.
    const again = await post("/oauth/token", {
      grant_type: "authorization_code",
      code,
      redirect_uri: REDIRECT,
      code_verifier: provider.verifier,
      client_id: String(provider.client?.client_id),
    });
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({ error: "invalid_grant" });
    const token = provider.saved?.access_token ?? "";
    expect((await stack.api("/api/v1/connections", { key: token })).status).toBe(401);
  }, 60_000);

  it("refuses plain PKCE and unregistered redirect URIs", async () => {
    const reg = await fetch(`${stack.cp.apiUrl}/oauth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ redirect_uris: [REDIRECT], client_name: "probe" }),
    });
    const { client_id } = (await reg.json()) as { client_id: string };
    const authorize = (extra: Record<string, string>) =>
      fetch(
        `${stack.cp.apiUrl}/oauth/authorize?${new URLSearchParams({
          response_type: "code",
          client_id,
          redirect_uri: REDIRECT,
          code_challenge: "x".repeat(43),
          code_challenge_method: "S256",
          state: "s1",
          ...extra,
        })}`,
        { redirect: "manual" },
      );
    const plain = await authorize({ code_challenge_method: "plain" });
    expect(plain.status).toBe(302);
    const refused = new URL(plain.headers.get("location") ?? "");
    expect(refused.searchParams.get("error")).toBe("invalid_request");
    expect(refused.searchParams.get("state")).toBe("s1");
    const elsewhere = await authorize({ redirect_uri: "http://127.0.0.1:9/other" });
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.headers.get("location")).toBeNull();
    const forged = await authorize({ client_id: `${client_id.slice(0, -2)}xx` });
    expect(forged.status).toBe(400);
    const ok = new URL(`${stack.cp.apiUrl}/oauth/authorize`);
    for (const [k, v] of Object.entries({
      response_type: "code",
      client_id,
      redirect_uri: REDIRECT,
      code_challenge: "y".repeat(43),
      code_challenge_method: "S256",
      state: "s2",
    }))
      ok.searchParams.set(k, v);
    const denied = await signIn(ok, "deny");
    expect(denied.searchParams.get("error")).toBe("access_denied");
    expect(denied.searchParams.get("state")).toBe("s2");
    expect(denied.searchParams.get("code")).toBeNull();
  });

  it("gives a service identity a token by client credentials", async () => {
    const provider = new ClientCredentialsProvider({
      clientId: "report-bot",
      clientSecret: serviceKey,
      expectedIssuer: stack.cp.apiUrl,
    });
    const mcp = new Client(assistant);
    await mcp.connect(new StreamableHTTPClientTransport(mcpUrl(), { authProvider: provider }));
    const listed = (await mcp.callTool({ name: "list_connections", arguments: {} })) as {
      structuredContent?: { connections: { name: string }[] };
    };
    expect(listed.structuredContent?.connections.map((c) => c.name)).toEqual(["reports"]);
    await mcp.close();
    const wrong = await post("/oauth/token", {
      grant_type: "client_credentials",
      client_id: "someone-else",
      client_secret: serviceKey,
    });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).not.toContain(serviceKey);
  });

  it("answers 401 with WWW-Authenticate to a token for another audience", async () => {
    const start = await stack.api("/api/v1/auth/oidc/start", {
      method: "POST",
      key: null,
      body: { redirectUri: "http://127.0.0.1:9/callback" },
    });
    const back = new URL((await idp.browse(start.body.authorizationUrl, "alice")).url);
    const api = await stack.api("/api/v1/auth/oidc/callback", {
      method: "POST",
      key: null,
      body: {
        code: back.searchParams.get("code"),
        state: back.searchParams.get("state"),
        iss: back.searchParams.get("iss"),
      },
    });
    expect(api.status, api.text).toBe(200);
    const refused = await mcpStatus(api.body.access_token);
    expect(refused.status).toBe(401);
    expect(refused.challenge).toMatch(/^Bearer error="invalid_token".*resource_metadata="/);
    expect((await mcpStatus("slat.not-a-token")).status).toBe(401);
  });

  it("exchanges a CI token for one bound to /mcp (RFC 8693 with resource)", async () => {
    const exchange = async (path: string, extra: Record<string, string>) => {
      const res = await post(path, {
        grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
        subject_token: await idp.ciToken(),
        subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
        ...extra,
      });
      const body = (await res.json()) as { access_token: string };
      expect(res.status, JSON.stringify(body)).toBe(200);
      return body.access_token;
    };
    const forMcp = await exchange("/oauth/token", { resource: `${stack.cp.apiUrl}/mcp` });
    expect((await mcpStatus(forMcp)).status).toBe(400); // past authentication: no session yet
    expect((await stack.api("/api/v1/connections", { key: forMcp })).status).toBe(401);
    const forApi = await exchange("/api/v1/auth/token", {});
    expect((await mcpStatus(forApi)).status).toBe(401);
    const elsewhere = await post("/oauth/token", {
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      subject_token: await idp.ciToken(),
      subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
      resource: "https://other.example.test/mcp",
    });
    expect(await elsewhere.json()).toMatchObject({ error: "invalid_target" });
  });

  it("answers 401 once a token has expired", async () => {
    expect((await mcpStatus(earlyToken.value)).status).not.toBe(401);
    const res = await eventually(
      async () => {
        const r = await mcpStatus(earlyToken.value);
        return r.status === 401 ? r : undefined;
      },
      (TOKEN_TTL_SECONDS + 15) * 1000 - (Date.now() - earlyToken.at),
    );
    expect(res.challenge).toMatch(/^Bearer error="invalid_token"/);
  }, 60_000);
});
