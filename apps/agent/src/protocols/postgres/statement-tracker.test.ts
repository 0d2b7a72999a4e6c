import { backend, frontend, serializeDataRow } from "@sluice/pg-wire";
import { describe, expect, it } from "vitest";
import { memoryRecorder } from "./pg-proxy.testing";
import { createStatementTracker } from "./statement-tracker";

const body = (frame: Buffer) => frame.subarray(5);
const field = (name: string, format = 0) => ({
  name,
  tableOid: 0,
  columnAttr: 0,
  typeOid: 25,
  typeSize: -1,
  typeModifier: -1,
  format,
});

function setup(limit = 2) {
  const recorder = memoryRecorder();
  let t = 0;
  const tracker = createStatementTracker(recorder, limit, () => (t += 1));
  const row = (values: (string | null)[]) => {
    const f = serializeDataRow(values);
    tracker.onDataRow(f, 5, f.length);
  };
  return { recorder, tracker, row };
}

describe("statement tracker", () => {
  it("records a simple query's statements and results in order", () => {
    const { recorder, tracker, row } = setup();
    tracker.onQuery(body(frontend.query("SELECT a FROM t; DELETE FROM t")));
    tracker.onRowDescription(body(backend.rowDescription([field("a")])));
    for (const v of ["1", "2", "3"]) row([v]);
    tracker.onCommandComplete(body(backend.commandComplete("SELECT 3")));
    tracker.onCommandComplete(body(backend.commandComplete("DELETE 7")));
    tracker.onReady();
    expect(recorder.events.map((e) => e.type)).toEqual(["statement", "result", "result"]);
    expect(recorder.events[1]?.ev).toMatchObject({ rows: [["1"], ["2"]], rowCount: 3, truncated: true });
    expect(recorder.events[2]?.ev).toMatchObject({ rows: [], rowCount: 7, command: "DELETE 7" });
    expect(recorder.events[2]?.ev.columns).toBeUndefined();
  });

  it("matches pipelined Executes to results and marks those skipped after an error", () => {
    const { recorder, tracker } = setup();
    tracker.onParse(body(frontend.parse({ name: "s", text: "SELECT $1::int" })));
    for (const v of ["1", "x", "3"]) {
      tracker.onBind(body(frontend.bind({ statement: "s", values: [Buffer.from(v)] })));
      tracker.onExecute(body(frontend.execute()));
    }
    tracker.onBind(
      body(frontend.bind({ statement: "s", paramFormats: [1], values: [Buffer.from([0, 0, 0, 4])] })),
    );
    tracker.onExecute(body(frontend.execute()));
    tracker.onSync();
    tracker.onCommandComplete(body(backend.commandComplete("SELECT 1")));
    tracker.onError(body(backend.errorResponse({ S: "ERROR", C: "22P02", M: "invalid input syntax" })));
    tracker.onReady();
    const statements = recorder.events.filter((e) => e.type === "statement").map((e) => e.ev.params);
    expect(statements).toEqual([["1"], ["x"], ["3"], ["base64:AAAABA=="]]);
    const results = recorder.events.filter((e) => e.type === "result").map((e) => e.ev.command ?? e.ev.error);
    expect(results).toEqual([
      "SELECT 1",
      { code: "22P02", message: "invalid input syntax" },
      { code: "", message: "not executed: an earlier message in the pipeline failed" },
      { code: "", message: "not executed: an earlier message in the pipeline failed" },
    ]);
  });

  it("records binary result columns as base64 and forgets closed statements", () => {
    const { recorder, tracker, row } = setup();
    tracker.onParse(body(frontend.parse({ name: "s", text: "SELECT 1" })));
    tracker.onClose(body(frontend.close("S", "s")));
    tracker.onBind(body(frontend.bind({ statement: "s", resultFormats: [1] })));
    tracker.onExecute(body(frontend.execute()));
    row(["\u0001", null]);
    tracker.onCommandComplete(body(backend.commandComplete("SELECT 1")));
    expect(recorder.events[0]?.ev).toMatchObject({ text: "" });
    expect(recorder.events[1]?.ev.rows).toEqual([["base64:AQ==", null]]);
  });

  it("counts rows that pass unread once the limit is reached", () => {
    const { recorder, tracker, row } = setup(1);
    tracker.onQuery(body(frontend.query("SELECT a FROM t")));
    expect(tracker.wantsRow()).toBe(true);
    row(["1"]);
    expect(tracker.wantsRow()).toBe(false);
    tracker.onRowPassed();
    tracker.onRowPassed();
    tracker.onError(body(backend.errorResponse({ S: "ERROR", C: "57014", M: "canceled" })));
    expect(recorder.events[1]?.ev).toMatchObject({ rows: [["1"]], rowCount: 3, truncated: true });
  });

  it("refuses a malformed DataRow", () => {
    const { tracker } = setup();
    tracker.onQuery(body(frontend.query("SELECT a FROM t")));
    const f = serializeDataRow(["abc"]);
    expect(() => tracker.onDataRow(f, 5, f.length - 1)).toThrow(/malformed DataRow message/);
    expect(() => tracker.onDataRow(Buffer.from([0, 1, 0, 0, 0, 9, 1]), 0, 7)).toThrow(/truncated bytes/);
  });

  it("refuses a Query or CommandComplete string that is unterminated or has a NUL inside", () => {
    const { tracker } = setup();
    const bytes = (s: string) => Buffer.from(s, "latin1");
    expect(() => tracker.onQuery(bytes("SELECT 1"))).toThrow(/malformed Query message/);
    expect(() => tracker.onQuery(bytes("SELECT\0 1\0"))).toThrow(/malformed Query message/);
    expect(() => tracker.onQuery(bytes(""))).toThrow(/malformed Query message/);
    tracker.onQuery(bytes("SELECT 1\0"));
    tracker.onCommandComplete(bytes("SELECT 1\0"));
    expect(() => tracker.onCommandComplete(bytes("SELECT\0 1\0"))).toThrow(/malformed CommandComplete/);
    expect(() => tracker.onCommandComplete(bytes("SELECT 1"))).toThrow(/malformed CommandComplete/);
  });

  it("records each result's own tag when tags repeat and change", () => {
    const { recorder, tracker } = setup();
    tracker.onQuery(body(frontend.query("SELECT 1; SELECT 1; UPDATE t SET a = 1")));
    for (const tag of ["SELECT 1", "SELECT 1", "UPDATE 4"])
      tracker.onCommandComplete(body(backend.commandComplete(tag)));
    tracker.onReady();
    const results = recorder.events.filter((e) => e.type === "result").map((e) => e.ev);
    expect(results.map((r) => [r.command, r.rowCount])).toEqual([
      ["SELECT 1", 1],
      ["SELECT 1", 1],
      ["UPDATE 4", 4],
    ]);
  });

  it("commits once per batch of recorded events, and not at all when nothing was recorded", () => {
    const { recorder, tracker } = setup();
    let commits = 0;
    recorder.commit = () => void commits++;
    tracker.commit();
    expect(commits).toBe(0);
    tracker.onQuery(body(frontend.query("SELECT 1; SELECT 2")));
    tracker.onCommandComplete(body(backend.commandComplete("SELECT 1")));
    tracker.onCommandComplete(body(backend.commandComplete("SELECT 1")));
    tracker.commit();
    tracker.commit();
    expect(commits).toBe(1);
    tracker.onReady();
    tracker.commit();
    expect(commits).toBe(1);
  });

  it("keeps events uncommitted when the commit fails, and retries them on the next call", () => {
    const { recorder, tracker } = setup();
    let fail = true;
    let commits = 0;
    recorder.commit = () => {
      if (fail) throw new Error("disk full");
      commits++;
    };
    tracker.onQuery(body(frontend.query("SELECT 1")));
    expect(() => tracker.commit()).toThrow("disk full");
    fail = false;
    tracker.commit();
    expect(commits).toBe(1);
  });
});
