import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { classify, initSqlParser } from "./classify";
import { normalizeLiterals } from "./normalize";

beforeAll(() => initSqlParser());

describe("normalizeLiterals", () => {
  it("gives statements that differ only in values the same shape", () => {
    const a = normalizeLiterals("SELECT abalance FROM pgbench_accounts WHERE aid = 17;");
    const b = normalizeLiterals("SELECT abalance FROM pgbench_accounts WHERE aid = 90210;");
    expect(a).toBe("SELECT abalance FROM pgbench_accounts WHERE aid = 0;");
    expect(b).toBe(a);
    expect(normalizeLiterals("UPDATE t SET v = 'it''s' WHERE id = 1.5")).toBe(
      "UPDATE t SET v = '' WHERE id = 0",
    );
  });

  it("keeps identifiers, quoted names and comments as they are", () => {
    expect(normalizeLiterals('SELECT t1.c2 FROM "t 3" t1 -- 42\nWHERE x = 7')).toBe(
      'SELECT t1.c2 FROM "t 3" t1 -- 42\nWHERE x = 0',
    );
  });

  it("declines text whose literals it does not model", () => {
    for (const sql of [
      "DO $$ BEGIN DROP TABLE t; END $$",
      "SELECT $1",
      "SELECT E'a\\'b'",
      "SELECT 'a\\'",
      "SELECT U&'d\\0061t'",
      "SELECT B'101'",
      "SELECT X'1F'",
      "SELECT 1e5",
      "SELECT 'unterminated",
      "SELECT /* a /* b */ c */ 1",
      "SELECT now()",
    ]) {
      expect(normalizeLiterals(sql), sql).toBeUndefined();
    }
  });

  it("never changes what a statement is", () => {
    const pieces = fc.constantFrom(
      "SELECT",
      "DELETE FROM t",
      "WHERE",
      "id =",
      "1",
      "42.5",
      "'x'",
      "'a''b'",
      "';DROP TABLE t;'",
      ";",
      "-- 7\n",
      "/* 'q' */",
      '"col 1"',
      "AS delete",
      ",",
    );
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 14 }), (parts) => {
        const sql = parts.join(" ");
        const shape = normalizeLiterals(sql);
        if (shape === undefined) return;
        const a = classify(sql);
        const b = classify(shape);
        expect(b.ok).toBe(a.ok);
        if (a.ok && b.ok) {
          expect(
            b.statements.map((s) => [s.kind, [...s.kinds], s.objects, s.readOnly, s.unboundedWrite]),
          ).toEqual(a.statements.map((s) => [s.kind, [...s.kinds], s.objects, s.readOnly, s.unboundedWrite]));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
