import { describe, expect, it } from "vitest";
import type { MaskingRule } from "../rules";
import { compileMasking } from "./compile";
import { MaskTally } from "./mask-tally";
import { TEST_HASH_KEY } from "./masking.testing";

const textMasker = (rules: MaskingRule[], totals?: MaskTally) =>
  compileMasking(rules, { hashKey: TEST_HASH_KEY }).textMasker(totals);

describe("textMasker", () => {
  it("runs every detector rule, whatever its filters", () => {
    const m = textMasker([
      { name: "mails", detector: "email", action: "redact" },
      {
        name: "cards",
        columns: ["^notes$"],
        tables: ["billing"],
        detector: "credit_card",
        action: "keep_last",
        keep: 4,
      },
    ]);
    expect(m.mask('invalid input syntax for type integer: "ann@example.com"')).toBe(
      'invalid input syntax for type integer: "[email]"',
    );
    expect(m.mask("Key (pan)=(4111 1111 1111 1111) already exists.")).toBe(
      "Key (pan)=(***************1111) already exists.",
    );
    expect(m.mask("nothing to see")).toBeUndefined();
    expect(m).toMatchObject({ wholeValues: false, detects: true });
  });

  it("says when whole-value rules exist and masks nothing without detectors", () => {
    const m = textMasker([{ name: "names", columns: ["name"], action: "redact" }]);
    expect(m).toMatchObject({ wholeValues: true, detects: false });
    expect(m.mask("Ann <ann@example.com>")).toBeUndefined();
  });

  it("keeps non-ASCII text and hashes as column masking does", () => {
    const m = textMasker([{ name: "mails", detector: "email", action: "hash" }]);
    const out = m.mask("Zoë: ann@example.com ✓") ?? "";
    expect(out).toMatch(/^Zoë: hash:[0-9a-f]{16} ✓$/);
  });

  it("adds to the session totals", () => {
    const totals = new MaskTally();
    textMasker([{ name: "mails", detector: "email", action: "redact" }], totals).mask("a@b.io, c@d.io");
    expect(totals.counts()).toEqual({ email: 2 });
  });
});
