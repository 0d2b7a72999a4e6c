import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Feature, scanFeatures, scannerFor } from "./byte-scan";
import { createDetector } from "./detectors";
import { detect } from "./masking.testing";

const scan = (s: string) => scanFeatures(Buffer.from(s, "utf8"), 0, Buffer.byteLength(s));
const builtins = ["email", "credit_card", "iban", "phone", "us_ssn", "ip_address", "jwt", "api_key"] as const;

const samples = [
  "ada@example.com",
  "4111 1111 1111 1111",
  "DE89 3704 0044 0532 0130 00",
  "+44 20 7946 0958",
  "(555) 123-4567",
  "030 12345678",
  "123-45-6789",
  "192.168.0.1",
  "2001:db8::1",
  "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
  "AKIAIOSFODNN7EXAMPLE",
  "ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5",
  "github_pat_11ABCDEFG0123456789_abcdefghij",
  "xoxb-123456789012-abcdefgh",
  "sk_live_aB3dE5gH7jK9mN1pQ3sT",
  "AIzaSyA-1234567890abcdefghijklmnopqrstu",
  "sk-aB3dE5gH7jK9mN1pQ3sT5vW7",
  "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----",
];

describe("scanFeatures", () => {
  it("reports nothing but non-empty for plain words and short numbers", () => {
    expect(scan("")).toBe(0);
    expect(scan("hello world 42")).toBe(Feature.nonEmpty);
    expect(scan("order #12345, status: shipped")).toBe(Feature.nonEmpty);
  });

  it("flags non-ASCII bytes", () => {
    expect(scan("Zoë") & Feature.nonAscii).toBe(Feature.nonAscii);
  });

  it("is a superset of every built-in detector: a value a detector matches always shows a needed feature", () => {
    const text = fc
      .array(
        fc.oneof(
          fc.constantFrom(...samples),
          fc.string({ maxLength: 12 }),
          fc.stringMatching(/^[0-9 .:@+()-]{0,12}$/),
        ),
      )
      .map((parts) => parts.join(""));
    fc.assert(
      fc.property(text, fc.constantFrom(...builtins), (s, kind) => {
        const d = createDetector(kind, undefined, "t");
        const bytes = Buffer.from(s, "utf8");
        const cheapest = scannerFor(d.needs)(bytes, 0, bytes.length);
        if (detect(d, s).length > 0 || detect(d, bytes.toString("latin1")).length > 0) {
          expect(scan(s) & d.needs).not.toBe(0);
          expect(cheapest & d.needs).not.toBe(0);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
