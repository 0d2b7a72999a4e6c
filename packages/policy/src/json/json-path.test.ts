import { describe, expect, it } from "vitest";
import { jsonPath } from "../rules";
import {
  JsonPathError,
  jsonPathMatches,
  jsonPathMayMatchBelow,
  parseJsonPath,
  selectJson,
} from "./json-path";

describe("JSON paths", () => {
  it("selects keys, indexes, wildcards and descendants", () => {
    const doc = {
      customers: [
        { ssn: "1", name: "a" },
        { ssn: "2", card: { ssn: "3" } },
      ],
      n: 1,
    };
    expect(selectJson(parseJsonPath("$.customers[*].ssn"), doc)).toEqual(["1", "2"]);
    expect(selectJson(parseJsonPath("$..ssn"), doc).sort()).toEqual(["1", "2", "3"]);
    expect(selectJson(parseJsonPath("$.customers[1]['card'].ssn"), doc)).toEqual(["3"]);
    expect(selectJson(parseJsonPath("$.n"), doc)).toEqual([1]);
    expect(selectJson(parseJsonPath("$"), doc)).toEqual([doc]);
  });

  it("matches key paths as a streaming reader sees them", () => {
    const p = parseJsonPath("$.customers[*].ssn");
    expect(jsonPathMatches(p, ["customers", 4, "ssn"])).toBe(true);
    expect(jsonPathMatches(p, ["customers", 4, "name"])).toBe(false);
    expect(jsonPathMatches(p, ["customers", 4, "ssn", "x"])).toBe(false);
    expect(jsonPathMayMatchBelow(p, ["customers", 4])).toBe(true);
    expect(jsonPathMayMatchBelow(p, ["orders"])).toBe(false);
    const d = parseJsonPath("$..email");
    expect(jsonPathMatches(d, ["a", 1, "b", "email"])).toBe(true);
    expect(jsonPathMatches(d, ["email"])).toBe(true);
    expect(jsonPathMatches(d, ["email", "x"])).toBe(false);
    expect(jsonPathMayMatchBelow(d, ["anything"])).toBe(true);
  });

  it("refuses what it cannot read, and agrees with the rule schema", () => {
    for (const bad of ["customers", "$.", "$[x]", "$['open", "$.a b", "$..", "$.a[*"]) {
      expect(() => parseJsonPath(bad), bad).toThrow(JsonPathError);
      expect(jsonPath.safeParse(bad).success, bad).toBe(false);
    }
    for (const good of ["$", "$.a.b", "$[0]", "$['a b']", "$..x", "$.*", "$..*", "$.a-b[*]"]) {
      expect(() => parseJsonPath(good), good).not.toThrow();
      expect(jsonPath.safeParse(good).success, good).toBe(true);
    }
  });
});
