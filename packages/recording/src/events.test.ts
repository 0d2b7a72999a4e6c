import { describe, expect, it } from "vitest";
import { isEventKind, parsePayload, readEvent, recordingEvents } from "./events";

describe("recording event catalog", () => {
  it("reads the common envelope every protocol writes", () => {
    const start = readEvent("session.start", {
      protocol: "mysql",
      connection: "orders",
      identity: { id: "u1", name: "ada", kind: "user" },
      via: "tunnel",
      clientAddress: "127.0.0.1",
      database: "orders",
    });
    expect(start?.protocol).toBe("mysql");
    expect(readEvent("session.end", { reason: "client closed", bytesIn: 1, bytesOut: 2 })?.reason).toBe(
      "client closed",
    );
  });

  it("refuses payloads that do not fit their kind, and knows which kinds exist", () => {
    expect(readEvent("pg.statement", { text: 42 })).toBeUndefined();
    expect(readEvent("session.end", {})).toBeUndefined();
    expect(isEventKind("mysql.result")).toBe(true);
    expect(isEventKind("toString")).toBe(false);
    expect(Object.keys(recordingEvents)).toContain("gap");
  });

  it("keeps fields a newer agent adds", () => {
    expect(readEvent("pg.notice", { message: "hi", severity: "NOTICE" })).toEqual({
      message: "hi",
      severity: "NOTICE",
    });
  });

  it("parses only JSON objects", () => {
    expect(parsePayload('{"a":1}')).toEqual({ a: 1 });
    expect(parsePayload("[1]")).toBeUndefined();
    expect(parsePayload("nope")).toBeUndefined();
  });
});
