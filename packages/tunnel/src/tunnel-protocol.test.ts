import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeReply, encodeRequest, MAX_PREAMBLE, parsePreamble, parseReply } from "./tunnel-protocol";

describe("tunnel preamble", () => {
  it("round-trips and keeps the bytes after the line", () => {
    const buf = Buffer.concat([
      encodeRequest({ connection: "pg", grant: "a.b.c" }),
      Buffer.from([0, 0, 0, 8]),
    ]);
    const parsed = parsePreamble(buf);
    expect(parsed).toEqual({
      request: { connection: "pg", grant: "a.b.c" },
      rest: Buffer.from([0, 0, 0, 8]),
    });
  });

  it("waits for more bytes, then refuses an endless line", () => {
    expect(parsePreamble(Buffer.from("SLUICE/1 pg abc"))).toBeUndefined();
    expect(parsePreamble(Buffer.alloc(MAX_PREAMBLE + 1, 0x41))).toEqual({
      error: "tunnel preamble too long",
    });
    expect(parsePreamble(Buffer.from("GET / HTTP/1.1\n"))).toEqual({ error: "not a Sluice tunnel request" });
  });

  it("parses replies", () => {
    expect(parseReply(encodeReply({ ok: true, sessionId: "s1" }).toString())).toEqual({
      ok: true,
      sessionId: "s1",
    });
    expect(
      parseReply(encodeReply({ ok: false, code: "auth.expired", message: "grant\nexpired" }).toString()),
    ).toEqual({
      ok: false,
      code: "auth.expired",
      message: "grant expired",
    });
  });

  it("never throws on arbitrary input", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 10_000 }), (bytes) => {
        parsePreamble(Buffer.from(bytes));
      }),
    );
  });
});
