import { describe, expect, it } from "vitest";
import type { MaskingRule } from "../../rules";
import { compileMasking } from "../compile";
import { MaskingError } from "../errors";
import { catalog, column, dataRow, TEST_HASH_KEY, textValues } from "../masking.testing";

const opts = { hashKey: TEST_HASH_KEY };
const rule = (r: Partial<MaskingRule>): MaskingRule => ({ name: "r", action: "redact", ...r });

function sqlValue(rules: MaskingRule[], name: string, value: string): string {
  const masker = compileMasking(rules, opts).forColumns([column(name)], catalog());
  if (!masker) return "no masker";
  const row = dataRow([value]);
  const out = masker.maskRow(row, 0, row.length);
  return out ? (textValues(out)[0] ?? "null") : "unchanged";
}

describe("jsonPaths rules and SQL results", () => {
  it("accepts a rule that selects by jsonPaths alone", () => {
    expect(() => compileMasking([rule({ jsonPaths: ["$.a"] })], opts)).not.toThrow();
    expect(() => compileMasking([rule({ jsonPaths: [] })], opts)).toThrow(MaskingError);
  });

  it("does not apply a jsonPaths-only rule to result columns or count it as a whole-value rule", () => {
    expect(sqlValue([rule({ jsonPaths: ["$.ssn"] })], "ssn", "123")).toBe("no masker");
    expect(sqlValue([rule({ jsonPaths: ["$.note"], detector: "email" })], "note", "a@example.com")).toBe(
      "no masker",
    );
    expect(compileMasking([rule({ jsonPaths: ["$.ssn"] })], opts).textMasker().wholeValues).toBe(false);
  });

  it("still applies the columns of a rule that also has jsonPaths", () => {
    expect(sqlValue([rule({ jsonPaths: ["$.x"], columns: ["^ssn$"] })], "ssn", "123")).toBe("****");
  });

  it("gives SQL-only rule sets no body plan", () => {
    expect(compileMasking([rule({ types: ["text"] })], opts).body).toBeUndefined();
    expect(compileMasking([], opts).body).toBeUndefined();
    const body = compileMasking([rule({ columns: ["^ssn$"] }), rule({ detector: "iban" })], opts).body;
    expect(body?.wholeValues).toBe(true);
    expect(body?.text?.uses.map((u) => u.detector.kind)).toEqual(["iban"]);
  });
});
