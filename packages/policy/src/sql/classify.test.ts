import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { classify, initSqlParser, referencedColumns, type StatementInfo } from "./classify";
import { readDoBody } from "./do-body";

beforeAll(() => initSqlParser());

function one(sql: string): StatementInfo {
  const c = classify(sql);
  if (!c.ok) throw new Error(c.error);
  expect(c.statements).toHaveLength(1);
  return c.statements[0] as StatementInfo;
}

describe("classify", () => {
  it("counts a MERGE's actions as the statements they are", () => {
    const s = one(
      "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN INSERT VALUES (1)",
    );
    expect(s.kind).toBe("MERGE");
    expect([...s.kinds].sort()).toEqual(["DELETE", "INSERT", "MERGE"]);
    expect(s.readOnly).toBe(false);
    expect(s.unboundedWrite).toBe(false);
    expect(one("MERGE INTO t USING s ON true WHEN MATCHED THEN UPDATE SET a = 1").unboundedWrite).toBe(true);
  });

  it("marks parse-state settings with their own kind", () => {
    const s = one("SET client_encoding = 'SJIS'");
    expect(s.parseState).toBe(true);
    expect(s.kinds.has("SET PARSE STATE")).toBe(true);
    expect(one("SET work_mem = '1MB'").parseState).toBe(false);
  });

  it("reads a SELECT … INTO variable in PL/pgSQL as a SELECT, not SELECT INTO a table", () => {
    const s = one("DO $$ DECLARE n int; BEGIN SELECT count(*) INTO n FROM orders; END $$");
    expect(s.kinds.has("SELECT INTO")).toBe(false);
    expect(s.kinds.has("SELECT")).toBe(true);
    expect(s.objects).toEqual(["orders"]);
    expect(s.opaque).toBe(false);
  });

  it("does not read a string in RAISE as SQL", () => {
    const s = one("DO $$ BEGIN RAISE NOTICE 'drop table users'; END $$");
    expect([...s.kinds]).toEqual(["DO"]);
    expect(s.objects).toEqual([]);
  });

  it("reports the columns a statement references and those its predicates use", () => {
    const s = one(
      "SELECT u.id, lower(name) FROM users u JOIN orders o ON o.user_id = u.id WHERE email LIKE 'a%' AND md5(u.ssn) = 'x' ORDER BY card",
    );
    expect(s.columns).toEqual(["u.id", "name", "o.user_id", "email", "u.ssn", "card"]);
    expect(s.predicateColumns).toEqual(["o.user_id", "u.id", "email", "u.ssn", "card"]);
    expect(referencedColumns("SELECT a FROM t; SELECT * FROM t WHERE b = 1")).toEqual([
      { columns: ["a"], predicateColumns: [] },
      { columns: ["*", "b"], predicateColumns: ["b"] },
    ]);
    expect(referencedColumns("SELEC 1")).toBeUndefined();
  });

  it("reads nothing it is unsure of in a PL/pgSQL body, and never throws", () => {
    const pieces = fc.constantFrom(
      "BEGIN",
      "END",
      ";",
      "IF",
      "THEN",
      "LOOP",
      "EXECUTE",
      "'x'",
      "$$",
      "$a$",
      "a$b$",
      "/*",
      "*/",
      "--",
      "\n",
      '"q"',
      "(",
      ")",
      "DROP TABLE t",
      "RAISE NOTICE",
      ":=",
      "x",
      "INTO",
      "DECLARE",
      "CASE",
      "WHEN",
      " ",
    );
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 30 }), (parts) => {
        const sqls: string[] = [];
        const ok = readDoBody(parts.join(" "), {
          sql: (text) => {
            sqls.push(text);
            return classify(text).ok;
          },
        });
        // A block read with certainty hands every DROP to the SQL parser.
        if (
          ok &&
          /DROP TABLE t/.test(
            parts.join(" ").replace(/'[^']*'|--[^\n]*|\/\*[\s\S]*?\*\/|\$(a?)\$[\s\S]*?\$\1\$/g, ""),
          )
        ) {
          expect(sqls.join(" ")).toContain("DROP TABLE t");
        }
      }),
      { numRuns: 2000 },
    );
  });
});
