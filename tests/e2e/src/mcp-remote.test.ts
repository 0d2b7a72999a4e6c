import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type PrivateCluster, startPrivateCluster } from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, repoRoot, type Stack, startStack } from "./stack";

/**
 * The control plane's remote MCP endpoint as a hosted agent uses it: the SDK's own
 * Streamable HTTP client with a Sluice API key as its bearer, against the real control
 * plane, agent and PostgreSQL. The OAuth flows are in mcp-remote-oauth.test.ts.
 */

const CANARY = `canary-pw-${Math.random().toString(36).slice(2)}-r1`;
const bin = join(repoRoot, "apps/cli/bin/sluice.js");
const assistant = { name: "hosted-assistant", version: "4.5.6" };
let cluster: PrivateCluster;
let stack: Stack;
let agent: AgentProcess;
let devKey: string;
let mcp: Client;

type ToolResult = {
  isError?: boolean;
  content: { type: string; text?: string }[];
  structuredContent?: Record<string, any>;
};

const text = (r: ToolResult) => r.content.map((c) => c.text ?? "").join("\n");
const call = async (name: string, args: Record<string, unknown> = {}) =>
  (await mcp.callTool({ name, arguments: args })) as ToolResult;

function bearerTransport(token: string): StreamableHTTPClientTransport {
  return new StreamableHTTPClientTransport(new URL(`${stack.cp.apiUrl}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
}

/** Runs the CLI as a child process (never spawnSync: the servers run in this process). */
function cli(args: string[], key: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: {
        PATH: process.env.PATH ?? "",
        SLUICE_URL: stack.cp.apiUrl,
        SLUICE_API_KEY: key,
        SLUICE_CONFIG_DIR: mkdtempSync(join(tmpdir(), "sluice-mcp-remote-")),
      },
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("close", (code) => resolve({ code, out, err }));
  });
}

beforeAll(async () => {
  cluster = await startPrivateCluster([{ name: "app_rw", password: CANARY, method: "scram-sha-256" }]);
  await cluster.psql("CREATE DATABASE appdb OWNER app_rw");
  await cluster.psql(
    `CREATE TABLE customers (id int primary key, name text, email text);
     INSERT INTO customers VALUES (1, 'Ann', 'ann@example.com'), (2, 'Bob', 'bob@example.net');
     CREATE TABLE scratch (a int);
     ALTER TABLE customers OWNER TO app_rw; ALTER TABLE scratch OWNER TO app_rw;`,
    "appdb",
  );
  stack = await startStack();
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "eng" } });
  devKey = await stack.userKey("dev@example.com", ["eng"]);
  const policy = await stack.api("/api/v1/policies", {
    method: "POST",
    body: {
      name: "prod-safety",
      guardrails: [{ name: "no-destructive-ddl", statementKinds: ["DROP", "TRUNCATE"] }],
      masking: [{ name: "emails", detector: "email", action: "redact" }],
    },
  });
  expect(policy.status).toBe(201);
  const conn = await stack.api("/api/v1/connections", {
    method: "POST",
    body: {
      name: "guarded",
      type: "postgres",
      description: "the app database",
      host: "127.0.0.1",
      port: cluster.port,
      database: "appdb",
      username: "app_rw",
      credentialRef: "env:APP_PG_PASSWORD",
      allowedGroups: ["eng"],
      policyIds: [policy.body.id],
    },
  });
  expect(conn.status).toBe(201);
  agent = await stack.startAgent("mcp-remote-edge", { APP_PG_PASSWORD: CANARY });
  await agent.proc.waitForOutput(/tunnel listener ready/);
  mcp = new Client(assistant);
  await mcp.connect(bearerTransport(devKey));
}, 120_000);

afterAll(async () => {
  await mcp?.close();
  await stack?.stop();
  await cluster?.stop();
});

describe("the remote MCP endpoint with an API key", () => {
  it("publishes protected-resource metadata and challenges a request without a token", async () => {
    const meta = await stack.api("/.well-known/oauth-protected-resource/mcp", { key: null });
    expect(meta.body).toMatchObject({
      resource: `${stack.cp.apiUrl}/mcp`,
      authorization_servers: [stack.cp.apiUrl],
    });
    const res = await fetch(`${stack.cp.apiUrl}/mcp`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(
      `Bearer resource_metadata="${stack.cp.apiUrl}/.well-known/oauth-protected-resource/mcp"`,
    );
  });

  it("refuses a wrong key with 401 and WWW-Authenticate", async () => {
    const wrong = new Client(assistant);
    await expect(wrong.connect(bearerTransport("slk_wrong_0123456789abcdef"))).rejects.toThrow();
    const res = await fetch(`${stack.cp.apiUrl}/mcp`, {
      method: "POST",
      headers: { authorization: "Bearer slk_wrong_0123456789abcdef", "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer error="invalid_token".*resource_metadata="/);
    expect(await res.text()).not.toContain("slk_wrong");
  });

  it("refuses a browser page on another origin even with a valid key (DNS rebinding)", async () => {
    const init = {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "page", version: "1" } },
    };
    const post = (origin: string) =>
      fetch(`${stack.cp.apiUrl}/mcp`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${devKey}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          origin,
        },
        body: JSON.stringify(init),
      });
    const foreign = await post("http://attacker.example");
    expect(foreign.status).toBe(403);
    expect(await foreign.text()).toContain("this origin may not call the Sluice MCP endpoint");
    const own = await post(new URL(stack.cp.apiUrl).origin);
    expect(own.status).toBe(200);
    await own.body?.cancel();
  });

  it("lists the same tools as `sluice mcp`", async () => {
    const { tools } = await mcp.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(
      [
        "describe",
        "http_request",
        "kube",
        "list_connections",
        "query",
        "request_access",
        "review_status",
      ].sort(),
    );
    expect(tools.find((t) => t.name === "query")?.inputSchema.required).toEqual(["connection", "sql"]);
    const listed = await call("list_connections");
    expect(listed.structuredContent?.connections).toEqual([
      { name: "guarded", type: "postgres", description: "the app database" },
    ]);
  });

  it("offers a key limited to mcp:<tool> scopes only those tools", async () => {
    const me = (await stack.api("/api/v1/me", { key: devKey })).body;
    const created = await stack.api(`/api/v1/users/${me.id}/api-keys`, {
      method: "POST",
      body: { name: "assistant-readonly", scopes: ["mcp:list_connections", "mcp:query"] },
      key: devKey,
    });
    expect(created.status).toBe(201);
    const limited = new Client(assistant);
    await limited.connect(bearerTransport(created.body.secret as string));
    try {
      const { tools } = await limited.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(["list_connections", "query"]);
      const refused = await limited
        .callTool({ name: "http_request", arguments: { connection: "guarded", method: "GET", path: "/" } })
        .then(
          (r) => JSON.stringify(r),
          (err: Error) => err.message,
        );
      expect(refused).toMatch(/not found|unknown tool/i);
      const res = await limited.callTool({
        name: "query",
        arguments: { connection: "guarded", sql: "SELECT 1 AS one" },
      });
      expect(res.isError).toBeFalsy();
      // The key still cannot do anything else on the API.
      const other = await stack.api("/api/v1/groups", { key: created.body.secret as string });
      expect(other.status).toBe(403);
    } finally {
      await limited.close();
    }
  });

  it("queries PostgreSQL through the agent, masked", async () => {
    const res = await call("query", {
      connection: "guarded",
      sql: "SELECT id, name, email FROM customers ORDER BY id",
    });
    expect(res.isError, text(res)).toBeFalsy();
    const [statement] = res.structuredContent?.statements ?? [];
    expect(statement).toMatchObject({ command: "SELECT 2", columns: ["id", "name", "email"] });
    expect(statement.rows.map((r: unknown[]) => r.slice(0, 2))).toEqual([
      [1, "Ann"],
      [2, "Bob"],
    ]);
    expect(JSON.stringify(res)).not.toMatch(/ann@example\.com|bob@example\.net/);
    expect(JSON.stringify(res)).not.toContain(CANARY);
  });

  it("refuses a DROP as a tool error naming the rule", async () => {
    const res = await call("query", { connection: "guarded", sql: "DROP TABLE scratch" });
    expect(res.isError).toBe(true);
    expect(text(res)).toContain('refused by Sluice rule "no-destructive-ddl"');
    expect((await cluster.psql("SELECT to_regclass('scratch') IS NOT NULL", "appdb")).trim()).toBe("t");
  });

  it("records the calls as the caller's sessions via mcp, and sessions list shows them", async () => {
    const items = (await stack.api("/api/v1/sessions?connection=guarded")).body.items as {
      client: unknown;
      user: { name: string };
    }[];
    expect(items.length).toBeGreaterThanOrEqual(2);
    for (const s of items) {
      expect(s.client).toEqual({ via: "mcp", ...assistant });
      // The endpoint acted as the key's identity, never as an administrator.
      expect(s.user.name).toBe("dev@example.com");
    }
    const listed = await cli(["sessions", "list", "--connection", "guarded"], devKey);
    expect(listed.code, listed.err).toBe(0);
    expect(listed.out).toContain("mcp (hosted-assistant 4.5.6)");
    expect(stack.cp.proc.output()).not.toContain(devKey);
  });
});
