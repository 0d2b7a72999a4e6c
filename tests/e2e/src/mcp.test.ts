import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { eventually, type PrivateCluster, startPrivateCluster } from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, repoRoot, type Stack, startStack } from "./stack";

/**
 * `sluice mcp` as an assistant starts it: the SDK's own client over stdio, with the user's
 * API key in the environment, against the real control plane, agent and PostgreSQL.
 */

const CANARY = `canary-pw-${Math.random().toString(36).slice(2)}-m3`;
const bin = join(repoRoot, "apps/cli/bin/sluice.js");
const assistant = { name: "e2e-assistant", version: "1.2.3" };
let cluster: PrivateCluster;
let stack: Stack;
let agent: AgentProcess;
let devKey: string;
let reviewerKey: string;
let mcp: Client;
let serverStderr = "";

function cliEnv(key: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "",
    SLUICE_URL: stack.cp.apiUrl,
    SLUICE_API_KEY: key,
    SLUICE_CONFIG_DIR: mkdtempSync(join(tmpdir(), "sluice-mcp-")),
  };
}

type ToolResult = {
  isError?: boolean;
  content: { type: string; text?: string }[];
  structuredContent?: Record<string, any>;
};

async function call(name: string, args: Record<string, unknown> = {}): Promise<ToolResult> {
  return (await mcp.callTool({ name, arguments: args })) as ToolResult;
}

const text = (r: ToolResult) => r.content.map((c) => c.text ?? "").join("\n");

beforeAll(async () => {
  cluster = await startPrivateCluster([{ name: "app_rw", password: CANARY, method: "scram-sha-256" }]);
  await cluster.psql("CREATE DATABASE appdb OWNER app_rw");
  await cluster.psql(
    `CREATE TABLE customers (id int primary key, name text, email text);
     INSERT INTO customers VALUES (1, 'Ann', 'ann@example.com'), (2, 'Bob', 'bob@example.net');
     CREATE TABLE accounts (id int primary key, balance int);
     INSERT INTO accounts SELECT g, 100 FROM generate_series(1, 3) g;
     CREATE TABLE scratch (a int);
     ALTER TABLE customers OWNER TO app_rw; ALTER TABLE accounts OWNER TO app_rw; ALTER TABLE scratch OWNER TO app_rw;`,
    "appdb",
  );
  stack = await startStack();
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "eng" } });
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "dba" } });
  devKey = await stack.userKey("dev@example.com", ["eng"]);
  reviewerKey = await stack.userKey("rita@example.com", ["dba"]);
  const policy = await stack.api("/api/v1/policies", {
    method: "POST",
    body: {
      name: "prod-safety",
      guardrails: [{ name: "no-destructive-ddl", statementKinds: ["DROP", "TRUNCATE"] }],
      masking: [{ name: "emails", detector: "email", action: "redact" }],
      reviewRules: [
        {
          name: "money-moves",
          statementKinds: ["UPDATE"],
          objects: ["accounts"],
          reviewerGroups: ["dba"],
          timeoutSeconds: 30,
        },
      ],
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
  agent = await stack.startAgent("mcp-edge", { APP_PG_PASSWORD: CANARY, SLUICE_REVIEW_POLL_SECONDS: "1" });
  await agent.proc.waitForOutput(/tunnel listener ready/);

  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [bin, "mcp"],
    env: { ...cliEnv(devKey), SLUICE_MCP_HEARTBEAT_MS: "500" },
    stderr: "pipe",
  });
  transport.stderr?.on("data", (d: Buffer) => {
    serverStderr += d.toString();
  });
  mcp = new Client(assistant);
  await mcp.connect(transport);
}, 120_000);

afterAll(async () => {
  await mcp?.close();
  await stack?.stop();
  await cluster?.stop();
});

