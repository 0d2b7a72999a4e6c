import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { eventually, type ManagedProcess, startProcess } from "@sluice/testkit";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "./psql";
import { type AgentProcess, repoRoot, type Stack, startStack } from "./stack";

/**
 * MySQL/MariaDB end to end: the real `mariadb` CLI and mysql2 through the real agent's
 * native listener against the machine's real MariaDB, with a policy on, checked against
 * the database itself and the session recording.
 */

const tag = randomBytes(4).toString("hex");
const DB = `sl_e2e_${tag}`;
const USER = `sl_e2e_${tag}`;
const CANARY = `canary-${randomBytes(8).toString("hex")}`;
const CONN = "orders-mysql";
let stack: Stack;
let agent: AgentProcess;
let devKey: string;
let otherKey: string;
let reviewerKey: string;
let root: mysql.Connection;
const cliPath = join(repoRoot, "apps/cli/bin/sluice.js");
const connects: ManagedProcess[] = [];

function cliEnv(): Record<string, string> {
  return { SLUICE_URL: stack.cp.apiUrl, SLUICE_API_KEY: devKey, SLUICE_CONFIG_DIR: join(stack.home, "cli") };
}

function sluice(args: string[]) {
  const res = spawnSync(process.execPath, [cliPath, ...args], {
    env: { ...process.env, ...cliEnv() },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

const direct = async (sql: string) => (await root.query(sql))[0] as Record<string, unknown>[];

function viaAgent(key = devKey, extra: Partial<mysql.ConnectionOptions> = {}) {
  return mysql.createConnection({
    host: "127.0.0.1",
    port: agent.mysqlPort,
    user: "dev",
    password: key,
    database: CONN,
    ssl: { rejectUnauthorized: false },
    // The Sluice token travels as mysql_clear_password, inside TLS.
    enableCleartextPlugin: true,
    ...extra,
  });
}

/** The real mariadb CLI, TLS on, the token sent as mysql_clear_password. */
function cli(sql: string, key = devKey, tls = true) {
  const args = ["-h", "127.0.0.1", "-P", String(agent.mysqlPort), "-u", "dev", `-p${key}`, "--batch"];
  if (tls) args.push("--ssl");
  else args.push("--skip-ssl");
  return run("mariadb", [...args, "--enable-cleartext-plugin", CONN, "-e", sql], {}, 60_000);
}

async function sessionEvents(): Promise<{ kind: string; payload: any }[][]> {
  const sessions = (await stack.api(`/api/v1/sessions?connection=${CONN}`)).body.items as { id: string }[];
  return Promise.all(
    sessions.map(async (s) => (await stack.api(`/api/v1/sessions/${s.id}/events?limit=5000`)).body.items),
  );
}

beforeAll(async () => {
  root = await mysql.createConnection({
    host: "127.0.0.1",
    port: 3306,
    user: "root",
    multipleStatements: true,
  });
  await root.query(
    `CREATE DATABASE ${DB};
     CREATE USER '${USER}'@'127.0.0.1' IDENTIFIED BY '${CANARY}';
     CREATE USER '${USER}'@'localhost' IDENTIFIED BY '${CANARY}';
     GRANT ALL ON ${DB}.* TO '${USER}'@'127.0.0.1';
     GRANT ALL ON ${DB}.* TO '${USER}'@'localhost';
     CREATE TABLE ${DB}.customers (id INT PRIMARY KEY, name VARCHAR(40), email VARCHAR(80), card VARCHAR(30));
     INSERT INTO ${DB}.customers VALUES
       (1, 'Ann', 'ann@example.com', '4111 1111 1111 1111'),
       (2, 'Bob', 'bob@example.net', '5500 0000 0000 0004');`,
  );
  stack = await startStack();
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "eng" } });
  devKey = await stack.userKey("dev@example.com", ["eng"]);
  otherKey = await stack.userKey("mallory@example.com", ["eng"]);
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "dba" } });
  reviewerKey = await stack.userKey("rita@example.com", ["dba"]);
  const policy = await stack.api("/api/v1/policies", {
    method: "POST",
    body: {
      name: "mysql-safety",
      guardrails: [
        { name: "no-destructive-ddl", statementKinds: ["DROP TABLE", "DROP", "TRUNCATE"] },
        { name: "where-required", requireWhere: true },
      ],
      masking: [
        { name: "emails", detector: "email", action: "redact" },
        { name: "cards", columns: ["^card$"], action: "keep_last", keep: 4 },
      ],
      reviewRules: [
        {
          name: "renames",
          statementKinds: ["UPDATE"],
          objects: ["customers"],
          reviewerGroups: ["dba"],
          timeoutSeconds: 30,
        },
      ],
    },
  });
  expect(policy.status, policy.text).toBe(201);
  const conn = await stack.api("/api/v1/connections", {
    method: "POST",
    body: {
      name: CONN,
      type: "mysql",
      host: "127.0.0.1",
      port: 3306,
      database: DB,
      username: USER,
      credentialRef: "env:E2E_MYSQL_PASSWORD",
      allowedGroups: ["eng"],
      policyIds: [policy.body.id],
    },
  });
  expect(conn.status, conn.text).toBe(201);
  agent = await stack.startAgent("mysql-edge", { E2E_MYSQL_PASSWORD: CANARY });
  await agent.proc.waitForOutput(/mysql listener ready/, 30_000);
  await eventually(async () => (await cli("SELECT 1")).code === 0, 20_000, 250);
}, 180_000);

