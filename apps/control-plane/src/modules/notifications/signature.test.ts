import { describe, expect, it } from "vitest";
import { cleanError } from "./deliver";
import { newWebhookSecret, signatureHeader, verifySignature } from "./signature";

const body = '{"id":"d1","event":"session.started","createdAt":"2026-01-01T00:00:00.000Z","data":{}}';
const t = 1767225600;

describe("Sluice-Signature", () => {
  it("is HMAC-SHA256 over '<t>.<body>', as `openssl dgst -sha256 -hmac` computes it", () => {
    // printf '%s' "1767225600.$body" | openssl dgst -sha256 -hmac whsec_example
    expect(signatureHeader("whsec_example", t, body)).toBe(
      "t=1767225600,v1=50b0f3648b4488a6bec1de19075f13b6b1082f0bb15e1710fce169c416acba65",
    );
  });

  it("verifies within the tolerance and refuses replays, other bodies and other secrets", () => {
    const header = signatureHeader("whsec_example", t, body);
    expect(verifySignature("whsec_example", header, body, { now: t + 299 })).toBe(true);
    expect(verifySignature("whsec_example", header, body, { now: t + 301 })).toBe(false);
    expect(verifySignature("whsec_example", header, `${body}\n`, { now: t })).toBe(false);
    expect(verifySignature("whsec_other", header, body, { now: t })).toBe(false);
    expect(verifySignature("whsec_example", "v1=abc", body, { now: t })).toBe(false);
    // Several v1 values (e.g. during a secret rotation on the receiver) are accepted if one matches.
    const both = `${header},v1=${"0".repeat(64)}`;
    expect(verifySignature("whsec_example", both, body, { now: t })).toBe(true);
  });

  it("uses fresh 32-byte secrets", () => {
    const a = newWebhookSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(newWebhookSecret()).not.toBe(a);
  });
});

describe("stored receiver errors", () => {
  it("are one bounded line with secrets removed", () => {
    const text = `HTTP 500: bad token tok_123\r\n${"x".repeat(1000)}`;
    const out = cleanError(text, ["tok_123"]);
    expect(out.startsWith("HTTP 500: bad token [redacted] xxx")).toBe(true);
    expect(out).toHaveLength(500);
    expect(out).not.toMatch(/[\r\n]/);
  });
});
