import { spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, type PrivateCluster, startPrivateCluster } from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "./psql";
import { type AgentProcess, repoRoot, type Stack, startStack } from "./stack";

/**
 * The policy engine end to end: a connection with guardrails, masking and a review
 * rule, used with the real psql through the real agent against the real PostgreSQL,
 * decided through the control plane's API.
 */

const CANARY = `canary-pw-${Math.random().toString(36).slice(2)}-p7`;
let cluster: PrivateCluster;
let stack: Stack;
let agent: AgentProcess;
let devKey: string;
let reviewerKey: string;
let receiver: Server;
let webhookSecret: string;
/** Webhook deliveries as the receiver saw them, with whether the signature checked out. */
const received: { event: string; body: any; signed: boolean }[] = [];

function startReceiver(): Promise<number> {
  receiver = createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => {
      raw += c;
    });
    req.on("end", () => {
      const header = String(req.headers["sluice-signature"] ?? "");
      const t = /t=(\d+)/.exec(header)?.[1] ?? "";
      const v1 = /v1=([0-9a-f]+)/.exec(header)?.[1] ?? "";
      const expected = createHmac("sha256", webhookSecret).update(`${t}.${raw}`).digest("hex");
      received.push({
        event: String(req.headers["sluice-event"]),
        body: JSON.parse(raw),
        signed: v1 === expected,
      });
      res.writeHead(204).end();
    });
  });
  return new Promise((resolve) =>
    receiver.listen(0, "127.0.0.1", () => resolve((receiver.address() as AddressInfo).port)),
  );
}

const conninfo = () => `host=127.0.0.1 port=${agent.pgPort} dbname=guarded user=dev sslmode=disable`;

/** psql through the agent's native listener, without blocking the test's event loop. */
function psql(sql: string, key = devKey, stopOnError = true) {
  return run(
    "psql",
    ["-X", "-At", "-v", `ON_ERROR_STOP=${stopOnError ? 1 : 0}`, conninfo(), "-f", "-"].concat([]),
    { PGPASSWORD: key, PGCONNECT_TIMEOUT: "10" },
    60_000,
    sql,
  );
}

const direct = (sql: string) => cluster.psql(sql, "appdb");

async function pendingReview(): Promise<{ id: string; statement: string }> {
  return eventually(async () => {
    const res = await stack.api("/api/v1/reviews?status=pending&kind=statement", { key: reviewerKey });
    return res.body.items?.[0];
  }, 15_000);
}

const CARD = "4111 1111 1111 1111";

