import { ColumnType, type CommandSummary, encodeTextRow, simpleColumn } from "@sluice/mysql-wire";
import { EncodedPayload } from "@sluice/recording";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createMysqlRecorder, resultJson, STATEMENT_COMMIT_MS, statementJson } from "./mysql-recorder";

const texts = [
  "",
  "SELECT 1",
  'say "hi"',
  "back\\slash",
  "tab\tnew\nline\u0000nul",
  "é 中文 😀",
  "\ud800lone",
];

function summary(over: Partial<CommandSummary> = {}): CommandSummary {
  return {
    commandNumber: 1,
    command: "COM_QUERY",
    outcome: "ok",
    resultSets: 1,
    rows: 2,
    affectedRows: 3n,
    lastInsertId: 0n,
    warnings: 0,
    maskedCells: 0,
    bytesToClient: 10,
    durationMs: 0.1234567,
    heldMs: 0,
    ...over,
  };
}

/** What the recorder appended, decoded as the spool would store it. */
function recording() {
  const events: { kind: string; payload: unknown }[] = [];
  const commits: number[] = [];
  const session = {
    record(kind: string, payload: Record<string, unknown>) {
      const json = payload instanceof EncodedPayload ? payload.json : JSON.stringify(payload);
      events.push({ kind, payload: JSON.parse(json) });
    },
  };
  return { events, commits, session, commit: () => commits.push(events.length) };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("MySQL recorder payloads", () => {
  it("encode statements as JSON.stringify writes them", () => {
    for (const text of texts) {
      expect(statementJson("query", text)).toBe(JSON.stringify({ kind: "query", text }));
      const params = [null, text, "7"];
      expect(statementJson("execute", text, 42, params)).toBe(
        JSON.stringify({ kind: "execute", text, statementId: 42, params }),
      );
    }
  });

  it("encode results as JSON.stringify writes them", () => {
    for (const text of texts) {
      for (const durationMs of [0, 0.001, 0.5, 12.3456789, 1e7 / 3]) {
        const s = summary({ durationMs, error: { errorCode: 1146, sqlState: "42S02", message: text } });
        const columns = [{ name: text, type: ColumnType.VAR_STRING }];
        const rows = [[text, null]];
        expect(JSON.parse(resultJson(s, JSON.stringify(columns), rows, true))).toEqual({
          columns,
          rows,
          rowCount: 2,
          affectedRows: 3,
          truncated: true,
          durationMs: Math.round(durationMs * 1000) / 1000,
          error: { code: "1146", message: text },
        });
      }
    }
  });
});

describe("MySQL recorder", () => {
  const cols = [simpleColumn("id", ColumnType.LONG), simpleColumn("name", ColumnType.VAR_STRING)];

  it("records a quick statement together with its result, in order, with rows up to the cap", () => {
    const r = recording();
    const rec = createMysqlRecorder(r.session, 1, r.commit);
    rec.statement("query", "SELECT id, name FROM t");
    expect(r.events).toEqual([]);
    rec.row(encodeTextRow(["1", "Ann"]), cols, false);
    rec.row(encodeTextRow(["2", null]), cols, false);
    rec.end(summary());
    expect(r.events.map((e) => e.kind)).toEqual(["mysql.statement", "mysql.result"]);
    expect(r.events[0]?.payload).toEqual({ kind: "query", text: "SELECT id, name FROM t" });
    expect(r.events[1]?.payload).toMatchObject({
      columns: [
        { name: "id", type: ColumnType.LONG },
        { name: "name", type: ColumnType.VAR_STRING },
      ],
      rows: [["1", "Ann"]],
      rowCount: 2,
      truncated: true,
    });
    rec.close();
  });

  it("appends and commits a statement still unanswered after a few milliseconds", () => {
    vi.useFakeTimers();
    const r = recording();
    const rec = createMysqlRecorder(r.session, 10, r.commit);
    rec.statement("query", "SELECT sleep(10)");
    vi.advanceTimersByTime(STATEMENT_COMMIT_MS - 1);
    expect(r.events).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(r.events.map((e) => e.kind)).toEqual(["mysql.statement"]);
    expect(r.commits).toEqual([1]);
    rec.end(summary());
    expect(r.events.map((e) => e.kind)).toEqual(["mysql.statement", "mysql.result"]);
    vi.advanceTimersByTime(STATEMENT_COMMIT_MS * 2);
    expect(r.commits).toEqual([1]);
    rec.close();
  });

  it("appends a statement still held when the session ends", () => {
    vi.useFakeTimers();
    const r = recording();
    const rec = createMysqlRecorder(r.session, 10, r.commit);
    rec.execute(3, "SELECT ?", [{ type: ColumnType.LONG, unsigned: false, value: 5n }]);
    rec.close();
    expect(r.events).toEqual([
      {
        kind: "mysql.statement",
        payload: { kind: "execute", text: "SELECT ?", statementId: 3, params: ["5"] },
      },
    ]);
    vi.advanceTimersByTime(STATEMENT_COMMIT_MS * 2);
    expect(r.events).toHaveLength(1);
  });
});
