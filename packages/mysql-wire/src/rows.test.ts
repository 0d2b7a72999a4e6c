import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { BinaryValue } from "./binary-values";
import { decodeCommand, decodeExecuteParams, parsePrepareOk, serializePrepareOk } from "./commands";
import { ColumnFlag, ColumnType } from "./constants";
import { decodeBinaryRow, decodeTextRow, encodeBinaryRow, encodeTextRow, type RowColumn } from "./rows";
import { binaryValueToText, textToBinaryValue } from "./value-text";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

describe("text rows", () => {
  it("decodes a hand-built row with a NULL and re-encodes it to the same bytes", () => {
    const row = hex("01 31 fb 03 616263");
    const cells = decodeTextRow(row, 3);
    expect(cells.map((c) => c?.toString() ?? null)).toEqual(["1", null, "abc"]);
    expect(encodeTextRow(cells).equals(row)).toBe(true);
  });

  it("re-encodes a value whose length crosses a length-prefix width", () => {
    const cells = [Buffer.alloc(300, 0x78), null];
    const row = encodeTextRow(cells);
    expect(row.subarray(0, 3).toString("hex")).toBe("fc2c01");
    expect(decodeTextRow(row, 2)[0]!.length).toBe(300);
  });
});

const cols = (types: number[], flags = 0): RowColumn[] => types.map((type) => ({ type, flags }));

describe("binary rows", () => {
  it("decodes a hand-built row: NULL bitmap offset 2, INT, NULL, VARCHAR, DATETIME, TIME, DOUBLE", () => {
    const columns = cols([
      ColumnType.LONG,
      ColumnType.VAR_STRING,
      ColumnType.VAR_STRING,
      ColumnType.DATETIME,
      ColumnType.TIME,
      ColumnType.DOUBLE,
    ]);
    // bitmap: column 1 NULL -> bit 3 -> 0x08
    const row = Buffer.concat([
      hex("00 08"),
      hex("feffffff"),
      hex("02 6869"),
      hex("07 e807 0c 1f 17 3b 3a"),
      hex("08 01 01000000 02 03 04"),
      Buffer.from(new Float64Array([1.5]).buffer),
    ]);
    const values = decodeBinaryRow(row, columns);
    expect(values[0]).toBe(-2n);
    expect(values[1]).toBeNull();
    expect((values[2] as Buffer).toString()).toBe("hi");
    expect(binaryValueToText(values[3] as Exclude<BinaryValue, null>, columns[3]!).toString()).toBe(
      "2024-12-31 23:59:58",
    );
    expect(binaryValueToText(values[4] as Exclude<BinaryValue, null>, columns[4]!).toString()).toBe(
      "-26:03:04",
    );
    expect(values[5]).toBe(1.5);
    expect(encodeBinaryRow(values, columns).equals(row)).toBe(true);
  });

  it("respects UNSIGNED", () => {
    const columns = cols([ColumnType.TINY, ColumnType.LONGLONG], ColumnFlag.UNSIGNED);
    const row = hex("00 00 ff ffffffffffffffff");
    expect(decodeBinaryRow(row, columns)).toEqual([255n, 2n ** 64n - 1n]);
  });

  it("converts text forms back to binary values and refuses ones that do not fit", () => {
    const int: RowColumn = { type: ColumnType.LONG, flags: 0 };
    expect(textToBinaryValue(Buffer.from("42"), int)).toBe(42n);
    expect(textToBinaryValue(Buffer.from("***"), int)).toBeUndefined();
    expect(textToBinaryValue(Buffer.from("2020-01-02"), { type: ColumnType.DATE, flags: 0 })).toMatchObject({
      year: 2020,
      month: 1,
      day: 2,
    });
    expect(textToBinaryValue(Buffer.from("x@y"), { type: ColumnType.BLOB, flags: 0 })).toEqual(
      Buffer.from("x@y"),
    );
    expect(() => encodeBinaryRow([300n], cols([ColumnType.TINY]))).toThrowError(RangeError);
  });

  it("property: rows of random typed values round-trip through encode/decode and text form", () => {
    const cell = fc.oneof(
      fc.constant<[number, BinaryValue]>([ColumnType.LONG, null]),
      fc
        .integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })
        .map<[number, BinaryValue]>((n) => [ColumnType.LONG, BigInt(n)]),
      fc
        .bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
        .map<[number, BinaryValue]>((n) => [ColumnType.LONGLONG, n]),
      fc
        .double({ noNaN: true, noDefaultInfinity: true })
        .map<[number, BinaryValue]>((n) => [ColumnType.DOUBLE, n]),
      fc.uint8Array({ maxLength: 300 }).map<[number, BinaryValue]>((b) => [ColumnType.BLOB, Buffer.from(b)]),
      fc
        .date({ min: new Date("1000-01-01"), max: new Date("9999-12-31"), noInvalidDate: true })
        .map<[number, BinaryValue]>((d) => [
          ColumnType.DATETIME,
          {
            kind: "datetime",
            year: d.getUTCFullYear(),
            month: d.getUTCMonth() + 1,
            day: d.getUTCDate(),
            hour: d.getUTCHours(),
            minute: d.getUTCMinutes(),
            second: d.getUTCSeconds(),
            microsecond: d.getUTCMilliseconds() * 1000,
          },
        ]),
    );
    fc.assert(
      fc.property(fc.array(cell, { maxLength: 20 }), (cells) => {
        const columns = cols(cells.map(([t]) => t));
        const values = cells.map(([, v]) => v);
        const decoded = decodeBinaryRow(encodeBinaryRow(values, columns), columns);
        expect(decoded).toEqual(values);
        decoded.forEach((v, i) => {
          if (v === null || typeof v === "number") return;
          const text = binaryValueToText(v, columns[i]!);
          expect(textToBinaryValue(text, columns[i]!)).toEqual(v);
        });
      }),
    );
  });
});