describe("sluice mcp over stdio", () => {
  it("lists its tools with input and output schemas", async () => {
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
    const query = tools.find((t) => t.name === "query");
    expect(query?.inputSchema.required).toEqual(["connection", "sql"]);
    expect(query?.outputSchema?.properties).toHaveProperty("truncated");
  });

  it("lists the connections this identity may use", async () => {
    const res = await call("list_connections");
    expect(res.isError).toBeFalsy();
    expect(res.structuredContent?.connections).toEqual([
      { name: "guarded", type: "postgres", description: "the app database" },
    ]);
    expect(text(res)).toContain("guarded (postgres): the app database");
    expect(JSON.stringify(res)).not.toContain(CANARY);
  });

  it("describes tables through the agent", async () => {
    const res = await call("describe", { connection: "guarded", table: "customers" });
    expect(res.isError, text(res)).toBeFalsy();
    expect(res.structuredContent?.tables).toEqual([
      {
        schema: "public",
        name: "customers",
        type: "base table",
        columns: [
          { name: "id", type: "integer", nullable: false },
          { name: "name", type: "text", nullable: true },
          { name: "email", type: "text", nullable: true },
        ],
      },
    ]);
  });

  it("returns rows as the agent masked them, with the row cap", async () => {
    const res = await call("query", {
      connection: "guarded",
      sql: "SELECT id, name, email FROM customers ORDER BY id",
    });
    expect(res.isError, text(res)).toBeFalsy();
    const [statement] = res.structuredContent?.statements ?? [];
    expect(statement).toMatchObject({
      command: "SELECT 2",
      columns: ["id", "name", "email"],
      truncated: false,
    });
    expect(statement.rows.map((r: unknown[]) => r.slice(0, 2))).toEqual([
      [1, "Ann"],
      [2, "Bob"],
    ]);
    expect(JSON.stringify(res)).not.toMatch(/ann@example\.com|bob@example\.net/);

    const capped = await call("query", {
      connection: "guarded",
      sql: "SELECT g FROM generate_series(1, 500) g",
      maxRows: 10,
    });
    expect(capped.structuredContent).toMatchObject({ truncated: true });
    expect(capped.structuredContent?.statements[0]).toMatchObject({ rowCount: 500, truncated: true });
    expect(capped.structuredContent?.statements[0].rows).toHaveLength(10);
    expect(text(capped)).toContain("10 of 500 rows shown");
  });

  it("refuses a DROP as a tool error naming the rule", async () => {
    const res = await call("query", { connection: "guarded", sql: "DROP TABLE scratch" });
    expect(res.isError).toBe(true);
    expect(text(res)).toContain('refused by Sluice rule "no-destructive-ddl"');
    expect((await cluster.psql("SELECT to_regclass('scratch') IS NOT NULL", "appdb")).trim()).toBe("t");
  });

  it("keeps a held UPDATE pending with progress until a reviewer approves, then returns its result", async () => {
    const progress: string[] = [];
    const pending = mcp.callTool(
      {
        name: "query",
        arguments: { connection: "guarded", sql: "UPDATE accounts SET balance = 0 WHERE id = 1" },
      },
      undefined,
      { onprogress: (p) => progress.push(p.message ?? ""), resetTimeoutOnProgress: true, timeout: 20_000 },
    ) as Promise<ToolResult>;
    const review = await eventually(async () => {
      const res = await stack.api("/api/v1/reviews?status=pending&kind=statement", { key: reviewerKey });
      return res.body.items?.[0] as { id: string } | undefined;
    }, 15_000);
    await eventually(() => progress.some((m) => m.includes(`waiting for approval of review ${review.id}`)));
    const status = await call("review_status", { id: review.id });
    expect(status.structuredContent).toMatchObject({ id: review.id, status: "pending", kind: "statement" });
    // The call is still waiting: the row is unchanged until the reviewer decides.
    expect((await cluster.psql("SELECT balance FROM accounts WHERE id = 1", "appdb")).trim()).toBe("100");
    const ok = await stack.api(`/api/v1/reviews/${review.id}/approve`, {
      method: "POST",
      body: { comment: "ok" },
      key: reviewerKey,
    });
    expect(ok.status).toBe(200);
    const res = await pending;
    expect(res.isError, text(res)).toBeFalsy();
    expect(res.structuredContent).toMatchObject({
      reviewId: review.id,
      statements: [{ command: "UPDATE 1", rowCount: 1 }],
    });
    expect((await cluster.psql("SELECT balance FROM accounts WHERE id = 1", "appdb")).trim()).toBe("0");
  }, 45_000);

  it("fails a held statement as a tool error once a reviewer denies it", async () => {
    const pending = call("query", {
      connection: "guarded",
      sql: "UPDATE accounts SET balance = 0 WHERE id = 2",
    });
    const review = await eventually(async () => {
      const res = await stack.api("/api/v1/reviews?status=pending&kind=statement", { key: reviewerKey });
      return res.body.items?.[0] as { id: string } | undefined;
    }, 15_000);
    await stack.api(`/api/v1/reviews/${review.id}/deny`, {
      method: "POST",
      body: { comment: "not today" },
      key: reviewerKey,
    });
    const res = await pending;
    expect(res.isError).toBe(true);
    expect(text(res)).toMatch(/denied/);
    expect(text(res)).toContain(`review: ${review.id}`);
    expect((await cluster.psql("SELECT balance FROM accounts WHERE id = 2", "appdb")).trim()).toBe("100");
  }, 45_000);

  it("records every session as opened by the MCP client, and sessions list shows it", async () => {
    const sessions = (await stack.api("/api/v1/sessions?connection=guarded", { key: devKey })).body.items as {
      client: unknown;
    }[];
    expect(sessions.length).toBeGreaterThanOrEqual(6);
    for (const s of sessions) expect(s.client).toEqual({ via: "mcp", ...assistant });
    const listed = spawnSync(process.execPath, [bin, "sessions", "list", "--connection", "guarded"], {
      env: cliEnv(devKey),
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout.split("\n")[0]).toMatch(/\bVIA\b/);
    expect(listed.stdout).toContain("mcp (e2e-assistant 1.2.3)");
    expect(serverStderr).not.toContain(devKey);
  });
});
