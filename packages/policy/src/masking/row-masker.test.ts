import { describe, expect, it } from "vitest";
import type { MaskingRule } from "../rules";
import { compileMasking } from "./compile";
import { MaskingError } from "./errors";
import { MaskTally } from "./mask-tally";
import {
  catalog,
  column,
  dataRow,
  int4,
  int8,
  readDataRow,
  TEST_HASH_KEY,
  textValues,
} from "./masking.testing";
import { RowArena } from "./row-arena";
import type { CatalogNames, MaskCounts, ResultColumn, RowMasker } from "./types";

const rule = (r: Partial<MaskingRule>): MaskingRule => ({ name: "r", action: "redact", ...r });

function masker(
  rules: MaskingRule[],
  cols: ResultColumn[],
  names: CatalogNames = catalog(),
  totals?: MaskTally,
) {
  const m = compileMasking(rules, { hashKey: TEST_HASH_KEY }).forColumns(cols, names, totals);
  if (!m) throw new Error("expected a masker");
  return m;
}

function run(m: RowMasker, values: (Buffer | string | null)[]): (Buffer | null)[] | undefined {
  const frame = dataRow(values);
  const out = m.maskRow(frame, 0, frame.length);
  return out ? readDataRow(out) : undefined;
}

const text = (v: Buffer | null | undefined) => (v == null ? v : v.toString("utf8"));

describe("maskRow: text format", () => {
  const cols = [column("id", { typeOid: 23 }), column("email"), column("card"), column("note")];
  const m = masker(
    [
      rule({ columns: ["^email$"] }),
      rule({ columns: ["^card$"], action: "keep_last", keep: 4 }),
      rule({ detector: "email" }),
      rule({ detector: "credit_card", action: "keep_last", keep: 4 }),
    ],
    cols,
  );

  it("masks whole columns and detector matches, keeping the other bytes", () => {
    const out = run(m, [
      "42",
      "ada@example.com",
      "4111 1111 1111 1111",
      "paid with 4111111111111111, mail ada@x.io",
    ]);
    expect(out?.map(text)).toEqual([
      "42",
      "****",
      "***************1111",
      "paid with ************1111, mail [email]",
    ]);
  });

  it("returns undefined when nothing changed, and keeps NULLs", () => {
    expect(run(m, ["1", null, null, "nothing to see"])).toBeUndefined();
    const out = run(m, [null, "x@y.org", null, null]);
    expect(out).toEqual([null, Buffer.from("****"), null, null]);
  });

  it("reads a frame that sits inside a larger buffer", () => {
    const frame = dataRow(["7", "a@b.co", "x", "y"]);
    const buf = Buffer.concat([Buffer.from("junk"), frame, Buffer.from("more")]);
    const out = m.maskRow(buf, 4, 4 + frame.length);
    expect(textValues(out!)).toEqual(["7", "****", "*", "y"]);
  });

  it("keeps invalid UTF-8 bytes that are not part of a match", () => {
    const raw = Buffer.concat([Buffer.from([0xff, 0xc3]), Buffer.from(" a@b.co "), Buffer.from([0x80])]);
    const out = run(m, ["1", null, null, raw]);
    expect(out?.[3]).toEqual(
      Buffer.concat([Buffer.from([0xff, 0xc3]), Buffer.from(" [email] "), Buffer.from([0x80])]),
    );
  });
});

