import { describe, expect, it } from "vitest";
import { createHasher, keepLast } from "./actions";

describe("keepLast", () => {
  it("keeps the last characters by code point", () => {
    expect(keepLast("4111111111111111", 4)).toBe("************1111");
    expect(keepLast("Zoë", 1)).toBe("**ë");
    expect(keepLast("a😀b😀", 2)).toBe("**b😀");
    expect(keepLast("😀😀😀", 1)).toBe("**😀");
  });

  it("masks values no longer than keep entirely", () => {
    expect(keepLast("abc", 3)).toBe("***");
    expect(keepLast("😀a", 5)).toBe("**");
    expect(keepLast("", 2)).toBe("");
  });
});

describe("createHasher", () => {
  it("gives a short, prefixed, keyed and deterministic digest", () => {
    const h = createHasher(Buffer.alloc(32, 1));
    const a = h("ada@example.com");
    expect(a).toMatch(/^hash:[0-9a-f]{16}$/);
    expect(h("ada@example.com")).toBe(a);
    expect(h("bob@example.com")).not.toBe(a);
    expect(createHasher(Buffer.alloc(32, 2))("ada@example.com")).not.toBe(a);
  });

  it("is HMAC-SHA256 of the value bytes", async () => {
    const { createHmac } = await import("node:crypto");
    const key = Buffer.alloc(32, 3);
    const want = createHmac("sha256", key)
      .update(Buffer.from([0xff, 0x41]))
      .digest("hex")
      .slice(0, 16);
    expect(createHasher(key)("\u00ffA")).toBe(`hash:${want}`);
  });
});
