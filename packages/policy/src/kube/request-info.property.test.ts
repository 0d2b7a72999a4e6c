import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { kubeRequestInfo } from "./request-info";

/** Segments drawn from what kubectl sends and what an attacker would try. */
const segment = fc.oneof(
  fc.constantFrom(
    "api",
    "apis",
    "v1",
    "apps",
    "namespaces",
    "prod",
    "pods",
    "secrets",
    "exec",
    "watch",
    "proxy",
  ),
  fc.constantFrom(
    "..",
    ".",
    "",
    "%2e%2e",
    "%2F",
    "%2f",
    "%5C",
    "%00",
    "%25",
    "API",
    "Namespaces",
    "a%20b",
    "%zz",
  ),
  fc.stringMatching(/^[a-z0-9.%:-]{1,8}$/),
);
const method = fc.constantFrom("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS");

describe("kubeRequestInfo properties", () => {
  it("classifies the path it reports, which the agent forwards, exactly as the request it came from", () => {
    fc.assert(
      fc.property(method, fc.array(segment, { maxLength: 9 }), (m, segments) => {
        const first = kubeRequestInfo({ method: m, path: `/${segments.join("/")}` });
        if (!first.ok) return;
        const again = kubeRequestInfo({ method: m, path: first.path });
        expect(again).toEqual(first);
      }),
      { numRuns: 3000 },
    );
  });

  it("never accepts a path whose reading could shift (dot segments, separators, escapes of %)", () => {
    fc.assert(
      fc.property(method, fc.array(segment, { maxLength: 9 }), (m, segments) => {
        const r = kubeRequestInfo({ method: m, path: `/${segments.join("/")}` });
        if (!r.ok) return;
        const parts = r.path.split("/").slice(1);
        expect(parts.some((p) => p === "." || p === ".." || (p === "" && r.path !== "/"))).toBe(false);
        expect([...r.path].some((c) => c === "%" || c === "\\" || c.charCodeAt(0) <= 0x20)).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });
});