beforeAll(async () => {
  cluster = await startPrivateCluster([{ name: "app_rw", password: CANARY, method: "scram-sha-256" }]);
  await cluster.psql("CREATE DATABASE appdb OWNER app_rw");
  await cluster.psql(
    `CREATE TABLE customers (id int primary key, name text, email text, card text, note text);
     INSERT INTO customers VALUES
       (1, 'Ann', 'ann@example.com', '${CARD}', 'call ann at ann.private@example.org'),
       (2, 'Bob', 'bob@example.net', '5500-0000-0000-0004', 'no contact');
     CREATE TABLE accounts (id int primary key, balance int);
     INSERT INTO accounts SELECT g, 100 FROM generate_series(1, 5) g;
     CREATE TABLE scratch (a int);
     ALTER TABLE customers OWNER TO app_rw; ALTER TABLE accounts OWNER TO app_rw; ALTER TABLE scratch OWNER TO app_rw;`,
    "appdb",
  );
  stack = await startStack();
  const hook = await stack.api("/api/v1/notification-channels", {
    method: "POST",
    body: {
      name: "security-hook",
      kind: "webhook",
      url: `http://127.0.0.1:${await startReceiver()}/sluice`,
      events: ["guardrail.violated", "review.requested", "review.decided"],
    },
  });
  expect(hook.status).toBe(201);
  webhookSecret = hook.body.secret;
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "eng" } });
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "dba" } });
  devKey = await stack.userKey("dev@example.com", ["eng"]);
  reviewerKey = await stack.userKey("rita@example.com", ["dba"]);
  const policy = await stack.api("/api/v1/policies", {
    method: "POST",
    body: {
      name: "prod-safety",
      guardrails: [
        {
          name: "no-destructive-ddl",
          statementKinds: ["DROP", "TRUNCATE", "ALTER", "GRANT", "COPY PROGRAM"],
        },
        { name: "where-required", requireWhere: true },
      ],
      masking: [
        { name: "cards", columns: ["^card$"], action: "keep_last", keep: 4 },
        { name: "emails", detector: "email", action: "redact" },
      ],
      reviewRules: [
        {
          name: "money-moves",
          statementKinds: ["UPDATE"],
          objects: ["accounts"],
          reviewerGroups: ["dba"],
          timeoutSeconds: 10,
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
  agent = await stack.startAgent("policy-edge", { APP_PG_PASSWORD: CANARY, SLUICE_REVIEW_POLL_SECONDS: "1" });
  await agent.proc.waitForOutput(/postgres listener ready/);
}, 120_000);

afterAll(async () => {
  receiver?.close();
  await stack?.stop();
  await cluster?.stop();
});

/** Ways to sneak destructive statements past a guard. Every one must be refused. */
const bypassCorpus = [
  "DROP TABLE scratch",
  "dRoP tAbLe scratch",
  "/* maintenance */ DROP TABLE scratch",
  "-- x\nTRUNCATE scratch",
  "SELECT 1; DROP TABLE scratch",
  "SELECT $$;$$; TRUNCATE scratch",
  "SELECT $q$ DROP $q$; DELETE FROM scratch",
  "WITH gone AS (DELETE FROM scratch RETURNING *) SELECT count(*) FROM gone",
  "EXPLAIN ANALYZE DELETE FROM scratch",
  "DO $$ BEGIN DROP TABLE scratch; END $$",
  "DO $$ BEGIN EXECUTE 'DROP TABLE scratch'; END $$",
  "PREPARE p AS DELETE FROM scratch",
  "COPY scratch TO PROGRAM 'id'",
  "ALTER TABLE scratch ADD COLUMN b int",
  "UPDATE scratch SET a = 1",
];

const benignCorpus: [string, string][] = [
  ["SELECT 1 AS delete", "1"],
  ["SELECT 'DROP TABLE scratch'", "DROP TABLE scratch"],
  ["SELECT count(*) FROM scratch -- TRUNCATE scratch", "0"],
  ["SELECT $$ DELETE FROM scratch $$", " DELETE FROM scratch "],
  ['SELECT 2 AS "drop"', "2"],
];

describe("guardrails through the agent with psql", () => {
  it("refuses every statement of the bypass corpus with SQLSTATE 42501 and the table survives", async () => {
    for (const sql of bypassCorpus) {
      const r = await psql(`\\set VERBOSITY verbose\n${sql};\n`);
      expect(r.code, sql).not.toBe(0);
      expect(r.stderr, sql).toMatch(/42501/);
    }
    expect((await direct("SELECT to_regclass('scratch') IS NOT NULL")).trim()).toBe("t");
    const violation = await eventually(async () => {
      return received.find(
        (r) => r.event === "guardrail.violated" && r.body.data?.rule === "no-destructive-ddl",
      );
    }, 20_000);
    expect(violation).toMatchObject({
      signed: true,
      body: { data: { connection: "guarded", user: "dev@example.com" } },
    });
  });

  it("lets the benign corpus through unchanged", async () => {
    for (const [sql, expected] of benignCorpus) {
      const r = await psql(`${sql};\n`);
      expect(r.stderr, sql).toBe("");
      expect(r.stdout, sql).toBe(`${expected}\n`);
    }
  });
});

describe("masking", () => {
  it("masks cards by column and emails by content in psql and in the recording", async () => {
    const r = await psql("SELECT id, name, email, card, note FROM customers ORDER BY id;\n");
    expect(r.stderr).toBe("");
    const rows = r.stdout.trim().split("\n");
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/^1\|Ann\|/);
    expect(rows[0]).toContain("1111");
    for (const raw of [
      "ann@example.com",
      "ann.private@example.org",
      CARD,
      "bob@example.net",
      "5500-0000-0000-0004",
    ]) {
      expect(r.stdout).not.toContain(raw);
    }
    const sessions = (await stack.api("/api/v1/sessions?connection=guarded")).body.items as { id: string }[];
    const text = await eventually(async () => {
      for (const s of sessions) {
        const ev = await stack.api(`/api/v1/sessions/${s.id}/events?limit=5000`);
        const body = JSON.stringify(ev.body.items);
        if (body.includes("FROM customers") && body.includes("pg.result")) return body;
      }
      return undefined;
    }, 15_000);
    expect(text).toContain("Ann");
    expect(text).not.toContain("ann@example.com");
    expect(text).not.toContain(CARD);
  });

  it("refuses COPY … TO, whose rows the masker cannot see", async () => {
    const r = await psql("COPY customers TO STDOUT;\n");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("COPY");
    expect(r.stdout).not.toContain("ann@example.com");
  });
});

describe("statements held for review", () => {
  it("runs an UPDATE after a reviewer approves it", async () => {
    const pending = psql(
      "UPDATE accounts SET balance = 0 WHERE id = 1;\nSELECT balance FROM accounts WHERE id = 1;\n",
    );
    const review = await pendingReview();
    expect(review.statement).toBe("UPDATE accounts SET balance = 0 WHERE id = 1;");
    const self = await stack.api(`/api/v1/reviews/${review.id}/approve`, {
      method: "POST",
      body: {},
      key: devKey,
    });
    expect(self.status).toBe(403);
    const ok = await stack.api(`/api/v1/reviews/${review.id}/approve`, {
      method: "POST",
      body: { comment: "ticket OPS-1" },
      key: reviewerKey,
    });
    expect(ok.status).toBe(200);
    const r = await pending;
    expect(r.stderr).toContain(`waiting for approval of review ${review.id}`);
    expect(r.stdout).toBe("UPDATE 1\n0\n");
    expect(r.code).toBe(0);
    const events = await eventually(async () => {
      const mine = received.filter((x) => x.body.data?.reviewId === review.id);
      return mine.some((x) => x.event === "review.decided") ? mine : undefined;
    }, 20_000);
    expect(events.map((e) => [e.event, e.signed])).toEqual([
      ["review.requested", true],
      ["review.decided", true],
    ]);
  });

  it("fails the statement after a denial, and the session stays usable", async () => {
    const pending = psql(
      "UPDATE accounts SET balance = 0 WHERE id = 2;\nSELECT balance FROM accounts WHERE id = 2;\n",
      devKey,
      false,
    );
    const review = await pendingReview();
    await stack.api(`/api/v1/reviews/${review.id}/deny`, {
      method: "POST",
      body: { comment: "not today" },
      key: reviewerKey,
    });
    const r = await pending;
    expect(r.stderr).toMatch(/denied/);
    expect(r.stdout).toBe("100\n");
  });

  it("treats a timeout as a denial", async () => {
    const r = await psql(
      "UPDATE accounts SET balance = 0 WHERE id = 3;\nSELECT balance FROM accounts WHERE id = 3;\n",
      devKey,
      false,
    );
    expect(r.stderr).toMatch(/timed out|expired/);
    expect(r.stdout).toBe("100\n");
    expect((await direct("SELECT balance FROM accounts WHERE id = 3")).trim()).toBe("100");
  }, 40_000);
});

/** The real sluice CLI, authenticated with an API key from the environment. */
function sluice(args: string[], key: string) {
  const res = spawnSync(process.execPath, [join(repoRoot, "apps/cli/bin/sluice.js"), ...args], {
    env: {
      ...process.env,
      SLUICE_CONFIG_DIR: mkdtempSync(join(tmpdir(), "sluice-cli-")),
      SLUICE_URL: stack.cp.apiUrl,
      SLUICE_API_KEY: key,
    },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

describe("just-in-time access", () => {
  it("refuses sessions until a request is approved, and revocation ends the live session", async () => {
    const conn = await stack.api("/api/v1/connections", {
      method: "POST",
      body: {
        name: "jit-db",
        type: "postgres",
        host: "127.0.0.1",
        port: cluster.port,
        database: "appdb",
        username: "app_rw",
        credentialRef: "env:APP_PG_PASSWORD",
        allowedGroups: ["eng"],
        access: { requireApproval: true, reviewerGroups: ["dba"], minApprovals: 1 },
      },
    });
    expect(conn.status).toBe(201);
    const jit = `host=127.0.0.1 port=${agent.pgPort} dbname=jit-db user=dev sslmode=disable`;
    const env = { PGPASSWORD: devKey, PGCONNECT_TIMEOUT: "10" };
    await eventually(async () => {
      const r = await run("psql", ["-X", "-At", jit, "-c", "SELECT 1"], env);
      return r.stderr.includes("sluice request") ? r : undefined;
    }, 15_000);

    const requested = sluice(["request", "jit-db", "--for", "30m", "--reason", "INC-42 investigate"], devKey);
    expect(requested.code, requested.stderr).toBe(0);
    const id = /[0-9a-f-]{36}/.exec(requested.stdout + requested.stderr)?.[0] as string;
    expect(id).toBeDefined();
    expect(sluice(["reviews", "approve", id], devKey).code).not.toBe(0); // no self-approval
    const approved = sluice(["reviews", "approve", id, "--comment", "ok for INC-42"], reviewerKey);
    expect(approved.code, approved.stderr).toBe(0);

    const ok = await run("psql", ["-X", "-At", jit, "-c", "SELECT count(*) FROM accounts"], env);
    expect(ok).toMatchObject({ code: 0, stdout: "5\n" });

    // A live session ends when the approval is revoked.
    const live = run("psql", ["-X", "-At", jit, "-c", "SELECT pg_sleep(30)"], env, 60_000);
    await new Promise((r) => setTimeout(r, 1_500));
    const revoked = sluice(["reviews", "revoke", id], reviewerKey);
    expect(revoked.code, revoked.stderr).toBe(0);
    const ended = await live;
    expect(ended.code).not.toBe(0);
    expect(ended.stderr).toMatch(/terminated|revoked|closed/);
  }, 60_000);
});

describe("sluice exec and reviews", () => {
  it("returns the review id with --no-wait, then runs the same statement once it is approved", async () => {
    await agent.proc.waitForOutput(/tunnel listener ready/);
    const sql = "UPDATE accounts SET balance = 7 WHERE id = 5";
    const first = sluice(["exec", "guarded", "-c", sql, "--no-wait"], devKey);
    expect(first.code, first.stderr).toBe(4);
    const id = /held for review ([0-9a-f-]{36})/.exec(first.stderr)?.[1] as string;
    expect(id).toBeDefined();
    expect((await direct("SELECT balance FROM accounts WHERE id = 5")).trim()).toBe("100");
    // The approval is kept for a later run once the waiting session has ended.
    await eventually(async () => {
      const sessions = (await stack.api("/api/v1/sessions?connection=guarded&status=active")).body.items;
      return sessions.length === 0;
    }, 15_000);
    const approved = sluice(["reviews", "approve", id], reviewerKey);
    expect(approved.code, approved.stderr).toBe(0);
    const again = sluice(["exec", "guarded", "-c", sql, "--no-wait"], devKey);
    expect(again.code, again.stderr).toBe(0);
    expect((await direct("SELECT balance FROM accounts WHERE id = 5")).trim()).toBe("7");
    // One approval, one run.
    const third = sluice(["exec", "guarded", "-c", sql, "--no-wait"], devKey);
    expect(third.code).toBe(4);
  }, 60_000);
});
