import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { serializeColumnDefinition, simpleColumn } from "./column-definition";
import { serializePrepareOk } from "./commands";
import { Capability, ColumnType, ServerStatus } from "./constants";
import { serializeEof, serializeErr, serializeOk } from "./generic-packets";
import { isKillStatement, parseKillStatement } from "./kill-statement";
import { ResponseTracker } from "./response-tracker";
import { maskBinaryRow, maskTextRow } from "./row-masking";
import { encodeBinaryRow, encodeTextRow } from "./rows";

const col = (name: string, type: number = ColumnType.VAR_STRING) =>
  serializeColumnDefinition(simpleColumn(name, type));
const DE = Capability.DEPRECATE_EOF;

function kinds(caps: number, shape: Parameters<ResponseTracker["start"]>[0], packets: Buffer[]): string[] {
  const t = new ResponseTracker(caps);
  t.start(shape);
  const out = packets.map((p) => t.classify(p).kind as string);
  out.push(t.done ? "done" : "open");
  return out;
}

describe("ResponseTracker", () => {
  const row = encodeTextRow(["1", null]);
  it("hands back the same columns for a result set whose column definitions repeat", () => {
    const t = new ResponseTracker(DE);
    const end = serializeOk({ header: 0xfe, status: 2 }, DE);
    const run = (...defs: Buffer[]) => {
      t.start("result");
      for (const p of [Buffer.from([defs.length]), ...defs, end]) t.classify(p);
      return t.columns;
    };
    const first = run(col("a"), col("b"));
    expect(first.map((c) => c.name)).toEqual(["a", "b"]);
    expect(run(col("a"), col("b"))).toBe(first);
    const other = run(col("a"), col("c"));
    expect(other).not.toBe(first);
    expect(other.map((c) => c.name)).toEqual(["a", "c"]);
    expect(run(col("a")).map((c) => c.name)).toEqual(["a"]);
    expect(run(col("a"), col("c"))).not.toBe(other);
  });

  it("follows a classic result set: count, columns, EOF, rows, EOF", () => {
    const eof = serializeEof({ warnings: 0, status: 2 });
    expect(kinds(0, "result", [Buffer.from([2]), col("a"), col("b"), eof, row, row, eof])).toEqual([
      "column_count",
      "column",
      "column",
      "columns_eof",
      "row",
      "row",
      "result_end",
      "done",
    ]);
  });

  it("follows a CLIENT_DEPRECATE_EOF result set ending with OK-as-EOF, and a binary row starting with 0x00", () => {
    const end = serializeOk({ header: 0xfe, status: 2 }, DE);
    const binRow = encodeBinaryRow([5n], [{ type: ColumnType.LONG, flags: 0 }]);
    expect(kinds(DE, "result", [Buffer.from([1]), col("n", ColumnType.LONG), binRow, end])).toEqual([
      "column_count",
      "column",
      "row",
      "result_end",
      "done",
    ]);
  });

  it("chains results while SERVER_MORE_RESULTS_EXISTS is set (CALL)", () => {
    const more = serializeOk({ header: 0xfe, status: ServerStatus.MORE_RESULTS_EXISTS }, DE);
    const finalOk = serializeOk({ status: 2 }, DE);
    expect(kinds(DE, "result", [Buffer.from([1]), col("a"), row.subarray(0, 2), more, finalOk])).toEqual([
      "column_count",
      "column",
      "row",
      "result_end",
      "ok",
      "done",
    ]);
  });

  it("ends on an ERR in the middle of rows", () => {
    const err = serializeErr({ errorCode: 1317, sqlState: "70100", message: "interrupted" });
    expect(kinds(DE, "result", [Buffer.from([1]), col("a"), row.subarray(0, 2), err])).toEqual([
      "column_count",
      "column",
      "row",
      "err",
      "done",
    ]);
  });

  it("follows a prepare response with params and columns, with and without EOFs", () => {
    const ok = serializePrepareOk({ statementId: 1, numColumns: 1, numParams: 2, warnings: 0 });
    const eof = serializeEof({ warnings: 0, status: 2 });
    expect(kinds(0, "prepare", [ok, col("?"), col("?"), eof, col("a"), eof])).toEqual([
      "prepare_ok",
      "param",
      "param",
      "columns_eof",
      "column",
      "columns_eof",
      "done",
    ]);
    expect(kinds(DE, "prepare", [ok, col("?"), col("?"), col("a")])).toEqual([
      "prepare_ok",
      "param",
      "param",
      "column",
      "done",
    ]);
  });

  it("sees a LOAD DATA LOCAL request and then the server's OK", () => {
    const t = new ResponseTracker(DE);
    t.start("result");
    expect(t.classify(Buffer.from("\xfb/etc/passwd", "latin1"))).toEqual({
      kind: "local_infile",
      fileName: "/etc/passwd",
    });
    t.awaitInfileResult();
    expect(t.classify(serializeOk({ affectedRows: 3 }, DE)).kind).toBe("ok");
    expect(t.done).toBe(true);
  });

  it("ends a cursor-opening execute at the EOF carrying SERVER_STATUS_CURSOR_EXISTS", () => {
    const eof = serializeEof({ warnings: 0, status: ServerStatus.CURSOR_EXISTS | 2 });
    expect(kinds(0, "result", [Buffer.from([1]), col("a"), eof])).toEqual([
      "column_count",
      "column",
      "result_end",
      "done",
    ]);
  });
});