describe("maskRow: actions", () => {
  it("hash is deterministic per key, equal across columns and formats, and differs between keys", () => {
    const rules = [rule({ columns: ["email"], action: "hash" }), rule({ detector: "email", action: "hash" })];
    const cols = [column("email"), column("email", { format: 1 }), column("note")];
    const out = run(masker(rules, cols), ["a@b.co", "a@b.co", "to a@b.co"])!.map(text);
    expect(out[0]).toMatch(/^hash:[0-9a-f]{16}$/);
    expect(out[1]).toBe(out[0]);
    expect(out[2]).toBe(`to ${out[0]}`);
    const other = compileMasking(rules, { hashKey: Buffer.alloc(32, 1) }).forColumns(cols, catalog())!;
    const frame = dataRow(["a@b.co", "a@b.co", "x"]);
    expect(text(readDataRow(other.maskRow(frame, 0, frame.length)!)[0])).not.toBe(out[0]);
  });

  it("keep_last counts characters, not bytes, and masks short values entirely", () => {
    const m = masker([rule({ columns: ["name"], action: "keep_last", keep: 2 })], [column("name")]);
    expect(run(m, ["Zoë Müller"])?.map(text)).toEqual(["********er"]);
    expect(run(m, ["Jo"])?.map(text)).toEqual(["**"]);
  });

  it("keep_last on a whole value still runs the column's detectors over the part it shows", () => {
    const m = masker(
      [rule({ columns: ["note"], action: "keep_last", keep: 30 }), rule({ detector: "us_ssn" })],
      [column("note")],
    );
    expect(run(m, ["customer record, ssn 123-45-6789"])?.map(text)).toEqual([
      "**stomer record, ssn [us_ssn]",
    ]);
  });

  it("overlapping matches become one span; mixed actions redact it", () => {
    const m = masker(
      [
        rule({ detector: "email", action: "keep_last", keep: 4 }),
        rule({ detector: "custom", pattern: "user-[a-z]+@" }),
      ],
      [column("note")],
    );
    expect(run(m, ["id user-ada@example.com!"])?.map(text)).toEqual(["id [email]!"]);
    expect(run(m, ["mail bob@example.com"])?.map(text)).toEqual(["mail ***********.com"]);
  });

  it("keep_last never shows a card that overlaps another reading of the same digits", () => {
    const m = masker([rule({ detector: "credit_card", action: "keep_last", keep: 14 })], [column("note")]);
    expect(run(m, ["60 4938 7162 0336 0003"])?.map(text)).toEqual(["[credit_card]"]);
  });

  it("json columns masked whole stay valid JSON", () => {
    const m = masker(
      [rule({ columns: ["doc"] })],
      [column("doc", { typeOid: 114 }), column("doc", { typeOid: 3802 })],
    );
    expect(run(m, ['{"a":1}', "[1]"])?.map(text)).toEqual(['"****"', '"****"']);
  });
});

describe("maskRow: binary format", () => {
  const binary = (name: string, typeOid: number) => column(name, { typeOid, format: 1 });

  it("masks text-like binary values as text", () => {
    const names = catalog({}, { 16385: "citext" });
    const cols = [binary("a", 25), binary("b", 1043), binary("c", 1042), binary("d", 19), binary("e", 16385)];
    const m = masker([rule({ detector: "email" })], cols, names);
    expect(run(m, ["a@b.co", "a@b.co", "a@b.co", "a@b.co", "a@b.co"])?.map(text)).toEqual(
      Array(5).fill("[email]"),
    );
  });

  it("masks inside binary jsonb and keeps its version byte; other versions become NULL", () => {
    const m = masker([rule({ detector: "email" })], [binary("doc", 3802)]);
    const jsonb = Buffer.concat([Buffer.from([1]), Buffer.from('{"e": "a@b.co"}')]);
    expect(run(m, [jsonb])).toEqual([Buffer.concat([Buffer.from([1]), Buffer.from('{"e": "[email]"}')])]);
    expect(run(m, [Buffer.from([2, 0x7b, 0x7d])])).toEqual([null]);
    const whole = masker([rule({ columns: ["doc"] })], [binary("doc", 3802)]);
    expect(run(whole, [jsonb])).toEqual([Buffer.from('\x01"****"')]);
  });

  it("decodes binary integers for detectors and NULLs them when something matches", () => {
    const m = masker(
      [rule({ detector: "credit_card" })],
      [binary("n", 20), binary("m", 20), binary("k", 23)],
    );
    expect(run(m, [int8(4111111111111111n), int8(42n), int4(7)])).toEqual([null, int8(42n), int4(7)]);
  });

  it("NULLs binary values a column rule covers unless they are text", () => {
    const m = masker([rule({ columns: ["."] })], [binary("i", 23), binary("t", 1184), binary("s", 25)]);
    expect(run(m, [int4(1), Buffer.alloc(8), "x"])).toEqual([null, null, Buffer.from("****")]);
  });

  it("lets types without detectable content pass detectors, NULLs every other covered binary value", () => {
    const cols = [
      binary("ts", 1184),
      binary("u", 2950),
      binary("b", 16),
      binary("num", 1700),
      binary("raw", 17),
    ];
    const m = masker([rule({ detector: "email" })], cols);
    const values = [
      Buffer.alloc(8, 1),
      Buffer.alloc(16, 2),
      Buffer.from([1]),
      Buffer.from([0, 1]),
      Buffer.from("a@b.co"),
    ];
    // numeric can only ever hold a card number, so an email detector leaves it alone
    expect(run(m, values)).toEqual([values[0], values[1], values[2], values[3], null]);
    const cards = masker([rule({ detector: "credit_card" })], [binary("num", 1700), binary("i", 23)]);
    expect(run(cards, [Buffer.from([0, 1]), int4(5)])).toEqual([null, int4(5)]);
  });

  it("does not even create a masker for columns whose type no active detector can match", () => {
    const plan = compileMasking([rule({ detector: "email" }), rule({ detector: "phone" })], {
      hashKey: TEST_HASH_KEY,
    });
    expect(
      plan.forColumns([column("id", { typeOid: 23 }), column("n", { typeOid: 20, format: 1 })], catalog()),
    ).toBe(undefined);
  });

  it("leaves binary columns no rule covers alone", () => {
    const m = masker([rule({ columns: ["^secret$"] })], [binary("secret", 25), binary("blob", 17)]);
    expect(run(m, ["s", Buffer.from([0, 1, 2])])).toEqual([Buffer.from("****"), Buffer.from([0, 1, 2])]);
  });
});

