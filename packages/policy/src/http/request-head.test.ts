import { describe, expect, it } from "vitest";
import { checkRequestHead } from "./request-head";
import { acceptedHeads, refusedHeads } from "./request-head-corpus";

describe("checkRequestHead", () => {
  it.each(acceptedHeads)("accepts %s", (_label, head) => {
    expect(checkRequestHead(head)).toMatchObject({ ok: true });
  });

  it.each(refusedHeads)("refuses %s", (_label, head, reason) => {
    const r = checkRequestHead(head);
    expect(r).toMatchObject({ ok: false, reason });
    if (!r.ok) expect(r.message.length).toBeGreaterThan(10);
  });

  it("returns the normalized target with an accepted head", () => {
    const r = checkRequestHead({
      method: "GET",
      target: "/public/%2e%2e/admin;x=1/users?id=7",
      httpVersion: "1.1",
      rawHeaders: ["Host", "api.internal"],
    });
    expect(r).toEqual({
      ok: true,
      target: { ok: true, path: "/admin/users", query: "id=7", params: [["id", "7"]] },
    });
  });

  it("names the header whose value it refuses", () => {
    const r = checkRequestHead({
      method: "GET",
      target: "/",
      httpVersion: "1.1",
      rawHeaders: ["Host", "api.internal", "X-Trace", "a\r\nb"],
    });
    expect(r).toMatchObject({ ok: false, message: expect.stringContaining("X-Trace") });
  });
});