describe("commands", () => {
  it("decodes COM_QUERY, COM_INIT_DB, COM_PROCESS_KILL, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA", () => {
    expect(decodeCommand(Buffer.from("\x03select 1", "latin1"))).toEqual({ kind: "query", sql: "select 1" });
    expect(decodeCommand(Buffer.from("\x02shop", "latin1"))).toEqual({ kind: "init_db", schema: "shop" });
    expect(decodeCommand(hex("0c 2a000000"))).toEqual({ kind: "process_kill", connectionId: 42 });
    expect(decodeCommand(hex("19 07000000"))).toEqual({ kind: "stmt_close", statementId: 7 });
    expect(decodeCommand(hex("18 07000000 0100 6869"))).toMatchObject({
      kind: "stmt_send_long_data",
      statementId: 7,
      paramId: 1,
    });
    expect(decodeCommand(hex("1f"))).toEqual({ kind: "reset_connection" });
    expect(decodeCommand(hex("11 726f6f7400 00"))).toEqual({ kind: "change_user", user: "root" });
    expect(decodeCommand(hex("fa"))).toEqual({ kind: "other", code: 0xfa });
  });

  it("decodes COM_STMT_EXECUTE params with types, NULLs and reuse of earlier types", () => {
    // stmt 1, no cursor, iteration 1, 3 params: bitmap 0x02 (param 1 NULL), new-params-bound, LONGLONG, VAR_STRING, TINY unsigned
    const payload = hex("17 01000000 00 01000000 02 01 0800 fd00 0180 0500000000000000 ff");
    const cmd = decodeCommand(payload);
    expect(cmd).toMatchObject({ kind: "stmt_execute", statementId: 1, flags: 0, iterations: 1 });
    const d = decodeExecuteParams(payload, 3, undefined);
    expect(d.newParamsBound).toBe(true);
    expect(d.params.map((p) => p.value)).toEqual([5n, null, 255n]);
    const again = hex("17 01000000 00 01000000 00 00 0600000000000000 02 6869 01");
    expect(decodeExecuteParams(again, 3, d.types).params.map((p) => p.value)).toEqual([
      6n,
      Buffer.from("hi"),
      1n,
    ]);
    expect(() => decodeExecuteParams(again, 3, undefined)).toThrowError(/without parameter types/);
  });

  it("round-trips COM_STMT_PREPARE_OK", () => {
    const ok = { statementId: 9, numColumns: 2, numParams: 1, warnings: 0 };
    expect(serializePrepareOk(ok).toString("hex")).toBe("00090000000200010000000000".slice(0, 24));
    expect(parsePrepareOk(serializePrepareOk(ok))).toEqual(ok);
  });
});
