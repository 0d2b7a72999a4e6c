import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { PolicyDocument } from "../rules";
import type { Classification } from "../sql/classify";
import { compileConnectionGuard } from "../sql/connection-guard";
import { compileGuard, type Guard, type GuardVerdict } from "../sql/guard";
import { MYSQL_CORPUS } from "./mysql-corpus";
import { createMysqlDialect } from "./mysql-dialect";

const dialect = createMysqlDialect({ serverVersion: "10.11.19-MariaDB", sqlMode: "STRICT_TRANS_TABLES" });
const shape = (sql: string) => dialect.literalShape?.(sql);
/** The same dialect without literal shapes: its guard judges every text on its own. */
const unshaped = { name: dialect.name, classify: (sql: string) => dialect.classify(sql) };

const rules: PolicyDocument = {
  id: "00000000-0000-0000-0000-0000000000cc",
  name: "prod-mysql",
  guardrails: [
    {
      name: "no-ddl",
      action: "deny",
      statementKinds: ["DROP", "TRUNCATE", "ALTER", "SET GLOBAL", "LOAD DATA"],
    },
    { name: "no-files", action: "deny", statementKinds: ["SELECT INTO OUTFILE", "SELECT INTO DUMPFILE"] },
    { name: "where-required", action: "deny", requireWhere: true },
    { name: "protect-secrets", action: "deny", objects: ["vault.*", "app.api_secrets", "t"] },
  ],
  masking: [{ name: "emails", columns: ["email"], action: "redact" }],
  reviewRules: [
    {
      name: "dml-review",
      statementKinds: ["UPDATE", "DELETE"],
      reviewerGroups: ["dba"],
      minApprovals: 1,
      timeoutSeconds: 600,
    },
  ],
};
const readOnly: PolicyDocument = {
  id: "00000000-0000-0000-0000-0000000000dd",
  name: "analysts",
  guardrails: [{ name: "read-only", action: "deny", readOnly: true }],
  masking: [],
  reviewRules: [],
};
const policies = [[rules], [readOnly], [rules, readOnly]];

/** A classification without the statements' own text: what the dialect vouches is the same per shape. */
function withoutText(c: Classification): unknown {
  if (!c.ok) return c;
  return c.statements.map(({ text: _text, ...rest }) => ({ ...rest, kinds: [...rest.kinds].sort() }));
}

