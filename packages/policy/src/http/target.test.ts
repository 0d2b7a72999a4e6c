import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { normalizeTarget } from "./target";
import { normalizedCases, refusedCases } from "./target-corpus";

function outcome(raw: string): string | { refused: string } {
  const r = normalizeTarget(raw);
  return r.ok ? r.path : { refused: r.reason };
}

describe("normalizeTarget", () => {
  it.each(normalizedCases)("sends %j upstream as %j", (raw, expected) => {
    expect(outcome(raw)).toEqual(expected);
  });

  it.each(refusedCases.map(([raw, e]) => [raw.length > 80 ? `${raw.slice(0, 40)}…` : raw, raw, e] as const))(
    "refuses %j",
    (_label, raw, expected) => {
      expect(outcome(raw)).toEqual(expected);
    },
  );

  it("keeps the raw query and decodes the parameters for matching", () => {
    const r = normalizeTarget("/search?q=a+b&q=%41&debug&=x&&name=%E2%9C%93");
    expect(r).toEqual({
      ok: true,
      path: "/search",
      query: "q=a+b&q=%41&debug&=x&&name=%E2%9C%93",
      params: [
        ["q", "a b"],
        ["q", "A"],
        ["debug", ""],
        ["", "x"],
        ["name", "\u2713"],
      ],
    });
  });

  it("has no query for a bare ? or none at all", () => {
    expect(normalizeTarget("/x?")).toMatchObject({ query: "", params: [] });
    expect(normalizeTarget("/x")).toMatchObject({ query: "", params: [] });
  });

  it("accepts 200 parameters and a target of exactly 8 KiB", () => {
    const q = Array.from({ length: 200 }, (_, i) => `p${i}=1`).join("&");
    expect(normalizeTarget(`/x?${q}`)).toMatchObject({ ok: true });
    expect(normalizeTarget(`/${"a".repeat(8 * 1024 - 1)}`)).toMatchObject({ ok: true });
  });

  it("gives a message a client can read with every refusal", () => {
    const r = normalizeTarget("/public/%252e%252e/admin");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/twice/);
  });
});

const segmentChar = fc.constantFrom(
  "a",
  "Z",
  "0",
  ".",
  "-",
  "_",
  "~",
  ";",
  "=",
  ":",
  "@",
  "%2e",
  "%2E",
  "%41",
  "%3a",
  "%20",
  "%c3%a9",
  "%25",
);
const segment = fc.array(segmentChar, { maxLength: 6 }).map((cs) => cs.join(""));
const target = fc.array(segment, { maxLength: 8 }).map((segs) => `/${segs.join("/")}`);

describe("normalizeTarget properties", () => {
  it("is idempotent: the path it sends normalizes to itself", () => {
    fc.assert(
      fc.property(target, (raw) => {
        const first = normalizeTarget(raw);
        if (!first.ok) return;
        expect(normalizeTarget(first.path)).toMatchObject({ ok: true, path: first.path });
      }),
    );
  });

  it("never sends a dot segment, an empty segment, a matrix parameter or a lower-case escape", () => {
    fc.assert(
      fc.property(target, (raw) => {
        const r = normalizeTarget(raw);
        if (!r.ok) return;
        const segments = r.path.slice(1).split("/");
        const inner = r.path.endsWith("/") ? segments.slice(0, -1) : segments;
        for (const s of inner) {
          if (r.path === "/") break;
          expect(s).not.toBe("");
          expect(s).not.toMatch(/^\.+$|\.$|;/);
        }
        expect(r.path).not.toMatch(/%[0-9a-f][a-z]|%[a-f]/);
        expect(r.path).not.toMatch(/%(?:2E|41|7E)/i);
      }),
    );
  });
});
