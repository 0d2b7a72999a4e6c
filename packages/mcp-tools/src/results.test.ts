import { describe, expect, it } from "vitest";
import {
  capText,
  isTextual,
  RowBudget,
  renderStatements,
  statementErrorText,
  toStatementOutput,
} from "./results";

describe("MCP query results", () => {
  it("keeps rows until the row cap, across statements", () => {
    const budget = new RowBudget(3, 1024);
    expect([["a"], ["b"]].map((r) => budget.take(r))).toEqual([true, true]);
    expect(budget.take(["c"])).toBe(true);
    expect(budget.take(["d"])).toBe(false);
    expect(budget.truncated).toBe(true);
  });

  it("stops at the byte cap, counting UTF-8 bytes, and keeps nothing after it", () => {
    const budget = new RowBudget(100, 20);
    expect(budget.take(["ééé"])).toBe(true); // 6 bytes + overhead
    expect(budget.take(["x".repeat(30)])).toBe(false);
    expect(budget.take(["y"])).toBe(false);
    expect(budget.truncated).toBe(true);
  });

  it("types values and marks a statement whose rows were cut", () => {
    const out = toStatementOutput({
      command: "SELECT 500",
      columns: [
        { name: "n", typeOid: 23 },
        { name: "s", typeOid: 25 },
      ],
      rows: [
        ["1", "a"],
        ["2", null],
      ],
    });
    expect(out).toEqual({
      command: "SELECT 500",
      rowCount: 500,
      columns: ["n", "s"],
      rows: [
        [1, "a"],
        [2, null],
      ],
      truncated: true,
    });
    expect(toStatementOutput({ command: "OK, 3 rows affected", rows: [] })).toEqual({
      command: "OK, 3 rows affected",
      rowCount: 3,
      truncated: false,
    });
    expect(toStatementOutput({ command: "CREATE TABLE", rows: [] }).rowCount).toBeNull();
  });

  it("renders a compact table that says how many rows were shown", () => {
    const cut = toStatementOutput({
      command: "SELECT 9",
      columns: [{ name: "j", typeOid: 3802 }],
      rows: [['{"k":1}']],
    });
    expect(renderStatements([toStatementOutput({ command: "UPDATE 1", rows: [] }), cut])).toBe(
      'UPDATE 1\n\n j\n---------\n {"k":1}\n(1 of 9 rows shown: the row or byte cap was reached)',
    );
  });

  it("names the refusing rule from the agent's hint", () => {
    expect(
      statementErrorText({
        message: 'blocked by Sluice policy "p", rule "no-drop": DROP',
        code: "42501",
        hint: "Sluice rule: no-drop",
      }),
    ).toBe(
      'refused by Sluice rule "no-drop": blocked by Sluice policy "p", rule "no-drop": DROP (SQLSTATE 42501)',
    );
    expect(statementErrorText({ message: "boom", code: "XX000", hint: "try again" }, "r-1")).toBe(
      "ERROR: boom (SQLSTATE XX000)\nHINT: try again\nreview: r-1",
    );
  });

  it("cuts text bodies on a character boundary and recognises text types", () => {
    expect(capText(Buffer.from("abc"), 10)).toEqual({ text: "abc", truncated: false });
    expect(capText(Buffer.from("aé"), 2)).toEqual({ text: "a", truncated: true });
    expect(isTextual("application/json; charset=utf-8")).toBe(true);
    expect(isTextual("application/problem+json")).toBe(true);
    expect(isTextual("text/html")).toBe(true);
    expect(isTextual("image/png")).toBe(false);
  });
});
