import { randomBytes } from "node:crypto";
import net from "node:net";
import { BackendCode, frontend, parseNoticeFields } from "@sluice/pg-wire";
import { compileGuard, initSqlParser, type PolicyDocument } from "@sluice/policy";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HeldAction, PendingReview, PolicyEvent, ReviewOutcome } from "../../core/policy-types";
import {
  adminPsql,
  GOOD_TOKEN,
  psqlVia,
  RawClient,
  run,
  startTestProxy,
  type TestProxy,
} from "./pg-proxy.testing";
import type { PgTarget } from "./pg-proxy-types";
import type { SessionPolicy } from "./policy-gate";

const DB = `sluice_policy_${randomBytes(4).toString("hex")}`;

const policy: PolicyDocument = {
  id: "11111111-1111-1111-1111-111111111111",
  name: "prod-safety",
  guardrails: [
    {
      name: "no-destructive-ddl",
      action: "deny",
      statementKinds: ["DROP", "TRUNCATE", "ALTER", "COPY PROGRAM"],
    },
    { name: "where-required", action: "deny", requireWhere: true },
  ],
  masking: [],
  reviewRules: [
    {
      name: "balance-changes",
      statementKinds: ["UPDATE"],
      objects: ["accounts"],
      reviewerGroups: ["dba"],
      minApprovals: 1,
      timeoutSeconds: 60,
    },
  ],
};

type Decide = (held: HeldAction, signal: AbortSignal) => Promise<ReviewOutcome>;

/** A session policy whose reviews are decided by the test, as a reviewer would. */
function testPolicy(decide: { next: Decide }): SessionPolicy & { events: PolicyEvent[] } {
  const events: PolicyEvent[] = [];
  let n = 0;
  return {
    events,
    guard: compileGuard([policy]),
    async requestReview(held, onPending: (p: PendingReview) => void, signal) {
      const reviewId = `review-${++n}`;
      onPending({ reviewId, url: `http://cp.example/reviews/${reviewId}` });
      const outcome = await decide.next(held, signal);
      return outcome.approved ? { approved: true, reviewId } : { ...outcome, reviewId };
    },
    record: (ev) => events.push(ev),
  };
}

let proxy: TestProxy;
let session: ReturnType<typeof testPolicy>;
const decide: { next: Decide } = { next: async () => ({ approved: true, reviewId: "" }) };

beforeAll(async () => {
  await initSqlParser();
  await adminPsql(`CREATE DATABASE ${DB}`);
  await adminPsql(
    "CREATE TABLE accounts (id int primary key, owner text, balance int); INSERT INTO accounts SELECT g, 'owner' || g, 100 FROM generate_series(1, 10) g; CREATE TABLE scratch (a int)",
    DB,
  );
  const target: Omit<PgTarget, "sessionId"> = {
    host: "127.0.0.1",
    port: 5432,
    database: DB,
    user: "postgres",
    password: async () => "unused-with-trust",
    ssl: { mode: "disable" },
    recordRowsLimit: 5,
  };
  proxy = await startTestProxy(target, {
    authorize: async (req) => {
      if (req.password !== GOOD_TOKEN) throw new Error("bad token");
      session = testPolicy(decide);
      return { ...target, sessionId: `s-${randomBytes(3).toString("hex")}`, policy: session };
    },
  });
});

