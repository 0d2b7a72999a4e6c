import { describe, expect, it } from "vitest";
import { MaskingError } from "../errors";
import { detect } from "../masking.testing";
import { createCustomDetector } from "./custom";

describe("custom detector", () => {
  it("matches case-insensitively, every occurrence", () => {
    const d = createCustomDetector("EMP-[0-9]{6}", "employee ids");
    expect(detect(d, "emp-123456 and EMP-654321, not EMP-12")).toEqual(["emp-123456", "EMP-654321"]);
  });

  it("matches non-ASCII patterns in text", () => {
    const d = createCustomDetector("straße [0-9]+", "streets");
    expect(detect(d, "Hauptstraße 5, Berlin")).toEqual(["straße 5"]);
  });

  it("skips zero-length matches", () => {
    const d = createCustomDetector("\\bx?", "boundaries");
    expect(detect(d, "a x b")).toEqual(["x"]);
  });

  it("rejects patterns that match the empty string or do not compile", () => {
    expect(() => createCustomDetector("a*", "r")).toThrow(MaskingError);
    expect(() => createCustomDetector("(", "r")).toThrow(/invalid pattern/);
  });
});