describe("maskRow: text-format types without detectable content", () => {
  it("skips built-in detectors but runs custom patterns", () => {
    const cols = [column("d", { typeOid: 1082 }), column("t", { typeOid: 1184 })];
    expect(
      compileMasking([rule({ detector: "phone" })], { hashKey: TEST_HASH_KEY }).forColumns(cols, catalog()),
    ).toBe(undefined);
    const m = masker([rule({ detector: "custom", pattern: "^2024" })], cols);
    expect(run(m, ["2024-01-15", "2023-01-15 10:00:00+00"])?.map(text)).toEqual([
      "[custom]-01-15",
      "2023-01-15 10:00:00+00",
    ]);
  });
});

describe("maskRow: text-format types named by the catalog view", () => {
  it("treats an OID the catalog names like the built-in type of that name", () => {
    const names = catalog({}, { 2: "date", 3: "jsonb", 4: "int4" });
    const cols = [column("d", { typeOid: 2 }), column("j", { typeOid: 3 }), column("i", { typeOid: 4 })];
    const m = masker([rule({ detector: "phone" }), rule({ columns: ["^j$"] })], cols, names);
    expect(run(m, ["2024-01-15 030 12345678", "{}", "1"])?.map(text)).toEqual([
      "2024-01-15 030 12345678",
      '"****"',
      "1",
    ]);
  });
});