describe("row masking", () => {
  const columns = [simpleColumn("id", ColumnType.LONG), simpleColumn("email")];
  const masker = new Map([[1, (v: Buffer) => `<${v.length}>`]]);

  it("keeps the same bytes when nothing changes and re-encodes when a value changes length", () => {
    const row = encodeTextRow(["1", "a@b.c"]);
    const keep = maskTextRow(row, columns, new Map([[1, (v: Buffer) => v]]));
    expect(keep.payload).toBe(row);
    const masked = maskTextRow(row, columns, masker);
    expect(masked.payload.equals(encodeTextRow(["1", "<5>"]))).toBe(true);
    expect(masked.maskedCells).toBe(1);
  });

  it("masks binary rows through the text form and NULLs replacements that do not fit the type", () => {
    const row = encodeBinaryRow([7n, Buffer.from("a@b.c")], columns);
    const masked = maskBinaryRow(row, columns, masker);
    expect(masked.payload.equals(encodeBinaryRow([7n, Buffer.from("<5>")], columns))).toBe(true);
    const bad = maskBinaryRow(row, columns, new Map([[0, () => "secret"]]));
    expect(bad.payload.equals(encodeBinaryRow([null, Buffer.from("a@b.c")], columns))).toBe(true);
    const thrown = maskTextRow(
      encodeTextRow(["1", "x"]),
      columns,
      new Map([
        [
          1,
          () => {
            throw new Error("boom");
          },
        ],
      ]),
    );
    expect(thrown.payload.equals(encodeTextRow(["1", null]))).toBe(true);
  });
});

describe("KILL statements", () => {
  it("parses the forms the mysql and mariadb CLIs send and rebuilds them for another id", () => {
    const k = parseKillStatement("KILL QUERY 123");
    expect(k).toMatchObject({ kind: "query", connectionId: 123 });
    expect(k!.withId(9)).toBe("KILL QUERY 9");
    expect(parseKillStatement("kill 5;")?.withId(6)).toBe("KILL 6");
    expect(parseKillStatement("KILL HARD CONNECTION ID 5")?.withId(6)).toBe("KILL HARD CONNECTION ID 6");
    expect(parseKillStatement("KILL USER bob")).toBeUndefined();
    expect(isKillStatement("  kill user bob")).toBe(true);
    expect(isKillStatement("select 'kill'")).toBe(false);
  });
});

describe("properties", () => {
  const cell = fc.option(
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    { nil: null },
  );

  it("a tracker finds every row and the end of any chain of result sets, with or without EOF packets", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(
          fc.tuple(
            fc.integer({ min: 1, max: 4 }),
            fc.array(fc.array(cell, { minLength: 4, maxLength: 4 }), { maxLength: 20 }),
          ),
          {
            minLength: 1,
            maxLength: 4,
          },
        ),
        (deprecate, results) => {
          const caps = deprecate ? DE : 0;
          const packets: Buffer[] = [];
          results.forEach(([n, rows], i) => {
            const status = i < results.length - 1 ? ServerStatus.MORE_RESULTS_EXISTS : 0;
            packets.push(Buffer.from([n]));
            for (let c = 0; c < n; c++) packets.push(col(`c${c}`));
            if (!deprecate) packets.push(serializeEof({ warnings: 0, status: 0 }));
            for (const r of rows) packets.push(encodeTextRow(r.slice(0, n)));
            packets.push(
              deprecate ? serializeOk({ header: 0xfe, status }, DE) : serializeEof({ warnings: 0, status }),
            );
          });
          const t = new ResponseTracker(caps);
          t.start("result");
          const seen = packets.map((p) => t.classify(p).kind);
          expect(seen.filter((k) => k === "row")).toHaveLength(
            results.reduce((a, [, rows]) => a + rows.length, 0),
          );
          expect(seen.filter((k) => k === "result_end")).toHaveLength(results.length);
          expect(t.done).toBe(true);
        },
      ),
    );
  });

  it("masking a text row re-encodes exactly the masked cells", () => {
    fc.assert(
      fc.property(
        fc.array(cell, { minLength: 1, maxLength: 8 }),
        fc.string({ maxLength: 400 }),
        fc.nat(7),
        (cells, replacement, which) => {
          const columns = cells.map((_, i) => simpleColumn(`c${i}`));
          const idx = which % cells.length;
          const row = encodeTextRow(cells);
          const masked = maskTextRow(row, columns, new Map([[idx, () => replacement]]));
          const expected = cells.map((c, i) => (i === idx && c !== null ? Buffer.from(replacement) : c));
          expect(masked.payload.equals(encodeTextRow(expected))).toBe(true);
          const same = cells[idx] === null || cells[idx]!.equals(Buffer.from(replacement));
          expect(masked.payload === row).toBe(same);
        },
      ),
    );
  });
});
