import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { MaskingRule } from "../../rules";
import { compileMasking } from "../compile";
import { MaskingError } from "../errors";
import { MaskTally } from "../mask-tally";
import { TEST_HASH_KEY } from "../masking.testing";
import { countKinds } from "../value-masker";
import { MAX_JSON_DEPTH, MAX_JSON_VALUE } from "./json-grammar";
import { JsonMasker } from "./json-masker";

const rule = (r: Partial<MaskingRule>): MaskingRule => ({ name: "r", action: "redact", ...r });

function masker(rules: MaskingRule[], multi = false, tally = new MaskTally()): JsonMasker {
  const body = compileMasking(rules, { hashKey: TEST_HASH_KEY }).body;
  if (!body) throw new Error("no body plan");
  const ctx = { hasher: body.hasher, tally: tally.slots, totals: new Float64Array(countKinds.length) };
  return new JsonMasker(body, ctx, multi);
}

/** Output of `input` fed in pieces cut at `cuts` (byte offsets). */
function run(m: JsonMasker, input: Buffer, cuts: readonly number[] = []): string {
  const out: Buffer[] = [];
  let from = 0;
  for (const c of [...cuts, input.length]) {
    const o = m.write(input.subarray(from, c));
    if (o) out.push(Buffer.from(o));
    from = c;
  }
  const e = m.end();
  if (e) out.push(e);
  return Buffer.concat(out).toString("utf8");
}

function mask(rules: MaskingRule[], input: string, cuts: readonly number[] = []): string {
  return run(masker(rules), Buffer.from(input, "utf8"), cuts);
}

const doc = {
  customers: [
    { id: 1, name: "Ann", ssn: "123-45-6789", email: "ann@example.com", card_no: "4111111111111111" },
    {
      id: 2,
      name: "Bob",
      ssn: 987654321,
      email: "bob@example.org",
      card_no: null,
      prefs: { email: "b@x.io" },
    },
  ],
  contact: { email: "ops@example.com" },
};

describe("JsonMasker: key paths", () => {
  it("masks the values a path selects and nothing else", () => {
    const out = JSON.parse(mask([rule({ jsonPaths: ["$.customers[*].ssn"] })], JSON.stringify(doc)));
    expect(out.customers.map((c: { ssn: unknown }) => c.ssn)).toEqual(["****", "****"]);
    expect(out.customers[0].email).toBe("ann@example.com");
    expect(out.contact).toEqual(doc.contact);
  });

  it("masks every value named by a descendant path", () => {
    const out = JSON.parse(mask([rule({ jsonPaths: ["$..email"], action: "hash" })], JSON.stringify(doc)));
    const hashes = [
      out.customers[0].email,
      out.customers[1].email,
      out.customers[1].prefs.email,
      out.contact.email,
    ];
    for (const h of hashes) expect(h).toMatch(/^hash:[0-9a-f]{16}$/);
    expect(new Set(hashes).size).toBe(4);
    expect(out.customers[0].name).toBe("Ann");
  });

  it("matches `columns` against object keys (case-insensitive regexes)", () => {
    const input =
      '{"Card_No":"4111111111111111","cardholder":"Ann","card":{"n":12345678,"ok":true},"x":{"card_id":7}}';
    const out = JSON.parse(mask([rule({ columns: ["^card"], action: "keep_last", keep: 4 })], input));
    expect(out).toEqual({
      Card_No: "************1111",
      cardholder: "***",
      card: { n: "****5678", ok: "****" },
      x: { card_id: "*" },
    });
  });

  it("masks numbers and booleans as JSON strings and leaves null as null", () => {
    const input = '{"a":{"n":-1.5e3,"t":true,"f":false,"z":null,"list":[1,[2,{"s":"x"}]]}}';
    const out = mask([rule({ jsonPaths: ["$.a"] })], input);
    expect(out).toBe(
      '{"a":{"n":"****","t":"****","f":"****","z":null,"list":["****",["****",{"s":"****"}]]}}',
    );
  });

  it("masks a whole root document with the path $", () => {
    expect(mask([rule({ jsonPaths: ["$"] })], '"secret"')).toBe('"****"');
    expect(mask([rule({ jsonPaths: ["$"] })], '{"k":[1,"v"]}')).toBe('{"k":["****","****"]}');
  });

  it("selects array elements by index", () => {
    expect(mask([rule({ jsonPaths: ["$.items[1]"] })], '{"items":["a","b","c"]}')).toBe(
      '{"items":["a","****","c"]}',
    );
  });

  it("uses the first matching rule's action when several match", () => {
    const rules = [
      rule({ name: "a", jsonPaths: ["$.k"], action: "keep_last", keep: 2 }),
      rule({ columns: ["k"] }),
    ];
    expect(mask(rules, '{"k":"abcdef"}')).toBe('{"k":"****ef"}');
  });

  it("counts every masked value under `column`", () => {
    const tally = new MaskTally();
    run(masker([rule({ jsonPaths: ["$..email"] })], false, tally), Buffer.from(JSON.stringify(doc)));
    expect(tally.counts()).toEqual({ column: 4 });
  });

  it("ignores rules that filter by tables or types only", () => {
    expect(
      compileMasking([rule({ tables: ["public.users"] })], { hashKey: TEST_HASH_KEY }).body,
    ).toBeUndefined();
  });
});

