import { beforeAll, describe, expect, it } from "vitest";
import type { MaskingRule, PolicyDocument } from "../rules";
import { maskingRule } from "../rules";
import { initSqlParser } from "./classify";
import { compileConnectionGuard } from "./connection-guard";
import { MASKED_LINEAGE_RULE } from "./masked-lineage";

beforeAll(() => initSqlParser());

function policy(...masking: MaskingRule[]): PolicyDocument {
  return { id: "p1", name: "masked", guardrails: [], masking, reviewRules: [] };
}

const emails: MaskingRule = { name: "emails", columns: ["email"], action: "redact" };
const cards: MaskingRule = { name: "cards", columns: ["^card$"], tables: ["public.users"], action: "redact" };
const guard = compileConnectionGuard([policy(emails, cards)]);

/** Value lineage: the masked value leaves under another name or inside an expression. */
const lineageLeaks = [
  "SELECT upper(email) FROM users",
  "SELECT email || '' AS x FROM users",
  "SELECT email || '' AS email FROM users",
  "SELECT substr(card, 1, 6) FROM users",
  "SELECT row_to_json(u) FROM users u",
  "SELECT to_jsonb(u.*) FROM users u",
  "SELECT u FROM users u",
  "SELECT (u).card FROM users u",
  "SELECT (SELECT email FROM users LIMIT 1)",
  "SELECT email::bytea FROM users",
  "SELECT encode(email::bytea, 'hex') FROM users",
  "SELECT reverse(email) FROM users",
  "SELECT translate(email, 'abc', 'xyz') FROM users",
  "SELECT email AS e FROM users",
  "SELECT u.email AS contact FROM users u",
  "WITH x AS (SELECT email AS e FROM users) SELECT e FROM x",
  "WITH x AS (SELECT email FROM users) SELECT email FROM x",
  "SELECT * FROM (SELECT email AS e FROM users) s",
  "SELECT * FROM (SELECT * FROM users) s",
  "SELECT row_to_json(s) FROM (SELECT * FROM users) s",
  "SELECT id FROM orders UNION SELECT email FROM users",
  "SELECT email FROM users UNION ALL SELECT email FROM admins",
  "SELECT string_agg(email, ',') FROM users",
  "SELECT json_agg(email) FROM users",
  "SELECT array_agg(card) FROM users",
  "SELECT * FROM users u(a, b, c)",
  "SELECT query_to_xml('SELECT email FROM users', true, true, '')",
  "SELECT query_to_xml('SELECT * FROM users', true, true, '')",
  "INSERT INTO copy_t SELECT email FROM users",
  "SELECT email INTO copy_t FROM users",
  "UPDATE users SET name = email WHERE id = 1",
  "DO $$ BEGIN RAISE NOTICE '%', (SELECT email FROM users LIMIT 1); END $$",
  "SELECT id, lag(email) OVER (ORDER BY id) FROM users",
  "UPDATE users SET name = 'x' WHERE id = 1 RETURNING upper(email)",
  'SELECT email COLLATE "C" FROM users',
];

/** Probes: the masked value steers which rows come back or in what order. */
const probes = [
  "SELECT id FROM users WHERE email LIKE 'a%'",
  "SELECT id FROM users WHERE md5(email) = '0cc175b9c0f1b6a831c399e269772661'",
  "SELECT id FROM users ORDER BY card",
  "SELECT email FROM users ORDER BY 1",
  "SELECT count(*) FROM users GROUP BY email",
  "SELECT email, count(*) FROM users GROUP BY 1",
  "SELECT DISTINCT email FROM users",
  "SELECT a.id FROM users a JOIN users b ON a.email = b.email",
  "SELECT id FROM users JOIN guesses USING (email)",
  "SELECT id FROM users NATURAL JOIN guesses",
  "SELECT id FROM users WHERE position('x' in email) > 0",
  "SELECT id FROM users WHERE id = 1 AND card > '4'",
  "SELECT id FROM users u WHERE u = ROW(1, 'a')",
  "SELECT id FROM users HAVING max(email) > 'm'",
  "DELETE FROM users WHERE email = 'a@x.io'",
  "EXPLAIN ANALYZE SELECT id FROM users WHERE email = 'a@x.io'",
  "SELECT * FROM users ORDER BY 2",
  "SELECT DISTINCT * FROM users",
  "SELECT id, row_number() OVER (PARTITION BY email) FROM users",
];

