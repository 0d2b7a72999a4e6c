import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type MaskingDetector, type MaskingRule, maskingDetectors } from "../rules";
import { compileMasking } from "./compile";
import { catalog, dataRow, readDataRow, TEST_HASH_KEY, withLuhnDigit } from "./masking.testing";
import type { ResultColumn } from "./types";

const names = catalog({ 100: "public.users", 200: "public.orders" }, { 16385: "citext" });
const columnNames = ["id", "email", "note", "card", "x", "created_at"];
const typeOids = [25, 1043, 1042, 19, 114, 3802, 20, 21, 23, 16, 1184, 2950, 1700, 17, 16385, 99999];
const customPatterns = ["secret[0-9]+", "x{3}", "ä+b", "[a-f]{8}", "\\bkey\\b", "@"];

const action = fc.oneof(
  fc.constant({ action: "redact" as const }),
  fc.constant({ action: "hash" as const }),
  fc.integer({ min: 1, max: 32 }).map((keep) => ({ action: "keep_last" as const, keep })),
);

const filters = fc.record(
  {
    columns: fc.subarray(["email", "^id$", "note|card", "x", "^created"], { minLength: 1 }),
    tables: fc.subarray(["users", "public.orders", "billing.*"], { minLength: 1 }),
    types: fc.subarray(["text", "int8", "citext", "jsonb", "varchar", "bytea"], { minLength: 1 }),
  },
  { requiredKeys: [] },
);

const detectorRule = (detector: fc.Arbitrary<MaskingDetector>, withFilters: boolean) =>
  fc.tuple(detector, action, withFilters ? filters : fc.constant({}), fc.constantFrom(...customPatterns)).map(
    ([d, a, f, pattern]): MaskingRule => ({
      name: `detect ${d}`,
      detector: d,
      ...(d === "custom" ? { pattern } : {}),
      ...a,
      ...f,
    }),
  );

const columnRule = fc
  .tuple(action, filters)
  .filter(([, f]) => Object.keys(f).length > 0)
  .map(([a, f]): MaskingRule => ({ name: "whole", ...a, ...f }));

const ruleSet = fc.array(fc.oneof(columnRule, detectorRule(fc.constantFrom(...maskingDetectors), true)), {
  maxLength: 6,
});

const resultColumn: fc.Arbitrary<ResultColumn> = fc.record({
  name: fc.constantFrom(...columnNames),
  tableOid: fc.constantFrom(0, 100, 200, 999),
  typeOid: fc.constantFrom(...typeOids),
  format: fc.constantFrom(0, 1),
});

const card = fc
  .tuple(fc.stringMatching(/^[0-9]{14}$/), fc.constantFrom("", " ", "-"))
  .map(([body, sep]) => withLuhnDigit(`4${body}`).replace(/(\d{4})(?=\d)/g, `$1${sep}`));
const email = fc
  .tuple(
    fc.stringMatching(/^[a-z0-9]([a-z0-9._+-]{0,14}[a-z0-9])?$/),
    fc.array(fc.stringMatching(/^[a-z0-9]{1,10}$/), { minLength: 1, maxLength: 3 }),
    fc.stringMatching(/^[a-z]{2,6}$/),
  )
  .map(([local, labels, tld]) => `${local}@${labels.join(".")}.${tld}`);
const ssn = fc
  .tuple(
    fc.integer({ min: 1, max: 899 }).filter((a) => a !== 666),
    fc.integer({ min: 1, max: 99 }),
    fc.integer({ min: 1, max: 9999 }),
  )
  .map(
    ([a, g, s]) =>
      `${String(a).padStart(3, "0")}-${String(g).padStart(2, "0")}-${String(s).padStart(4, "0")}`,
  );

const sensitiveText = fc
  .array(
    fc.oneof(
      card,
      email,
      ssn,
      fc.string(),
      fc.constantFrom("+1 415 555 2671", "10.0.0.1", "::1", "AKIAIOSFODNN7EXAMPLE"),
    ),
  )
  .map((parts) => parts.join(" "));
const huge = ["a@b.co 4111111111111111 ", "x".repeat(1000), "\u00ff\u0100 ", "1234-".repeat(3)].map((unit) =>
  unit.repeat(Math.ceil(100_000 / unit.length)),
);
const value: fc.Arbitrary<Buffer | string | null> = fc.oneof(
  { arbitrary: fc.constant(null), weight: 2 },
  { arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }), weight: 3 },
  { arbitrary: sensitiveText, weight: 4 },
  { arbitrary: fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)), weight: 3 },
  { arbitrary: fc.constantFrom(...huge), weight: 1 },
);

const scenario = fc
  .array(fc.tuple(resultColumn, value), { minLength: 1, maxLength: 8 })
  .chain((cells) => fc.tuple(ruleSet, fc.constant(cells)));

/** Surrounding text, often digit-heavy so digit runs glue onto the secret's edges. */
const context = fc.oneof(
  fc.string(),
  fc.stringMatching(/^[0-9 -]{0,8}$/),
  fc.stringMatching(/^[a-z0-9@.]{0,6}$/),
);

const isUtf8 = (b: Buffer) => Buffer.from(b.toString("utf8"), "utf8").equals(b);

describe("masking properties", () => {
  it("never throws on well-formed rows and always returns a well-formed DataRow", () => {
    fc.assert(
      fc.property(scenario, ([rules, cells]) => {
        const plan = compileMasking(rules, { hashKey: TEST_HASH_KEY });
        const masker = plan.forColumns(
          cells.map(([c]) => c),
          names,
        );
        const input = cells.map(([, v]) => v);
        const frame = dataRow(input);
        const out = masker?.maskRow(frame, 0, frame.length);
        if (out === undefined) return;
        expect(masker!.maskRow(frame, 0, frame.length)?.equals(out)).toBe(true);
        const values = readDataRow(out);
        expect(values).toHaveLength(cells.length);
        const before = readDataRow(frame);
        cells.forEach(([col], i) => {
          const was = before[i] ?? null;
          const now = values[i] ?? null;
          if (was === null) expect(now).toBeNull();
          if (col.format === 0 && was !== null) {
            expect(now).not.toBeNull();
            if (isUtf8(was)) expect(isUtf8(now!)).toBe(true);
          }
        });
      }),
      { numRuns: 300 },
    );
  });

  const never = (kind: "credit_card" | "email" | "us_ssn", secret: fc.Arbitrary<string>) =>
    it(`a value with a valid ${kind} never comes out containing it while the ${kind} detector is active`, () => {
      fc.assert(
        fc.property(
          ruleSet,
          detectorRule(fc.constant(kind), false),
          fc.boolean(),
          context,
          secret,
          context,
          fc.constantFrom(0, 1),
          (rules, mine, first, prefix, s, suffix, format) => {
            const all = first ? [mine, ...rules] : [...rules, mine];
            const col = { name: "note", tableOid: 100, typeOid: 25, format };
            const masker = compileMasking(all, { hashKey: TEST_HASH_KEY }).forColumns([col], names);
            const frame = dataRow([`${prefix} ${s} ${suffix}`]);
            const out = masker!.maskRow(frame, 0, frame.length);
            expect(out).toBeDefined();
            expect(readDataRow(out!)[0]?.toString("utf8")).not.toContain(s);
          },
        ),
        { numRuns: 300 },
      );
    });
  never("credit_card", card);
  never("email", email);
  never("us_ssn", ssn);
});
