import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ProtocolError } from "./errors";
import { FrameReader } from "./frame-reader";
import {
  parseBind,
  parseExecute,
  parseFrontendMessage,
  parseParse,
  parsePasswordMessage,
  parseSASLInitialResponse,
  parseStartupFrame,
} from "./frontend-messages";
import { frontend } from "./frontend-serializer";

function one(frame: Buffer, startup = false): { type: number; body: Buffer } {
  const r = new FrameReader({ startup });
  r.push(frame);
  expect(r.next()).toBe(true);
  return { type: r.type, body: r.body() };
}

describe("startup-phase frames", () => {
  it("parses a hand-written StartupMessage", () => {
    const raw = Buffer.from([0, 0, 0, 33, 0, 3, 0, 0, ...Buffer.from("user\0bob\0database\0conn1\0"), 0]);
    expect(parseStartupFrame(one(raw, true).body)).toEqual({
      kind: "startup",
      major: 3,
      minor: 0,
      params: { user: "bob", database: "conn1" },
    });
    expect(frontend.startup({ user: "bob", database: "conn1" })).toEqual(raw);
  });

  it("recognizes SSLRequest, GSSENCRequest and CancelRequest", () => {
    expect(parseStartupFrame(one(Buffer.from([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]), true).body)).toEqual({
      kind: "ssl",
    });
    expect(parseStartupFrame(one(frontend.gssEncRequest(), true).body)).toEqual({ kind: "gssenc" });
    const cancel = Buffer.from([0, 0, 0, 16, 4, 0xd2, 0x16, 0x2e, 0, 0, 0x30, 0x39, 1, 2, 3, 4]);
    expect(parseStartupFrame(one(cancel, true).body)).toEqual({
      kind: "cancel",
      processId: 12345,
      secretKey: Buffer.from([1, 2, 3, 4]),
    });
    expect(frontend.cancelRequest(12345, Buffer.from([1, 2, 3, 4]))).toEqual(cancel);
  });

  it("accepts protocol 3.2 cancel keys up to 256 bytes and rejects others", () => {
    const long = frontend.cancelRequest(7, Buffer.alloc(256, 9));
    expect(parseStartupFrame(one(long, true).body)).toMatchObject({ kind: "cancel", processId: 7 });
    expect(() => parseStartupFrame(one(frontend.cancelRequest(7, Buffer.alloc(257)), true).body)).toThrow(
      ProtocolError,
    );
    expect(() => parseStartupFrame(one(frontend.cancelRequest(7, Buffer.alloc(3)), true).body)).toThrow(
      /cancel key of 3 bytes/,
    );
  });

  it("rejects an unterminated parameter list", () => {
    const raw = Buffer.from([0, 0, 0, 14, 0, 3, 0, 0, ...Buffer.from("user\0b")]);
    expect(() => parseStartupFrame(one(raw, true).body)).toThrow(
      /malformed startup message: unterminated string/,
    );
  });
});

describe("typed frontend messages", () => {
  it("round-trips Query, Parse, Bind and Execute", () => {
    expect(parseFrontendMessage(0x51, one(frontend.query("select 1")).body)).toEqual({
      type: "query",
      text: "select 1",
    });
    const parse = { name: "s1", text: "select $1::int", paramTypes: [23, 4294967295] };
    expect(parseParse(one(frontend.parse(parse)).body)).toEqual(parse);
    const bind = {
      portal: "p",
      statement: "s1",
      paramFormats: [0, 1],
      values: [Buffer.from("42"), null],
      resultFormats: [1],
    };
    expect(parseBind(one(frontend.bind(bind)).body)).toEqual(bind);
    expect(parseExecute(one(frontend.execute("p", 10)).body)).toEqual({ portal: "p", maxRows: 10 });
  });

  it("parses a hand-written Bind with a NULL parameter", () => {
    const body = Buffer.from([0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0x37, 0xff, 0xff, 0xff, 0xff, 0, 0]);
    const raw = Buffer.concat([Buffer.from([0x42, 0, 0, 0, 4 + body.length]), body]);
    expect(parseBind(one(raw).body)).toEqual({
      portal: "",
      statement: "",
      paramFormats: [],
      values: [Buffer.from("7"), null],
      resultFormats: [],
    });
  });

  it("round-trips Describe, Close, Sync, Flush, Copy messages and Terminate", () => {
    const cases: [Buffer, unknown][] = [
      [frontend.describe("S", "s1"), { type: "describe", target: "S", name: "s1" }],
      [frontend.close("P", ""), { type: "close", target: "P", name: "" }],
      [frontend.sync(), { type: "sync" }],
      [frontend.flush(), { type: "flush" }],
      [frontend.copyData(Buffer.from("1\t2\n")), { type: "copyData", data: Buffer.from("1\t2\n") }],
      [frontend.copyDone(), { type: "copyDone" }],
      [frontend.copyFail("nope"), { type: "copyFail", message: "nope" }],
      [frontend.terminate(), { type: "terminate" }],
    ];
    for (const [frame, msg] of cases) {
      const { type, body } = one(frame);
      expect(parseFrontendMessage(type, body)).toEqual(msg);
    }
  });

  it("round-trips password and SASL messages", () => {
    expect(parsePasswordMessage(one(frontend.password("s3cret")).body)).toBe("s3cret");
    expect(
      parseSASLInitialResponse(one(frontend.saslInitialResponse("SCRAM-SHA-256", "n,,n=,r=abc")).body),
    ).toEqual({
      mechanism: "SCRAM-SHA-256",
      data: Buffer.from("n,,n=,r=abc"),
    });
  });

  it("rejects a Bind whose parameter count overruns the body", () => {
    const body = Buffer.from([0, 0, 0, 0, 0x7f, 0xff, 0, 0]);
    expect(() => parseBind(body)).toThrow(/count 32767 does not fit/);
  });

  it("never throws anything but ProtocolError on random bodies", () => {
    const types = [0x42, 0x43, 0x44, 0x45, 0x48, 0x50, 0x51, 0x53, 0x58, 0x63, 0x64, 0x66, 0x70, 0x01];
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.uint8Array({ maxLength: 80 }), (type, body) => {
        try {
          parseFrontendMessage(type, Buffer.from(body));
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError);
        }
        try {
          parseStartupFrame(Buffer.from(body));
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("never throws anything but ProtocolError on truncated valid messages", () => {
    const frames = [
      frontend.bind({
        statement: "s",
        paramFormats: [1],
        values: [Buffer.from([1, 2]), null],
        resultFormats: [0],
      }),
      frontend.parse({ name: "n", text: "select $1", paramTypes: [25] }),
      frontend.execute("p", 5),
      frontend.describe("P", "x"),
    ];
    for (const f of frames) {
      const { type, body } = one(f);
      for (let i = 0; i < body.length; i++) {
        expect(() => parseFrontendMessage(type, body.subarray(0, i))).toThrow(ProtocolError);
      }
    }
  });
});