const STRING = /'(?:[^'\\]|\\.|'')*'/g;
const NUMBER = /\b\d+\b/g;
const quote = (s: string) => `'${s.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;

/** `sql` with every string literal replaced by `str` and every number by `num`. */
function variant(sql: string, str: string, num: string): string {
  return sql.replace(STRING, quote(str)).replace(NUMBER, num);
}

const SAMPLE_STRINGS = [
  "",
  "x",
  "DROP TABLE users",
  "a'b\\'c",
  "vault.tokens",
  "'; DELETE FROM t; --",
  "é\u0000",
];
const SAMPLE_NUMBERS = ["0", "7", "18446744073709551616"];

describe("MySQL literal shapes", () => {
  it("are shared by texts that differ only in string and number literals", () => {
    const a = shape("SELECT id, k FROM big WHERE id = 1 AND note = 'a'");
    expect(a).toBeDefined();
    expect(shape("SELECT id, k FROM big WHERE id = 734 AND note = 'it''s \\' here'")).toBe(a);
    expect(shape("SELECT id, k FROM big WHERE id = 1 AND note = _utf8mb4'a'")).toBe(a);
  });

  it("keep everything else: names, identifiers, operators, literal kinds", () => {
    const a = shape("SELECT id FROM big WHERE id = 1");
    for (const other of [
      "SELECT id FROM small WHERE id = 1",
      "SELECT id FROM `big` WHERE id = 1",
      "SELECT id FROM big WHERE id = '1'",
      "SELECT id FROM big WHERE id > 1",
      "SELECT id FROM big WHERE id = @v",
      "select id from big where id = 1",
      "SELECT id FROM big WHERE id = 1 OR 1",
    ])
      expect(shape(other), other).not.toBe(a);
    expect(shape("SELECT t.1 FROM t")).not.toBe(shape("SELECT t.2 FROM t"));
    expect(shape("SELECT 1.5")).not.toBe(shape("SELECT 2.5"));
  });

  it.each([
    "SET sql_mode = 'ANSI_QUOTES'",
    "SET NAMES 'gbk'",
    "PREPARE s FROM 'SELECT 1'",
    "EXECUTE IMMEDIATE 'SELECT 1'",
    "CALL sys.execute_prepared_stmt('SELECT 1')",
    "DO sleep(1)",
    "LOAD DATA INFILE '/tmp/x' INTO TABLE t",
    "SHOW TABLES LIKE 'a%'",
    "SELECT 1; SELECT 2",
    "SELECT 'unterminated",
  ])("are not given for %s", (sql) => {
    expect(shape(sql)).toBeUndefined();
  });

  it("are not given where the text cannot be read with certainty", () => {
    expect(createMysqlDialect({ serverVersion: "10.11.19-MariaDB" }).literalShape).toBeUndefined();
    const noVersion = createMysqlDialect({ sqlMode: "" });
    expect(noVersion.literalShape?.("SELECT 1 /*!50001 , 2 */")).toBeUndefined();
    expect(noVersion.literalShape?.("SELECT 1")).toBeDefined();
  });

  it("classify alike across the corpus, whatever the literals", () => {
    let compared = 0;
    for (const [sql] of MYSQL_CORPUS) {
      const key = shape(sql);
      if (key === undefined) continue;
      const expected = withoutText(dialect.classify(sql));
      for (const str of SAMPLE_STRINGS)
        for (const num of SAMPLE_NUMBERS) {
          const v = variant(sql, str, num);
          if (shape(v) !== key) continue;
          expect(withoutText(dialect.classify(v)), v).toEqual(expected);
          compared++;
        }
    }
    expect(compared).toBeGreaterThan(300);
  });
});

function label(v: GuardVerdict): string {
  return v.action === "allow" ? "allow" : `${v.action}:${v.rule}:${v.statement}`;
}

describe("the guard's verdicts per literal shape", () => {
  it("match an uncached guard on the corpus, for random literals", () => {
    const shaped = policies.map((p) => compileConnectionGuard(p, { dialect }));
    const fresh = (p: PolicyDocument[]): Guard => compileConnectionGuard(p, { dialect: unshaped });
    const corpus = MYSQL_CORPUS.map(([sql]) => sql).filter((sql) => shape(sql) !== undefined);
    fc.assert(
      fc.property(
        fc.constantFrom(...corpus),
        fc.string({ maxLength: 12 }),
        fc.bigInt({ min: 0n, max: 1n << 70n }),
        (sql, str, num) => {
          const v = variant(sql, str, String(num));
          shaped.forEach((g, i) => {
            g.evaluate(sql);
            expect(label(g.evaluate(v)), v).toBe(label(fresh(policies[i]!).evaluate(v)));
          });
        },
      ),
      { numRuns: 400 },
    );
  });

  it("classify a statement shape once when the client inlines its parameters", () => {
    let calls = 0;
    const counting = { ...dialect, classify: (sql: string) => (calls++, dialect.classify(sql)) };
    const g = compileGuard([readOnly], { dialect: counting });
    for (let id = 1; id <= 100; id++)
      expect(g.evaluate(`SELECT id, k FROM big WHERE id = ${id}`)).toEqual({ action: "allow" });
    expect(calls).toBe(1);
  });

  it("judge every refused text on its own, quoting it", () => {
    const g = compileGuard([rules], { dialect });
    const a = g.evaluate("SELECT * FROM vault.tokens WHERE id = 1");
    const b = g.evaluate("SELECT * FROM vault.tokens WHERE id = 2");
    expect(a.action === "deny" && a.statement).toBe("SELECT * FROM vault.tokens WHERE id = 1");
    expect(b.action === "deny" && b.statement).toBe("SELECT * FROM vault.tokens WHERE id = 2");
  });

  it("are not shared where the parser reads a literal as a name", () => {
    const g = compileGuard([rules], { dialect });
    expect(g.evaluate("SELECT * FROM 'public' WHERE id = 1").action).toBe("allow");
    expect(g.evaluate("SELECT * FROM 't' WHERE id = 1")).toMatchObject({
      action: "deny",
      rule: "protect-secrets",
    });
    const c = dialect.classify("SELECT * FROM 'public'");
    expect(dialect.literalBlind?.("SELECT * FROM 'public'", c)).toBe(false);
    const d = dialect.classify("SELECT * FROM big WHERE id = 1 AND note = 'x'");
    expect(dialect.literalBlind?.("SELECT * FROM big WHERE id = 1 AND note = 'x'", d)).toBe(true);
  });

  it("are not used when a rule matches raw text", () => {
    const patterned: PolicyDocument = {
      ...readOnly,
      guardrails: [{ name: "no-canary", action: "deny", pattern: "canary" }],
    };
    const g = compileGuard([patterned], { dialect });
    expect(g.evaluate("SELECT * FROM big WHERE note = 'public'").action).toBe("allow");
    expect(g.evaluate("SELECT * FROM big WHERE note = 'canary'").action).toBe("deny");
  });
});
