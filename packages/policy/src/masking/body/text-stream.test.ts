import { describe, expect, it } from "vitest";
import type { MaskingRule } from "../../rules";
import { compileMasking } from "../compile";
import { MaskTally } from "../mask-tally";
import { TEST_HASH_KEY } from "../masking.testing";
import { countKinds } from "../value-masker";
import { MAX_TEXT_LINE, TextStreamMasker } from "./text-stream";

function masker(rules: MaskingRule[], tally = new MaskTally()): TextStreamMasker {
  const body = compileMasking(rules, { hashKey: TEST_HASH_KEY }).body;
  if (!body?.text) throw new Error("no text plan");
  const ctx = { hasher: body.hasher, tally: tally.slots, totals: new Float64Array(countKinds.length) };
  return new TextStreamMasker(body.text, ctx);
}

const email: MaskingRule = { name: "mail", detector: "email", action: "redact" };

/** Output of `input` written in pieces of `size` bytes; also returns how much came out before `end()`. */
function run(m: TextStreamMasker, input: Buffer, size: number): { text: string; beforeEnd: number } {
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; i += size) {
    const o = m.write(input.subarray(i, i + size));
    if (o) out.push(Buffer.from(o));
  }
  const beforeEnd = out.reduce((n, b) => n + b.length, 0);
  const e = m.end();
  if (e) out.push(e);
  return { text: Buffer.concat(out).toString("utf8"), beforeEnd };
}

describe("TextStreamMasker", () => {
  it("sends complete lines at once and holds a partial line", () => {
    const m = masker([email]);
    expect(m.write(Buffer.from("one ann@example.com\ntwo bob@"))?.toString()).toBe("one [email]\n");
    expect(m.write(Buffer.from("example.org"))).toBeUndefined();
    expect(m.end()?.toString()).toBe("two [email]");
  });

  it("finds matches split across chunks at any size", () => {
    const input = Buffer.from(
      "log: user ann@example.com logged in\nlog: card owner bob@example.org\n".repeat(3),
    );
    const whole = run(masker([email]), input, input.length).text;
    expect(whole).not.toContain("@");
    for (const size of [1, 2, 5, 13, 64]) expect(run(masker([email]), input, size).text).toBe(whole);
  });

  it("cuts a line longer than the bound, still finding a match across the cut", () => {
    for (const shift of [-30, -10, 0, 5, 200, 300]) {
      const at = MAX_TEXT_LINE - 256 + shift;
      const input = Buffer.from(`${"x ".repeat(at / 2)}ann@example.com ${"y ".repeat(40_000)}`);
      const tally = new MaskTally();
      const { text, beforeEnd } = run(masker([email], tally), input, 4096);
      expect(beforeEnd).toBeGreaterThan(0);
      expect(text).toBe(input.toString().replace("ann@example.com", "[email]"));
      expect(tally.counts()).toEqual({ email: 1 });
    }
  });

  it("never splits a UTF-8 character at a cut", () => {
    const input = Buffer.from("é€😀".repeat(40_000));
    const custom: MaskingRule = {
      name: "c",
      detector: "custom",
      pattern: "secret-[0-9]{4}",
      action: "redact",
    };
    for (const rules of [[email], [custom]])
      expect(run(masker(rules), input, 1000).text).toBe(input.toString());
  });

  it("masks the key material of a private key block that arrives over many chunks", () => {
    const apiKey: MaskingRule = { name: "k", detector: "api_key", action: "redact" };
    const body = Array.from(
      { length: 30 },
      () => "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
    ).join("\n");
    const pem = `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----`;
    const input = Buffer.from(`before\n${pem}\nafter\n`);
    for (const size of [17, 256, input.length]) {
      const out = run(masker([apiKey]), input, size).text;
      expect(out).not.toContain("MIIE");
      expect(out).toMatch(/^before\n\[api_key\]/);
      expect(out).toMatch(/after\n$/);
    }
  });
});
