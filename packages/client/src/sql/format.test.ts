import { describe, expect, it } from "vitest";
import { jsonValue, renderCsv, renderResultTable, renderSqlTable, toJsonResult } from "./format";

const result = {
  command: "SELECT 2",
  columns: [
    { name: "id", typeOid: 23 },
    { name: "note", typeOid: 25 },
  ],
  rows: [
    ["1", "two\nlines"],
    ["22", null],
  ],
};

describe("SQL output", () => {
  it("renders psql-style tables, clipping cells when asked", () => {
    expect(renderResultTable(result)).toBe(
      " id | note\n----+------------\n 1  | two\\nlines\n 22 |\n(2 rows)\n",
    );
    expect(renderResultTable({ command: "DELETE 0", rows: [] })).toBe("DELETE 0\n");
    expect(renderSqlTable(["x"], [["abcdefgh"]], 4)).toBe(" x\n------\n abc…\n");
  });

  it("renders CSV with quoting and NULL as an empty field", () => {
    expect(renderCsv(result)).toBe('id,note\r\n1,"two\nlines"\r\n22,\r\n');
    expect(renderCsv({ command: "UPDATE 1", rows: [] })).toBe("");
  });

  it("types JSON values by column type", () => {
    expect(jsonValue("t", 16)).toBe(true);
    expect(jsonValue("1.5", 701)).toBe(1.5);
    expect(jsonValue("NaN", 701)).toBe("NaN");
    expect(jsonValue("12345678901234567890", 20)).toBe("12345678901234567890");
    expect(jsonValue("[1,2]", 3802)).toEqual([1, 2]);
    expect(jsonValue("1.10", 1700)).toBe("1.10");
    expect(toJsonResult(result)).toEqual({
      command: "SELECT 2",
      rowCount: 2,
      columns: result.columns,
      rows: [
        { id: 1, note: "two\nlines" },
        { id: 22, note: null },
      ],
    });
    expect(toJsonResult({ command: "CREATE TABLE", rows: [] })).toEqual({
      command: "CREATE TABLE",
      rowCount: null,
    });
  });
});