describe("JsonMasker: detectors", () => {
  it("masks matches inside string values, decoding escapes", () => {
    const input = String.raw`{"note":"write to ann\u0040example.com or \"bob@example.org\"\n","k":"a\\b"}`;
    const out = mask([rule({ detector: "email" })], input);
    expect(JSON.parse(out)).toEqual({ note: 'write to [email] or "[email]"\n', k: "a\\b" });
  });

  it("finds card numbers in strings and number literals", () => {
    const out = mask(
      [rule({ detector: "credit_card" })],
      '{"a":"card 4111 1111 1111 1111","b":4111111111111111,"c":42}',
    );
    expect(JSON.parse(out)).toEqual({ a: "card [credit_card]", b: "[credit_card]", c: 42 });
  });

  it("leaves keys alone", () => {
    expect(mask([rule({ detector: "email" })], '{"ann@example.com":1}')).toBe('{"ann@example.com":1}');
  });

  it("runs a detector rule with columns only below the keys it names", () => {
    const rules = [rule({ detector: "email", columns: ["^contact$"] })];
    const out = mask(rules, '{"contact":{"m":"a@example.com"},"other":"b@example.com"}');
    expect(JSON.parse(out)).toEqual({ contact: { m: "[email]" }, other: "b@example.com" });
  });

  it("keeps non-ASCII text and re-encodes masked strings as valid JSON", () => {
    const input = '{"s":"Grüße \\ud83d\\ude00 an ann@example.com\\u0001","t":"日本"}';
    const out = mask([rule({ detector: "email" })], input);
    expect(JSON.parse(out)).toEqual({ s: "Grüße 😀 an [email]\u0001", t: "日本" });
  });

  it("masks records of an array", () => {
    const rows = Array.from({ length: 50 }, (_, i) => ({ i, mail: `user${i}@example.com` }));
    const out = JSON.parse(mask([rule({ detector: "email" })], JSON.stringify(rows)));
    expect(out).toEqual(rows.map((r) => ({ i: r.i, mail: "[email]" })));
  });
});