afterAll(async () => {
  await proxy?.close();
  await adminPsql(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
});

const psql = (sql: string) => psqlVia(proxy.port, "app", GOOD_TOKEN, ["-c", sql]);
const direct = (sql: string) => adminPsql(sql, DB);

describe("guardrails through the proxy with psql", () => {
  it("blocks a destructive statement with SQLSTATE 42501 naming the rule, and the table survives", async () => {
    const r = await psqlVia(proxy.port, "app", GOOD_TOKEN, [
      "-v",
      "VERBOSITY=verbose",
      "-c",
      "DROP TABLE scratch",
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("42501");
    expect(r.stderr).toContain('rule "no-destructive-ddl"');
    expect((await direct("SELECT to_regclass('scratch') IS NOT NULL")).stdout.trim()).toBe("t");
    expect(session.events).toContainEqual(
      expect.objectContaining({ decision: "denied", rule: "no-destructive-ddl" }),
    );
  });

  it("blocks a multi-statement string as a whole: nothing in it runs", async () => {
    const r = await psql("INSERT INTO scratch VALUES (1); DELETE FROM scratch");
    expect(r.stderr).toContain('rule "where-required"');
    expect((await direct("SELECT count(*) FROM scratch")).stdout.trim()).toBe("0");
  });

  it("lets benign statements with dangerous-looking words through", async () => {
    const r = await psql("SELECT 1 AS delete, 'DROP TABLE x' AS t /* TRUNCATE */");
    expect(r).toMatchObject({ code: 0, stdout: "1|DROP TABLE x\n" });
  });

  it("keeps the session usable after a denial, in and out of a transaction", async () => {
    const script = [
      "SELECT 1;",
      "TRUNCATE accounts;",
      "SELECT 2;",
      "BEGIN;",
      "DROP TABLE accounts;",
      "SELECT 3;",
      "COMMIT;",
      "SELECT count(*) FROM accounts;",
    ].join("\n");
    const r = await psqlVia(proxy.port, "app", GOOD_TOKEN, ["-v", "ON_ERROR_STOP=0", "-f", "-"], script);
    expect(r.stdout.split("\n").filter(Boolean)).toEqual(["1", "2", "BEGIN", "3", "COMMIT", "10"]);
    expect(r.stderr.match(/42501|blocked by Sluice/g)?.length).toBeGreaterThanOrEqual(2);
  });

  it("refuses turning standard_conforming_strings off, so backslash tricks never reach the server", async () => {
    const script = [
      "SET standard_conforming_strings = off;",
      "SELECT 'plain';",
      "SELECT 'a\\' , $$' ; DROP TABLE scratch; --$$;",
      "SELECT to_regclass('scratch') IS NOT NULL;",
    ].join("\n");
    const r = await psqlVia(proxy.port, "app", GOOD_TOKEN, ["-v", "ON_ERROR_STOP=0", "-f", "-"], script);
    expect(r.stderr).toContain("standard_conforming_strings");
    expect(r.stdout.split("\n").filter(Boolean)).toEqual([
      "plain",
      // Read as the server reads it with standard strings on: two columns, the DROP inside a literal.
      "a\\|' ; DROP TABLE scratch; --",
      "t",
    ]);
  });
});

describe("guardrails in the extended protocol (node-postgres)", () => {
  it("blocks parameterized and named prepared statements and keeps the connection", async () => {
    const client = new pg.Client({
      host: "127.0.0.1",
      port: proxy.port,
      database: "app",
      user: "x",
      password: GOOD_TOKEN,
    });
    await client.connect();
    try {
      await expect(client.query("DELETE FROM scratch WHERE a = $1", [1])).resolves.toMatchObject({
        rowCount: 0,
      });
      await expect(
        client.query({
          name: "wipe",
          text: "WITH d AS (DELETE FROM scratch RETURNING *) SELECT $1::int",
          values: [1],
        }),
      ).rejects.toMatchObject({ code: "42501" });
      await expect(client.query("ALTER TABLE accounts ADD COLUMN x int")).rejects.toMatchObject({
        code: "42501",
      });
      const ok = await client.query("SELECT count(*)::int AS n FROM accounts WHERE id > $1", [0]);
      expect(ok.rows).toEqual([{ n: 10 }]);
    } finally {
      await client.end();
    }
  });

  it("answers a pipelined denial after the responses to earlier statements", async () => {
    const c = new RawClient(proxy.port);
    await c.login("app");
    c.socket.write(
      Buffer.concat([
        frontend.query("SELECT pg_sleep(0.2), 'first'"),
        frontend.query("TRUNCATE scratch"),
        frontend.query("SELECT 'third'"),
      ]),
    );
    const frames = [
      ...(await c.until(BackendCode.ReadyForQuery)),
      ...(await c.until(BackendCode.ReadyForQuery)),
      ...(await c.until(BackendCode.ReadyForQuery)),
    ];
    const kinds = frames.map((f) => String.fromCharCode(f.type)).join("");
    // first: RowDescription, DataRow, CommandComplete, Ready; second: Error, Ready; third: T D C Z
    expect(kinds).toBe("TDCZEZTDCZ");
    c.socket.destroy();
  });
});

describe("statements held for review", () => {
  it("runs an UPDATE once a reviewer approves, with a notice naming the review", async () => {
    let seen: HeldAction | undefined;
    decide.next = async (held) => {
      seen = held;
      await new Promise((r) => setTimeout(r, 200));
      return { approved: true, reviewId: "" };
    };
    const r = await psql("UPDATE accounts SET balance = 500 WHERE id = 1");
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("waiting for approval of review review-1");
    expect(seen?.text).toBe("UPDATE accounts SET balance = 500 WHERE id = 1");
    expect((await direct("SELECT balance FROM accounts WHERE id = 1")).stdout.trim()).toBe("500");
    expect(session.events.map((e) => e.decision)).toEqual(["held", "approved"]);
  });

  it("fails the statement after a denial and keeps the session usable", async () => {
    decide.next = async () => ({
      approved: false,
      reason: "review review-1 was denied (not during business hours)",
    });
    const script =
      "UPDATE accounts SET balance = 0 WHERE id = 2;\nSELECT balance FROM accounts WHERE id = 2;\n";
    const r = await psqlVia(proxy.port, "app", GOOD_TOKEN, ["-v", "ON_ERROR_STOP=0", "-f", "-"], script);
    expect(r.stderr).toContain("not during business hours");
    expect(r.stdout.trim()).toBe("100");
  });

  it("holds the extended protocol too and treats a timeout as a denial", async () => {
    decide.next = async () => ({ approved: false, reason: "review timed out without a decision" });
    const client = new pg.Client({
      host: "127.0.0.1",
      port: proxy.port,
      database: "app",
      user: "x",
      password: GOOD_TOKEN,
    });
    await client.connect();
    try {
      await expect(client.query("UPDATE accounts SET balance = $1 WHERE id = 3", [0])).rejects.toMatchObject({
        code: "42501",
        message: expect.stringContaining("timed out"),
      });
      const still = await client.query("SELECT balance FROM accounts WHERE id = $1", [3]);
      expect(still.rows).toEqual([{ balance: 100 }]);
    } finally {
      await client.end();
    }
  });

  it("withdraws a held statement when the client cancels it", async () => {
    decide.next = (_held, signal) =>
      new Promise((resolve) =>
        signal.addEventListener("abort", () => resolve({ approved: false, reason: "the session ended" })),
      );
    const c = new RawClient(proxy.port);
    const key = await c.login("app");
    c.socket.write(frontend.query("UPDATE accounts SET balance = 1 WHERE id = 4"));
    const notice = await c.until(BackendCode.NoticeResponse);
    expect(parseNoticeFields(notice[notice.length - 1]!.body).M).toContain("waiting for approval");
    const cancel = net.connect(proxy.port, "127.0.0.1");
    cancel.end(frontend.cancelRequest(key!.processId, key!.secretKey));
    const frames = await c.until(BackendCode.ReadyForQuery);
    const error = frames.find((f) => f.type === BackendCode.ErrorResponse);
    expect(parseNoticeFields(error!.body).M).toContain("canceling statement due to user request");
    c.socket.destroy();
    expect((await direct("SELECT balance FROM accounts WHERE id = 4")).stdout.trim()).toBe("100");
  });
});