describe("maskRowInto: masked rows written back to back", () => {
  const cols = [column("id", { typeOid: 23 }), column("email")];
  const rules = [rule({ columns: ["^id$"], action: "keep_last", keep: 2 }), rule({ detector: "email" })];

  it("writes the same frames as maskRow, one after another, and nothing for unchanged rows", () => {
    const m = masker(rules, cols);
    const arena = new RowArena();
    const rows = Array.from({ length: 50 }, (_, i) => dataRow([String(1000 + i), `user${i}@example.com`]));
    const written: [number, number][] = [];
    for (const row of rows) {
      const at = m.maskRowInto(row, 0, row.length, arena);
      expect(at).toBeGreaterThanOrEqual(0);
      written.push([at, arena.pos]);
    }
    for (let i = 1; i < written.length; i++) expect(written[i]![0]).toBe(written[i - 1]![1]);
    for (const [i, row] of rows.entries()) {
      const [at, end] = written[i]!;
      expect(arena.bytes.subarray(at, end)).toEqual(m.maskRow(row, 0, row.length));
    }
    expect(readDataRow(arena.bytes.subarray(...written[7]!)).map(text)).toEqual(["**07", "[email]"]);
    const nothing = dataRow([null, "no address here"]);
    const pos = arena.pos;
    expect(m.maskRowInto(nothing, 0, nothing.length, arena)).toBe(-1);
    expect(arena.pos).toBe(pos);
  });

  it("moves to a new buffer when one is full, leaving the bytes already written intact", () => {
    const m = masker(rules, cols);
    const arena = new RowArena(64);
    const first = dataRow(["123456", "a@b.io"]);
    const at1 = m.maskRowInto(first, 0, first.length, arena);
    const buf1 = arena.bytes;
    const copy = Buffer.from(buf1.subarray(at1, arena.pos));
    const big = dataRow(["9".repeat(100), "c@d.io"]);
    const at2 = m.maskRowInto(big, 0, big.length, arena);
    expect(arena.bytes).not.toBe(buf1);
    expect(at2).toBe(0);
    expect(readDataRow(arena.bytes.subarray(at2, arena.pos)).map(text)).toEqual([
      `${"*".repeat(98)}99`,
      "[email]",
    ]);
    expect(buf1.subarray(at1, at1 + copy.length)).toEqual(copy);
    arena.release();
    expect(arena.bytes.length).toBe(0);
  });
});

describe("maskRow: counts", () => {
  it("counts per detector and per whole value, and adds to a per-session total", () => {
    const totals = new MaskTally();
    const rules = [rule({ columns: ["^email$"] }), rule({ detector: "email" }), rule({ detector: "us_ssn" })];
    const a = masker(rules, [column("email"), column("note")], catalog(), totals);
    run(a, ["x@y.co", "a@b.co and c@d.co, ssn 123-45-6789"]);
    run(a, ["x@y.co", "nothing"]);
    expect(a.counts()).toEqual({ column: 2, email: 2, us_ssn: 1 });
    const b = masker(rules, [column("note")], catalog(), totals);
    run(b, ["e@f.co"]);
    expect(b.counts()).toEqual({ email: 1 });
    expect(totals.counts()).toEqual({ column: 2, email: 3, us_ssn: 1 });
  });
});

describe("maskRow: malformed frames", () => {
  const m = masker([rule({ columns: ["a"] })], [column("a"), column("b")]);
  const good = dataRow(["x", "y"]);
  const cases: [string, Buffer, number?][] = [
    ["truncated header", good.subarray(0, 5)],
    ["truncated value", good.subarray(0, good.length - 1)],
    ["wrong type byte", Buffer.concat([Buffer.from("T"), good.subarray(1)])],
    [
      "length field off by one",
      (() => {
        const b = Buffer.from(good);
        b.writeInt32BE(good.length, 1);
        return b;
      })(),
    ],
    ["column count differs from the RowDescription", dataRow(["x"])],
    ["column count of three", dataRow(["x", "y", "z"])],
    [
      "value length past the end",
      (() => {
        const b = Buffer.from(good);
        b.writeInt32BE(100, 7);
        return b;
      })(),
    ],
    [
      "negative length below -1",
      (() => {
        const b = Buffer.from(good);
        b.writeInt32BE(-2, 7);
        return b;
      })(),
    ],
    [
      "trailing bytes",
      (() => {
        const b = Buffer.concat([good, Buffer.from("!")]);
        b.writeInt32BE(b.length - 1, 1);
        return b;
      })(),
    ],
  ];
  for (const [what, frame] of cases) {
    it(`throws malformed_row on ${what}`, () => {
      let caught: unknown;
      try {
        m.maskRow(frame, 0, frame.length);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(MaskingError);
      expect((caught as MaskingError).code).toBe("malformed_row");
      expect((caught as MaskingError).message).toMatch(/^malformed DataRow message: /);
    });
  }

  it("throws when end lies beyond the buffer", () => {
    expect(() => m.maskRow(good, 0, good.length + 4)).toThrow(MaskingError);
  });

  it("never puts row values in the error message", () => {
    const frame = dataRow(["secret-value", "y"]);
    frame.writeInt32BE(9999, 7 + 4 + 12);
    expect(() => m.maskRow(frame, 0, frame.length)).toThrow(/^(?!.*secret-value)/);
  });
});