describe("JsonMasker: streaming", () => {
  const rules = [
    rule({ name: "ssn", jsonPaths: ["$.customers[*].ssn"] }),
    rule({ name: "card", columns: ["^card"], action: "keep_last", keep: 4 }),
    rule({ name: "mail", detector: "email", action: "hash" }),
  ];
  const input = Buffer.from(
    `{"customers":[{"id":1,"ssn":"123-45-6789","card_no":4111111111111111,"n":"x\\u0040y.io é"},` +
      `{"id":-2.5e-3,"ssn":null,"card_no":"41\\u00311","ok":true},{"ssn":-12.5e+3,"card_x":false}],` +
      `"plain":"nothing to see \\"here\\"","text":"über ann@example.com \\"q\\""}`,
  );

  it("gives the same output for every split into two and three pieces", () => {
    const whole = mask(rules, input.toString());
    JSON.parse(whole);
    for (let a = 0; a <= input.length; a++) {
      expect(run(masker(rules), input, [a])).toBe(whole);
      for (let b = a; b <= input.length; b += 7) expect(run(masker(rules), input, [a, b])).toBe(whole);
    }
  });

  it("gives the same output for random splits, byte by byte included", () => {
    const whole = mask(rules, input.toString());
    expect(
      run(
        masker(rules),
        input,
        Array.from({ length: input.length }, (_, i) => i),
      ),
    ).toBe(whole);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: input.length }), { maxLength: 40 }), (cuts) => {
        expect(
          run(
            masker(rules),
            input,
            cuts.sort((x, y) => x - y),
          ),
        ).toBe(whole);
      }),
    );
  });

  it("passes documents with nothing to mask through byte for byte", () => {
    fc.assert(
      fc.property(fc.json({ depthSize: "medium" }), fc.integer({ min: 1, max: 64 }), (text, step) => {
        const bytes = Buffer.from(` ${text.replaceAll(",", " ,\n")}\t`);
        const cuts = Array.from({ length: Math.floor(bytes.length / step) }, (_, i) => (i + 1) * step);
        expect(run(masker([rule({ jsonPaths: ["$.no.such.path"] })]), bytes, cuts)).toBe(bytes.toString());
      }),
    );
  });

  it("keeps masked output valid JSON for any document", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const out = mask([rule({ columns: ["^[a-m]"] }), rule({ detector: "email" })], JSON.stringify(value));
        expect(() => JSON.parse(out)).not.toThrow();
      }),
    );
  });

  it("masks one document per line in NDJSON", () => {
    const m = masker([rule({ jsonPaths: ["$.ssn"] })], true);
    const out = run(m, Buffer.from('{"ssn":"1"}\n{"ssn":"2","x":1}\n\n[1]\n'), [5, 13]);
    expect(out).toBe('{"ssn":"****"}\n{"ssn":"****","x":1}\n\n[1]\n');
  });
});

describe("JsonMasker: limits and malformed input", () => {
  const invalid = [
    '{"a":1,}',
    '{"a" 1}',
    "[1 2]",
    "{a:1}",
    '{"a":tru}',
    '{"a":01}',
    '["x"]]',
    "[1,",
    '"abc',
    "-",
    '{"b":"\\x"}',
  ];
  for (const text of invalid) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      expect(() => mask([rule({ jsonPaths: ["$.a"] }), rule({ detector: "email" })], text)).toThrow(
        MaskingError,
      );
    });
  }

  it("withholds the chunk it fails in and everything after", () => {
    const m = masker([rule({ jsonPaths: ["$.a"] })]);
    expect(m.write(Buffer.from('{"b":1,'))?.toString()).toBe('{"b":1,');
    expect(() => m.write(Buffer.from('"a":"secret" ] "leak"'))).toThrow(/malformed JSON/);
    expect(() => m.write(Buffer.from("x"))).toThrow(MaskingError);
  });

  it("accepts an empty body", () => {
    expect(mask([rule({ jsonPaths: ["$.a"] })], "  \n")).toBe("  \n");
  });

  it("redacts a string longer than the bound without buffering it", () => {
    const big = Buffer.from(
      `{"note":"${"a".repeat(MAX_JSON_VALUE + 10)} ann@example.com","ok":"b@example.com"}`,
    );
    const cuts = Array.from({ length: Math.floor(big.length / 65536) }, (_, i) => (i + 1) * 65536);
    const out = run(masker([rule({ detector: "email" })]), big, cuts);
    expect(out).toBe('{"note":"****","ok":"[email]"}');
  });

  it("redacts a long string in one chunk the same way", () => {
    const big = `["${"x".repeat(MAX_JSON_VALUE + 1)}"]`;
    expect(mask([rule({ detector: "custom", pattern: "x{3}y" })], big)).toBe('["****"]');
  });

  it("passes long strings nothing inspects", () => {
    const big = `{"a":"${"x".repeat(MAX_JSON_VALUE + 1)}","b":"y"}`;
    expect(mask([rule({ jsonPaths: ["$.b"] })], big)).toBe(
      `{"a":"${"x".repeat(MAX_JSON_VALUE + 1)}","b":"****"}`,
    );
  });

  it("rejects nesting deeper than the bound", () => {
    const ok = "[".repeat(MAX_JSON_DEPTH) + "]".repeat(MAX_JSON_DEPTH);
    expect(mask([rule({ jsonPaths: ["$.a"] })], ok)).toBe(ok);
    const deep = "[".repeat(MAX_JSON_DEPTH + 1) + "]".repeat(MAX_JSON_DEPTH + 1);
    expect(() => mask([rule({ jsonPaths: ["$.a"] })], deep)).toThrow(/nested deeper than 512/);
  });
});