const benign = [
  "SELECT email FROM users",
  "SELECT u.email AS email FROM users u",
  "SELECT email AS contact_email FROM users",
  "SELECT * FROM users",
  "SELECT u.* FROM users u",
  "SELECT id FROM users WHERE id = 1",
  "SELECT id, email, card FROM users WHERE id > 10 ORDER BY id LIMIT 5",
  "SELECT count(*) FROM users",
  "SELECT upper(card) FROM payments", // "cards" filters on public.users
  "SELECT card FROM payments ORDER BY card",
  "SELECT upper(name) FROM users",
  "UPDATE users SET email = 'x@y.z' WHERE id = 1",
  "SELECT * FROM users ORDER BY id",
  "TABLE users",
  "SELECT email FROM users WHERE id IN (SELECT user_id FROM orders WHERE total > 10)",
  "SELECT u.email FROM users u JOIN orders o ON o.user_id = u.id",
  "UPDATE users SET name = 'x' WHERE id = 1 RETURNING id, email",
  "SELECT 1",
  "BEGIN",
];

describe("sluice.masked_lineage", () => {
  it.each(lineageLeaks)("refuses a value leaving through an expression: %s", (sql) => {
    expect(guard.evaluate(sql)).toMatchObject({ action: "deny", rule: MASKED_LINEAGE_RULE });
  });

  it.each(probes)("refuses a probe of a masked column: %s", (sql) => {
    expect(guard.evaluate(sql)).toMatchObject({ action: "deny", rule: MASKED_LINEAGE_RULE });
  });

  it.each(benign)("allows: %s", (sql) => {
    expect(guard.evaluate(sql)).toEqual({ action: "allow" });
  });

  it("names the rule and the column in its message", () => {
    const v = guard.evaluate("SELECT upper(email) FROM users");
    expect(v).toMatchObject({ action: "deny", statement: "SELECT upper(email) FROM users" });
    const message = v.action === "deny" ? v.message : "";
    expect(message).toContain('"email"');
    expect(message).toContain('masking rule "emails"');
    expect(message).toContain(MASKED_LINEAGE_RULE);
  });

  it("applies a table-filtered rule when a function Sluice does not know may read the table", () => {
    expect(guard.evaluate("SELECT upper(card) FROM my_cards()")).toMatchObject({ rule: MASKED_LINEAGE_RULE });
  });

  it("lets allowProbes rules filter and order, but never compute on the value", () => {
    const g = compileConnectionGuard([policy({ ...emails, allowProbes: true })]);
    for (const sql of ["SELECT id FROM users WHERE email LIKE 'a%'", "SELECT email FROM users ORDER BY 1"]) {
      expect(g.evaluate(sql), sql).toEqual({ action: "allow" });
    }
    expect(g.evaluate("SELECT upper(email) FROM users")).toMatchObject({ rule: MASKED_LINEAGE_RULE });
    expect(maskingRule.safeParse({ ...emails, allowProbes: "yes" }).success).toBe(false);
  });

  it("covers every column of a tables-only rule, aliases included only where the table OID still shows", () => {
    const g = compileConnectionGuard([policy({ name: "vault", tables: ["vault.people"], action: "redact" })]);
    expect(g.evaluate("SELECT name AS n FROM vault.people")).toEqual({ action: "allow" });
    expect(g.evaluate("SELECT lower(name) FROM vault.people")).toMatchObject({ rule: MASKED_LINEAGE_RULE });
    expect(g.evaluate("SELECT id FROM vault.people WHERE id = 1")).toMatchObject({
      rule: MASKED_LINEAGE_RULE,
    });
    expect(g.evaluate("SELECT lower(name) FROM public.people")).toEqual({ action: "allow" });
  });

  it("does not add the check for detector-only rules", () => {
    const g = compileConnectionGuard([policy({ name: "mails", detector: "email", action: "redact" })]);
    expect(g.evaluate("SELECT upper(email) FROM users")).toEqual({ action: "allow" });
  });
});
