import { describe, expect, it } from "vitest";
import { renderEvent } from "./replay";

const at = "2026-12-07T10:00:00.000Z";

describe("replay of recorded events", () => {
  it("shows MySQL statements and results, policy decisions and gaps", () => {
    const lines = [
      {
        kind: "session.start",
        payload: {
          protocol: "mysql",
          connection: "orders",
          identity: { id: "u", name: "ada", kind: "human" },
        },
      },
      { kind: "mysql.statement", payload: { kind: "query", text: "SELECT id, email FROM customers" } },
      {
        kind: "mysql.result",
        payload: {
          columns: [{ name: "id" }, { name: "email" }],
          rows: [["1", "a***@x.io"]],
          rowCount: 1,
          durationMs: 1.5,
        },
      },
      {
        kind: "mysql.statement",
        payload: { kind: "execute", text: "SELECT ?", params: ["7"], statementId: 1 },
      },
      {
        kind: "policy",
        payload: { decision: "denied", rule: "no-drop", policy: "prod", statement: "DROP TABLE t" },
      },
      { kind: "policy", payload: { decision: "masked", counts: { email: 2 }, statement: "" } },
      { kind: "gap", payload: { fromSeq: 10, toSeq: 12, reason: "agent restarted" } },
    ].map((e) => renderEvent({ ...e, at } as never) ?? "");
    const text = lines.join("");
    expect(text).toContain("session started: ada on orders");
    expect(text).toContain("query: SELECT id, email FROM customers");
    expect(text).toMatch(/id\s*\|\s*email/);
    expect(text).toContain("a***@x.io");
    expect(text).toContain('params: ["7"]');
    expect(text).toContain("denied by rule no-drop (policy prod)");
    expect(text).toContain("masked: email 2");
    expect(text).toContain("GAP: events may be missing here (agent restarted)");
  });

  it("says so when a payload does not fit its kind, and skips kinds it does not know", () => {
    expect(renderEvent({ kind: "mysql.statement", payload: { text: 3 }, at } as never)).toContain(
      "unreadable payload",
    );
    expect(renderEvent({ kind: "k8s.exec", payload: {}, at } as never)).toBeUndefined();
  });
});
