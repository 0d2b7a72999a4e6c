import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ColumnDefinition, parseColumnDefinition, serializeColumnDefinition } from "./column-definition";
import { Capability, ColumnType, ServerStatus } from "./constants";
import { ProtocolError } from "./errors";
import {
  isEofPacket,
  parseEof,
  parseErr,
  parseOk,
  serializeEof,
  serializeErr,
  serializeOk,
} from "./generic-packets";
import { PayloadReader } from "./payload-reader";
import { lenencInt, PayloadWriter } from "./payload-writer";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

describe("length-encoded integers and strings", () => {
  it("encodes each width as the protocol documents", () => {
    expect(lenencInt(250).toString("hex")).toBe("fa");
    expect(lenencInt(251).toString("hex")).toBe("fcfb00");
    expect(lenencInt(0xffff).toString("hex")).toBe("fcffff");
    expect(lenencInt(0x10000).toString("hex")).toBe("fd000001");
    expect(lenencInt(0x1000000).toString("hex")).toBe("fe0000000100000000");
  });

  it("reads NULL (0xFB) and refuses the invalid 0xFF prefix", () => {
    expect(new PayloadReader(hex("fb")).lenencIntOrNull()).toBeNull();
    expect(() => new PayloadReader(hex("ff")).lenencInt()).toThrowError(ProtocolError);
    expect(() => new PayloadReader(hex("fc01")).lenencInt()).toThrowError(/truncated/);
  });

  it("property: lenenc ints and strings and NUL strings round-trip", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.uint8Array({ maxLength: 600 }),
        fc.string(),
        (n, bytes, s) => {
          const clean = s.replaceAll("\0", "");
          const buf = new PayloadWriter()
            .lenencInt(n)
            .lenencBytes(Buffer.from(bytes))
            .nulString(clean)
            .build();
          const r = new PayloadReader(buf);
          expect(r.lenencBigInt()).toBe(n);
          expect([...r.lenencBytes()]).toEqual([...bytes]);
          expect(r.nulString()).toBe(clean);
          expect(r.atEnd()).toBe(true);
        },
      ),
    );
  });

  it("bounds NUL strings", () => {
    expect(() => new PayloadReader(Buffer.from("abcdef\0")).nulString(3)).toThrowError(/too long/);
    expect(() => new PayloadReader(Buffer.from("abc")).nulString()).toThrowError(/missing its NUL/);
  });
});

describe("OK, ERR and EOF packets", () => {
  it("parses a hand-built OK with affected rows, insert id, status and info", () => {
    const ok = parseOk(hex("00 03 fc e803 0200 0100"), 0);
    expect(ok).toMatchObject({ affectedRows: 3n, lastInsertId: 1000n, status: 2, warnings: 1, info: "" });
    const withInfo = parseOk(Buffer.concat([hex("00 01 00 0200 0000"), Buffer.from("Rows matched: 1")]), 0);
    expect(withInfo.info).toBe("Rows matched: 1");
  });

  it("parses an OK with session-track info when CLIENT_SESSION_TRACK is on", () => {
    const payload = Buffer.concat([hex("00 00 00 0240 0000 02"), Buffer.from("hi"), hex("03 010102")]);
    const ok = parseOk(payload, Capability.SESSION_TRACK);
    expect(ok.info).toBe("hi");
    expect(ok.sessionState?.toString("hex")).toBe("010102");
  });

  it("round-trips OK and ERR", () => {
    const ok = serializeOk(
      { affectedRows: 5, lastInsertId: 7, status: ServerStatus.AUTOCOMMIT, info: "x" },
      0,
    );
    expect(ok.toString("hex")).toBe("0005070200000078");
    const err = serializeErr({ errorCode: 1142, sqlState: "42000", message: "denied" });
    expect(err.toString("hex")).toBe(`ff7604233432303030${Buffer.from("denied").toString("hex")}`);
    expect(parseErr(err)).toEqual({ errorCode: 1142, sqlState: "42000", message: "denied" });
    expect(parseErr(hex("ff1504")).sqlState).toBe("HY000");
  });

  it("tells EOF from rows with and without CLIENT_DEPRECATE_EOF", () => {
    const eof = serializeEof({ warnings: 0, status: ServerStatus.MORE_RESULTS_EXISTS | 2 });
    expect(eof.toString("hex")).toBe("fe00000a00");
    expect(isEofPacket(eof, false)).toBe(true);
    expect(parseEof(eof, 0).status).toBe(0x0a);
    const okEof = serializeOk({ header: 0xfe, status: 0x22 }, 0);
    expect(isEofPacket(okEof, true)).toBe(true);
    expect(parseEof(okEof, Capability.DEPRECATE_EOF).status).toBe(0x22);
    expect(isEofPacket(Buffer.concat([hex("fe"), Buffer.alloc(20)]), false)).toBe(false);
    expect(isEofPacket(hex("0161"), true)).toBe(false);
  });
});

describe("column definitions", () => {
  const col: ColumnDefinition = {
    catalog: "def",
    schema: "shop",
    table: "c",
    orgTable: "customers",
    name: "mail",
    orgName: "email",
    charset: 45,
    columnLength: 1020,
    type: ColumnType.VAR_STRING,
    flags: 0,
    decimals: 0,
  };

  it("matches a hand-built ColumnDefinition41 and round-trips", () => {
    const bytes = serializeColumnDefinition(col);
    const expected = Buffer.concat([
      hex("03"),
      Buffer.from("def"),
      hex("04"),
      Buffer.from("shop"),
      hex("01"),
      Buffer.from("c"),
      hex("09"),
      Buffer.from("customers"),
      hex("04"),
      Buffer.from("mail"),
      hex("05"),
      Buffer.from("email"),
      hex("0c 2d00 fc030000 fd 0000 00 0000"),
    ]);
    expect(bytes.equals(expected)).toBe(true);
    expect(parseColumnDefinition(bytes)).toEqual(col);
  });
});
