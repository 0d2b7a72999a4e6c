import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSpool } from "@sluice/recording";
import { describe, expect, it } from "vitest";
import { millis } from "../../core/json-numbers";
import type { PgRecordedResult } from "./pg-proxy-types";
import { createPgRecorder, resultJson, statementJson } from "./pg-recorder";

// Strings JSON must escape or encode specially: quotes, backslashes, control characters,
// non-ASCII, astral characters and lone surrogates.
const texts = [
  "",
  "SELECT 1",
  'say "hi"',
  "back\\slash",
  "tab\tnew\nline\u0000nul\u001f",
  "é ü 中文",
  "😀",
  "\ud800lone",
  "end\udfff",
];
const values: (string | null)[] = [null, ...texts];

function* statements() {
  for (const text of texts) {
    yield { kind: "query" as const, text };
    yield { kind: "execute" as const, text, params: values.slice(0, 3) };
    yield { kind: "execute" as const, text, params: [], statementName: text };
  }
}

function* results(): Generator<PgRecordedResult> {
  const durations = [0, 0.001, 0.5, 12.345, 1e7 / 3];
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i]!;
    const base = { rowCount: i, truncated: i % 2 === 0, durationMs: durations[i % durations.length]! };
    yield { ...base, rows: [[text, null]], command: text };
    yield { ...base, columns: [{ name: text, typeOid: 25 }], rows: [values, [text]], command: `SELECT ${i}` };
    yield { ...base, rows: [], error: { code: "42P01", message: text } };
  }
}

describe("pg recorder payloads", () => {
  it("encode statements and results to the JSON that JSON.stringify writes", () => {
    for (const ev of statements()) expect(statementJson(ev)).toBe(JSON.stringify(ev));
    for (const ev of results()) {
      const columns = ev.columns === undefined ? undefined : JSON.stringify(ev.columns);
      expect(JSON.parse(resultJson(ev, columns))).toEqual(JSON.parse(JSON.stringify(ev)));
    }
  });

  it("writes durations that parse back to the same number", () => {
    for (const ms of [0, 0.001, 0.01, 0.1, 0.12, 0.123, 1, 1.005, 12.5, 1000, 123456.789]) {
      expect(Number(millis(ms))).toBe(ms);
    }
    expect(millis(0.12)).toBe("0.12");
    expect(millis(7.005)).toBe("7.005");
    expect(millis(Number.NaN)).toBe("null");
  });

  it("records a session through the spool as the events it was given", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sluice-pg-recorder-"));
    try {
      const spool = await createSpool({ dir });
      const rec = createPgRecorder({
        record: (kind, payload) => void spool.append("s1", kind, payload),
        commit: () => spool.writeSync(),
        started: () => undefined,
        end: async () => undefined,
      });
      const columns = [{ name: "note", typeOid: 25 }];
      const statement = { kind: "execute" as const, text: 'SELECT $1 -- "é"', params: ["x\n", null] };
      const first: PgRecordedResult = {
        columns,
        rows: [["a\u0000b"]],
        rowCount: 1,
        truncated: false,
        command: "SELECT 1",
        durationMs: 0.25,
      };
      const second: PgRecordedResult = {
        columns,
        rows: [],
        rowCount: 0,
        truncated: false,
        durationMs: 3,
        error: { code: "22P02", message: "bad" },
      };
      rec.statement(statement);
      rec.result(first);
      rec.result(second);
      rec.notice?.({ message: "hi" });
      await spool.flush();
      const { events } = await spool.read("s1", 0, 1 << 20);
      expect(events.map((e) => e.kind)).toEqual(["pg.statement", "pg.result", "pg.result", "pg.notice"]);
      expect(events.map((e) => JSON.parse(e.payloadJson))).toEqual([
        statement,
        first,
        second,
        { message: "hi" },
      ]);
      await spool.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
