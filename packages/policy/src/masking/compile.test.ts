import { describe, expect, it } from "vitest";
import type { MaskingRule } from "../rules";
import { compileMasking } from "./compile";
import { MaskingError } from "./errors";
import { catalog, column, dataRow, TEST_HASH_KEY, textValues } from "./masking.testing";
import type { CatalogNames, ResultColumn } from "./types";

const opts = { hashKey: TEST_HASH_KEY };
const rule = (r: Partial<MaskingRule>): MaskingRule => ({ name: "r", action: "redact", ...r });

/** What one text value of `col` becomes under `rules` ("unchanged" when no masker or no change). */
function maskOne(rules: MaskingRule[], col: ResultColumn, value: string, names: CatalogNames = catalog()) {
  const masker = compileMasking(rules, opts).forColumns([col], names);
  if (!masker) return "no masker";
  const out = masker.maskRow(dataRow([value]), 0, dataRow([value]).length);
  return out ? textValues(out)[0] : "unchanged";
}

describe("compileMasking: rule validation", () => {
  const invalid: [string, MaskingRule][] = [
    ["no filter and no detector", rule({})],
    ["custom without pattern", rule({ detector: "custom" })],
    ["pattern without custom", rule({ detector: "email", pattern: "x" })],
    ["keep_last without keep", rule({ columns: ["x"], action: "keep_last" })],
    ["keep with redact", rule({ columns: ["x"], keep: 4 })],
    ["empty column list", rule({ columns: [] })],
    ["invalid column regex", rule({ columns: ["("] })],
    ["custom pattern matching nothing-or-everything", rule({ detector: "custom", pattern: ".*" })],
    ["unknown detector", rule({ detector: "passport" as MaskingRule["detector"] })],
  ];
  for (const [what, r] of invalid) {
    it(`rejects ${what}`, () => {
      expect(() => compileMasking([r], opts)).toThrow(MaskingError);
      try {
        compileMasking([r], opts);
      } catch (err) {
        expect((err as MaskingError).code).toBe("invalid_rule");
        expect((err as MaskingError).message).toMatch(/masking rule "r"/);
      }
    });
  }

  it("rejects hash rules without a usable key", () => {
    expect(() =>
      compileMasking([rule({ columns: ["x"], action: "hash" })], { hashKey: Buffer.alloc(4) }),
    ).toThrow(/hash key/);
    expect(() => compileMasking([rule({ columns: ["x"] })], { hashKey: Buffer.alloc(0) })).not.toThrow();
  });
});

describe("compileMasking: what the agent must resolve", () => {
  it("lists table patterns and non-built-in type names", () => {
    const plan = compileMasking(
      [
        rule({ tables: ["Public.Users", "billing.*"], columns: ["email"] }),
        rule({
          tables: ["orders"],
          types: ["CITEXT", "text", "bigint", "public.my_enum", "character varying"],
        }),
      ],
      opts,
    );
    expect(plan.tables).toEqual(["public.users", "billing.*", "orders"]);
    expect([...plan.types].sort()).toEqual(["citext", "my_enum"]);
    expect(plan.empty).toBe(false);
  });

  it("an empty rule set never creates a masker", () => {
    const plan = compileMasking([], opts);
    expect(plan.empty).toBe(true);
    expect(plan.types).toEqual([]);
    expect(plan.forColumns([column("email")], catalog())).toBeUndefined();
  });

  it("returns no masker when no rule covers any column", () => {
    const plan = compileMasking([rule({ columns: ["^ssn$"] })], opts);
    expect(plan.forColumns([column("id"), column("email")], catalog())).toBeUndefined();
    expect(plan.forColumns([column("id"), column("ssn")], catalog())).toBeDefined();
  });
});

