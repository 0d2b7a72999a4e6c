import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseBackendMessage, parseNoticeFields, parseRowDescription } from "./backend-messages";
import { backend, errorFrame } from "./backend-serializer";
import { DataRowReader, serializeDataRow } from "./data-row";
import { ProtocolError } from "./errors";
import { FrameReader } from "./frame-reader";

function one(frame: Buffer): { type: number; body: Buffer } {
  const r = new FrameReader();
  r.push(frame);
  expect(r.next()).toBe(true);
  return { type: r.type, body: r.body() };
}

function parse(frame: Buffer) {
  const { type, body } = one(frame);
  return parseBackendMessage(type, body);
}

describe("backend messages", () => {
  it("parses hand-written authentication requests", () => {
    expect(parse(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]))).toEqual({
      type: "authentication",
      auth: { code: 0 },
    });
    const md5 = Buffer.from([0x52, 0, 0, 0, 12, 0, 0, 0, 5, 1, 2, 3, 4]);
    expect(parse(md5)).toEqual({
      type: "authentication",
      auth: { code: 5, salt: Buffer.from([1, 2, 3, 4]) },
    });
    expect(backend.authenticationMD5Password(Buffer.from([1, 2, 3, 4]))).toEqual(md5);
    const sasl = Buffer.from([0x52, 0, 0, 0, 23, 0, 0, 0, 10, ...Buffer.from("SCRAM-SHA-256\0\0")]);
    expect(parse(sasl)).toEqual({
      type: "authentication",
      auth: { code: 10, mechanisms: ["SCRAM-SHA-256"] },
    });
    expect(backend.authenticationSASL(["SCRAM-SHA-256"])).toEqual(sasl);
  });

  it("round-trips the messages the proxy synthesizes", () => {
    expect(parse(backend.authenticationOk())).toEqual({ type: "authentication", auth: { code: 0 } });
    expect(parse(backend.authenticationCleartextPassword())).toEqual({
      type: "authentication",
      auth: { code: 3 },
    });
    expect(parse(backend.authenticationSASLContinue("r=x"))).toEqual({
      type: "authentication",
      auth: { code: 11, data: Buffer.from("r=x") },
    });
    expect(parse(backend.parameterStatus("TimeZone", "UTC"))).toEqual({
      type: "parameterStatus",
      name: "TimeZone",
      value: "UTC",
    });
    const key = { processId: 4242, secretKey: Buffer.from([9, 8, 7, 6]) };
    expect(parse(backend.backendKeyData(key))).toEqual({ type: "backendKeyData", ...key });
    expect(parse(backend.readyForQuery("T"))).toEqual({ type: "readyForQuery", status: "T" });
    expect(parse(backend.commandComplete("SELECT 3"))).toEqual({ type: "commandComplete", tag: "SELECT 3" });
    expect(parse(backend.noticeResponse({ S: "NOTICE", M: "hi" }))).toEqual({
      type: "noticeResponse",
      fields: { S: "NOTICE", M: "hi" },
    });
  });

  it("serializes an ErrorResponse byte for byte", () => {
    const expected = Buffer.from([0x45, 0, 0, 0, 30, ...Buffer.from("SFATAL\0VFATAL\0C28P01\0Mno\0"), 0]);
    expect(errorFrame("28P01", "no")).toEqual(expected);
    expect(parseNoticeFields(one(expected).body)).toEqual({ S: "FATAL", V: "FATAL", C: "28P01", M: "no" });
  });

  it("round-trips RowDescription", () => {
    const fields = [
      { name: "id", tableOid: 16384, columnAttr: 1, typeOid: 23, typeSize: 4, typeModifier: -1, format: 0 },
      {
        name: "é",
        tableOid: 0,
        columnAttr: 0,
        typeOid: 3000000000,
        typeSize: -1,
        typeModifier: 12,
        format: 1,
      },
    ];
    expect(parseRowDescription(one(backend.rowDescription(fields)).body)).toEqual(fields);
  });

  it("reads DataRow values including NULL and empty strings", () => {
    const raw = Buffer.from([0x44, 0, 0, 0, 19, 0, 3, 0, 0, 0, 1, 0x61, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    expect(serializeDataRow(["a", null, ""])).toEqual(raw);
    const row = new DataRowReader().reset(one(raw).body);
    expect(row.columnCount).toBe(3);
    expect(row.toTextArray()).toEqual(["a", null, ""]);
    expect(row.isNull(1)).toBe(true);
    expect(row.bytes(0)).toEqual(Buffer.from("a"));
    expect(() => row.text(3)).toThrow(RangeError);
  });

  it("rejects DataRow bodies whose lengths overrun", () => {
    const r = new DataRowReader();
    expect(() => r.reset(Buffer.from([0, 1, 0, 0, 0, 9, 1]))).toThrow(ProtocolError);
    expect(() => r.reset(Buffer.from([0, 1, 0xff, 0xff, 0xff, 0xfe]))).toThrow(/length -2/);
  });

  it("never throws anything but ProtocolError on random bodies", () => {
    const types = [0x52, 0x53, 0x4b, 0x54, 0x43, 0x45, 0x4e, 0x5a, 0x44];
    const rows = new DataRowReader();
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.uint8Array({ maxLength: 80 }), (type, body) => {
        try {
          parseBackendMessage(type, Buffer.from(body));
          if (type === 0x44) rows.reset(Buffer.from(body));
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