afterAll(async () => {
  await Promise.all(connects.map((p) => p.stop("SIGTERM")));
  await stack?.stop();
  await root?.query(
    `DROP DATABASE IF EXISTS ${DB}; DROP USER IF EXISTS '${USER}'@'127.0.0.1'; DROP USER IF EXISTS '${USER}'@'localhost';`,
  );
  await root?.end();
});

describe("MySQL through the agent", () => {
  it("runs queries for the real mariadb CLI over TLS, with emails and cards masked", async () => {
    const res = await cli("SELECT id, name, email, card FROM customers ORDER BY id");
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.stdout).toContain("Ann");
    expect(res.stdout).not.toContain("ann@example.com");
    expect(res.stdout).not.toContain("4111 1111 1111 1111");
    expect(res.stdout).toContain("1111");
  });

  it("refuses DROP TABLE with an ERR naming the rule, and the table is still there", async () => {
    const res = await cli("DROP TABLE customers");
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/ERROR 1227/);
    expect(res.stderr).toContain("no-destructive-ddl");
    expect(await direct(`SELECT COUNT(*) AS n FROM ${DB}.customers`)).toEqual([{ n: 2 }]);
    const del = await cli("DELETE FROM customers");
    expect(del.stderr).toContain("where-required");
    expect(await direct(`SELECT COUNT(*) AS n FROM ${DB}.customers`)).toEqual([{ n: 2 }]);
  });

  it("masks rows of prepared statements (binary protocol) for mysql2, and keeps the session usable", async () => {
    const c = await viaAgent();
    try {
      const [rows] = await c.execute("SELECT id, email FROM customers WHERE id = ?", [1]);
      expect(rows).toHaveLength(1);
      expect(JSON.stringify(rows)).not.toContain("ann@example.com");
      await expect(c.query("DROP TABLE customers")).rejects.toMatchObject({ errno: 1227 });
      const [again] = await c.query("SELECT name FROM customers ORDER BY id");
      expect(again).toEqual([{ name: "Ann" }, { name: "Bob" }]);
    } finally {
      await c.end();
    }
  });

  it("refuses a wrong token, and a token without TLS", async () => {
    await expect(viaAgent("slk_not_a_real_key")).rejects.toMatchObject({ errno: 1045 });
    const plain = await cli("SELECT 1", devKey, false);
    expect(plain.code).not.toBe(0);
    expect(plain.stdout).not.toContain("1");
  });

  it("lets KILL QUERY from a second session stop a running query, but not another user's", async () => {
    const a = await viaAgent();
    const b = await viaAgent();
    const m = await viaAgent(otherKey);
    try {
      const slow = a.query("SELECT SLEEP(30) AS s");
      await new Promise((r) => setTimeout(r, 500));
      await expect(m.query(`KILL QUERY ${a.threadId}`)).rejects.toMatchObject({ errno: 1094 });
      const started = Date.now();
      await b.query(`KILL QUERY ${a.threadId}`);
      const [rows] = (await slow.catch((err: { errno?: number }) => [[{ errno: err.errno }]])) as [unknown[]];
      expect(Date.now() - started).toBeLessThan(10_000);
      // MariaDB ends a killed SLEEP early with 1 (or an interrupted-query error).
      expect(JSON.stringify(rows)).toMatch(/"s":1|1317/);
    } finally {
      await Promise.all([a.end(), b.end(), m.end()]);
    }
  });

  it("records statements, masked rows and refusals, and never the target password", async () => {
    const all = await eventually(async () => {
      const sessions = await sessionEvents();
      const closed = sessions.filter((e) => e.some((x) => x.kind === "session.end"));
      return closed.length >= 4 ? sessions : undefined;
    }, 20_000);
    const flat = all.flat();
    const text = JSON.stringify(flat);
    expect(text).not.toContain(CANARY);
    expect(text).not.toContain("ann@example.com");
    const starts = flat.filter((e) => e.kind === "session.start").map((e) => e.payload);
    for (const p of starts)
      expect(p).toMatchObject({ protocol: "mysql", connection: CONN, via: "credential" });
    expect(starts.map((p) => p.identity.name)).toContain("dev@example.com");
    const statements = flat.filter((e) => e.kind === "mysql.statement").map((e) => e.payload.text);
    expect(statements).toContain("SELECT id, name, email, card FROM customers ORDER BY id");
    expect(statements).not.toContain("DROP TABLE customers");
    const denied = flat.filter((e) => e.kind === "policy" && e.payload.decision === "denied");
    expect(denied.map((e) => e.payload.rule)).toContain("no-destructive-ddl");
    const result = flat.find((e) => e.kind === "mysql.result" && e.payload.columns?.length === 4);
    expect(result?.payload.columns.map((c: { name: string }) => c.name)).toEqual([
      "id",
      "name",
      "email",
      "card",
    ]);
    expect(result?.payload.rows).toHaveLength(2);
    expect(result?.payload.rows[0].slice(0, 2)).toEqual(["1", "Ann"]);
    expect(result?.payload.rows[0][3]).toMatch(/1111$/);
  });

  it("runs SQL with sluice exec through the tunnel, masked and guarded, with the server's errors in the exit code", () => {
    const ok = sluice(["exec", CONN, "-c", "SELECT name, email FROM customers ORDER BY id; SELECT 2 AS two"]);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("Ann");
    expect(ok.stdout).not.toContain("ann@example.com");
    expect(ok.stdout).toContain("two");
    const denied = sluice(["exec", CONN, "-c", "TRUNCATE TABLE customers"]);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain("no-destructive-ddl");
  });

  it("serves the stock client through sluice connect, without a password of its own", async () => {
    const proc = startProcess(process.execPath, [cliPath, "connect", CONN, "--port", "0"], { env: cliEnv() });
    connects.push(proc);
    const m = await proc.waitForOutput(/listening on 127\.0\.0\.1:(\d+)/, 30_000);
    const port = Number(m[1]);
    const res = await run(
      "mariadb",
      [
        "-h",
        "127.0.0.1",
        "-P",
        String(port),
        "--protocol=TCP",
        "-u",
        "me",
        "--skip-ssl",
        "--batch",
        DB,
        "-e",
        "SELECT email FROM customers WHERE id = 2",
      ],
      {},
      60_000,
    );
    expect(res.stderr).toBe("");
    expect(res.stdout).toContain("email");
    expect(res.stdout).not.toContain("bob@example.net");
    const c = await mysql.createConnection({ host: "127.0.0.1", port, user: "me" });
    try {
      const [rows] = await c.execute("SELECT COUNT(*) AS n FROM customers WHERE id > ?", [0]);
      expect(rows).toEqual([{ n: 2 }]);
    } finally {
      await c.end();
    }
  });

  it("holds an UPDATE inside the live session until a reviewer approves it, then runs it", async () => {
    const c = await viaAgent();
    try {
      const held = c.query("UPDATE customers SET name = 'Ann B' WHERE id = 1");
      const review = await eventually(async () => {
        const res = await stack.api("/api/v1/reviews?status=pending&kind=statement", { key: reviewerKey });
        return res.body.items?.[0] as { id: string; statement: string } | undefined;
      }, 15_000);
      expect(review.statement).toBe("UPDATE customers SET name = 'Ann B' WHERE id = 1");
      expect(await direct(`SELECT name FROM ${DB}.customers WHERE id = 1`)).toEqual([{ name: "Ann" }]);
      const ok = await stack.api(`/api/v1/reviews/${review.id}/approve`, {
        method: "POST",
        body: {},
        key: reviewerKey,
      });
      expect(ok.status).toBe(200);
      const [res] = (await held) as [{ affectedRows: number }, unknown];
      expect(res.affectedRows).toBe(1);
      expect(await direct(`SELECT name FROM ${DB}.customers WHERE id = 1`)).toEqual([{ name: "Ann B" }]);
    } finally {
      c.destroy();
    }
  });

  it("gives the same verdict in sluice policies test as the agent does", async () => {
    const [v] = await direct("SELECT VERSION() AS v, @@GLOBAL.sql_mode AS m");
    for (const sql of [
      "DROP TABLE customers",
      "DELETE FROM customers",
      "SELECT 1 /*!99999 ; DROP TABLE t */",
    ]) {
      const dry = await stack.api("/api/v1/policies/mysql-safety/evaluate", {
        method: "POST",
        body: { sql, dialect: "mysql", serverVersion: String(v?.v), sqlMode: String(v?.m) },
      });
      expect(dry.status, dry.text).toBe(200);
      const verdict = dry.body as { verdict: string; message?: string };
      // mysql2 sends the text whole, as the agent sees it (the mariadb CLI splits at ';' itself).
      const c = await viaAgent(devKey, { multipleStatements: true });
      const live = await c.query(sql).then(
        () => undefined,
        (err: { errno?: number; sqlMessage?: string }) => err,
      );
      await c.end();
      if (verdict.verdict === "deny") expect(live?.sqlMessage).toBe(verdict.message);
      else expect(live?.errno).not.toBe(1227);
    }
  });
});