describe("forColumns: table filters fail closed", () => {
  const names = catalog({
    100: "public.users",
    200: "public.orders",
    300: "archive.users",
    400: "billing.invoices",
  });
  const emailOfUsers = [rule({ tables: ["public.users"], columns: ["email"] })];

  it("applies to columns of the named table only", () => {
    expect(maskOne(emailOfUsers, column("email", { tableOid: 100 }), "a", names)).toBe("****");
    expect(maskOne(emailOfUsers, column("email", { tableOid: 200 }), "a", names)).toBe("no masker");
    expect(maskOne(emailOfUsers, column("email", { tableOid: 300 }), "a", names)).toBe("no masker");
    expect(maskOne(emailOfUsers, column("work_email", { tableOid: 100 }), "a", names)).toBe("****");
  });

  it("applies when the table OID cannot be named", () => {
    expect(maskOne(emailOfUsers, column("email", { tableOid: 999 }), "a", names)).toBe("****");
  });

  it("applies to expression columns only through a column-name filter", () => {
    expect(maskOne(emailOfUsers, column("email", { tableOid: 0 }), "a", names)).toBe("****");
    const wholeTable = [rule({ tables: ["users"] })];
    expect(maskOne(wholeTable, column("count", { tableOid: 0 }), "1", names)).toBe("no masker");
    expect(maskOne(wholeTable, column("anything", { tableOid: 999 }), "1", names)).toBe("****");
  });

  it("matches bare names in any schema, schema.* and case-insensitively", () => {
    const bare = [rule({ tables: ["USERS"] })];
    expect(maskOne(bare, column("x", { tableOid: 100 }), "a", names)).toBe("****");
    expect(maskOne(bare, column("x", { tableOid: 300 }), "a", names)).toBe("****");
    expect(maskOne(bare, column("x", { tableOid: 200 }), "a", names)).toBe("no masker");
    const schema = [rule({ tables: ["billing.*"] })];
    expect(maskOne(schema, column("x", { tableOid: 400 }), "a", names)).toBe("****");
    expect(maskOne(schema, column("x", { tableOid: 100 }), "a", names)).toBe("no masker");
  });
});

describe("forColumns: type filters", () => {
  const names = catalog({}, { 16385: "citext", 16390: "my_enum" });

  it("matches built-in types by OID under their SQL names", () => {
    const r = [rule({ types: ["character varying"] })];
    expect(maskOne(r, column("x", { typeOid: 1043 }), "a", names)).toBe("****");
    expect(maskOne(r, column("x", { typeOid: 25 }), "a", names)).toBe("no masker");
  });

  it("matches extension types by resolved name, and unknown OIDs only when the rule names one", () => {
    const r = [rule({ types: ["citext"] })];
    expect(maskOne(r, column("x", { typeOid: 16385 }), "a", names)).toBe("****");
    expect(maskOne(r, column("x", { typeOid: 16390 }), "a", names)).toBe("no masker");
    expect(maskOne(r, column("x", { typeOid: 99999 }), "a", names)).toBe("****");
    expect(maskOne([rule({ types: ["text"] })], column("x", { typeOid: 99999 }), "a", names)).toBe(
      "no masker",
    );
  });

  it("requires every filter of a rule to match", () => {
    const r = [rule({ columns: ["email"], types: ["text"] })];
    expect(maskOne(r, column("email", { typeOid: 25 }), "a")).toBe("****");
    expect(maskOne(r, column("email", { typeOid: 1043 }), "a")).toBe("no masker");
    expect(maskOne(r, column("name", { typeOid: 25 }), "a")).toBe("no masker");
  });
});

describe("forColumns: rule precedence", () => {
  it("a column rule replaces the whole value even when a detector rule comes first", () => {
    const r = [rule({ name: "d", detector: "email" }), rule({ name: "c", columns: ["contact"] })];
    expect(maskOne(r, column("contact"), "mail a@b.com")).toBe("****");
    expect(maskOne(r, column("note"), "mail a@b.com")).toBe("mail [email]");
  });

  it("the first column rule's action wins", () => {
    const r = [rule({ columns: ["card"], action: "keep_last", keep: 4 }), rule({ columns: ["card"] })];
    expect(maskOne(r, column("card"), "4111111111111111")).toBe("************1111");
  });
});
