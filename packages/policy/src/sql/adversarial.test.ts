import { beforeAll, describe, expect, it } from "vitest";
import {
  type Case,
  doBodyCases,
  functionCases,
  guardedPolicy,
  mergeCases,
  parseStateCases,
  readOnlyCases,
  readOnlyPolicy,
} from "./adversarial-corpus";
import { initSqlParser } from "./classify";
import { compileGuard, type GuardVerdict } from "./guard";

beforeAll(() => initSqlParser());

const guarded = compileGuard([guardedPolicy]);
const readOnly = compileGuard([readOnlyPolicy]);

function expectVerdict(v: GuardVerdict, expected: string, sql: string): void {
  if (expected === "allow") expect(v, sql).toEqual({ action: "allow" });
  else if (expected === "review") expect(v, sql).toMatchObject({ action: "review" });
  else expect(v, sql).toMatchObject({ action: "deny", rule: expected });
}

/** A statement gets the same verdict alone and in a multi-statement string (worst statement wins). */
function checkClass(name: string, cases: Case[], guard = guarded): void {
  describe(name, () => {
    it.each(cases)("%j → %s", (sql, expected) => {
      expectVerdict(guard.evaluate(sql), expected, sql);
    });
    it.each(cases)("%j → %s, after and before other statements", (sql, expected) => {
      const before = `SELECT 1; ${sql}`;
      const after = `${sql}\n; SELECT 2`;
      expectVerdict(guard.evaluate(before), expected, before);
      expectVerdict(guard.evaluate(after), expected, after);
    });
  });
}

checkClass("parse-state settings", parseStateCases);
checkClass("DO bodies", doBodyCases);
checkClass("MERGE and bounded writes", mergeCases);
checkClass("functions that run SQL text or reach outside", functionCases);
checkClass("the read-only lane's function allow-list", readOnlyCases, readOnly);

describe("verdict stability", () => {
  it("gives the same verdict every time, cached or not, for every corpus statement", () => {
    const all = [...parseStateCases, ...doBodyCases, ...mergeCases, ...functionCases];
    const fresh = () => compileGuard([guardedPolicy], { cacheEntries: 1 });
    for (const [sql] of all) {
      const first = guarded.evaluate(sql);
      expect(guarded.evaluate(sql), sql).toEqual(first);
      expect(fresh().evaluate(sql), sql).toEqual(first);
    }
  });

  it("refuses parse-state changes even on a connection whose only rule is a text pattern", () => {
    const g = compileGuard([
      { ...readOnlyPolicy, guardrails: [{ name: "no-sleep", action: "deny", pattern: "pg_sleep" }] },
    ]);
    expect(g.evaluate("SET client_encoding = 'SJIS'")).toMatchObject({ rule: "sluice.parse_state" });
    expect(g.evaluate("SELECT dblink_exec('x')")).toMatchObject({ rule: "sluice.outside" });
    expect(g.evaluate("SELECT 1")).toEqual({ action: "allow" });
  });
});
