import { describe, expect, it } from "vitest";
import { castHeader, sshData, sshPty, sshResize, toAsciicast } from "./asciicast";
import { parsePayload, pgResult, pgStatement, sessionEnd } from "./events";

const stored = (atUnixMs: number, e: { kind: string; payload: unknown }) => ({
  atUnixMs,
  kind: e.kind,
  payloadJson: JSON.stringify(e.payload),
});

describe("postgres events", () => {
  it("caps result rows and marks the result truncated", () => {
    const rows = [["1"], ["2"], ["3"]];
    const capped = pgResult({ rows, rowCount: 3, command: "SELECT", durationMs: 2, maxRows: 2 });
    expect(capped).toEqual({
      kind: "pg.result",
      payload: { rows: [["1"], ["2"]], rowCount: 3, command: "SELECT", durationMs: 2, truncated: true },
    });
    expect(
      pgResult({ rows, rowCount: 3, command: "SELECT", durationMs: 2, maxRows: 10 }).payload.truncated,
    ).toBe(false);
  });

  it("builds events that carry their kind", () => {
    expect(pgStatement({ text: "select $1", params: ["a"] }).kind).toBe("pg.statement");
    expect(sessionEnd({ reason: "client_closed", bytesIn: 1, bytesOut: 2 })).toEqual({
      kind: "session.end",
      payload: { reason: "client_closed", bytesIn: 1, bytesOut: 2 },
    });
    expect(parsePayload("[1]")).toBeUndefined();
    expect(parsePayload("{bad")).toBeUndefined();
  });
});

describe("asciicast", () => {
  it("renders stored ssh events as an asciicast v2 document", () => {
    const cast = toAsciicast([
      stored(1_700_000_000_000, sshPty({ width: 120, height: 40, env: { TERM: "xterm-256color" } })),
      stored(1_700_000_000_500, sshData({ stream: "o", data: "$ " })),
      stored(1_700_000_001_250, sshData({ stream: "i", data: "ls\r" })),
      stored(1_700_000_002_000, sshResize({ width: 100, height: 30 })),
      stored(1_700_000_003_000, {
        kind: "gap",
        payload: { fromSeq: 5, toSeq: 7, reason: "checksum_mismatch" },
      }),
      stored(1_700_000_004_000, { kind: "tcp.stats", payload: { bytesIn: 1, bytesOut: 1 } }),
    ]);
    const lines = cast
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([
      castHeader({ width: 120, height: 40, timestamp: 1_700_000_000, env: { TERM: "xterm-256color" } }),
      [0.5, "o", "$ "],
      [1.25, "i", "ls\r"],
      [2, "r", "100x30"],
      [3, "m", "recording gap: events 5-7 (checksum_mismatch)"],
    ]);
  });

  it("falls back to 80x24 without a pty event", () => {
    const header = JSON.parse(toAsciicast([]).split("\n")[0]!);
    expect(header).toEqual({ version: 2, width: 80, height: 24, timestamp: 0 });
  });
});
