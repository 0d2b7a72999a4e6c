import { describe, expect, it } from "vitest";
import { col, formatTimestamp, formatValue, renderDetails, renderJson, renderTable } from "./output";
import { agents, groups } from "./resources";

describe("formatValue", () => {
  it("shortens ISO timestamps to seconds", () => {
    expect(formatTimestamp("2025-03-04T05:06:07.890Z")).toBe("2025-03-04 05:06:07Z");
    expect(formatTimestamp("2025-03-04T05:06:07+02:00")).toBe("2025-03-04 05:06:07 +02:00");
    expect(formatValue("not a time")).toBe("not a time");
  });

  it("shows empty values as a dash", () => {
    for (const v of [null, undefined, "", [], {}]) expect(formatValue(v)).toBe("-");
  });

  it("keeps objects and arrays on one compact line", () => {
    expect(formatValue({ tier: "prod", segment: "eu" })).toBe("tier=prod,segment=eu");
    expect(formatValue(["dba", "dev"])).toBe("dba,dev");
    expect(
      formatValue([
        { id: "p1", name: "no-drop" },
        { id: "p2", name: "mask" },
      ]),
    ).toBe("no-drop,mask");
    expect(formatValue({ mode: "verify-full", nested: { a: 1 } })).toBe(
      '{"mode":"verify-full","nested":{"a":1}}',
    );
    expect(formatValue(false)).toBe("false");
  });
});

describe("renderTable", () => {
  it("aligns columns under upper-case headers without trailing spaces", () => {
    const text = renderTable(
      [
        { name: "pg-prod", members: 12 },
        { name: "a", members: null },
      ],
      [col("NAME", "name"), col("MEMBERS", "members")],
    );
    expect(text).toBe("NAME     MEMBERS\npg-prod  12\na        -\n");
  });

  it("truncates long cells and flattens newlines", () => {
    const text = renderTable([{ d: `line one\n${"x".repeat(80)}` }], [col("D", "d")]);
    const cell = text.split("\n")[1] ?? "";
    expect(cell).toHaveLength(60);
    expect(cell.startsWith("line one x")).toBe(true);
    expect(cell.endsWith("…")).toBe(true);
  });

  it("picks per-resource columns: agent endpoints and counts", () => {
    const text = renderTable(
      [
        {
          id: "ag_1",
          name: "eu-1",
          status: "online",
          segment: "eu",
          labels: { tier: "prod" },
          version: "0.1.0",
          activeSessions: 2,
          endpoints: [{ protocol: "postgres", host: "10.0.0.5", port: 6432 }],
          lastSeenAt: "2025-01-02T03:04:05.000Z",
          capabilities: ["postgres"],
        },
      ],
      agents.columns,
    );
    expect(text.split("\n")[0]).toMatch(
      /^NAME\s+STATUS\s+SEGMENT\s+LABELS\s+VERSION\s+SESSIONS\s+ENDPOINTS\s+LAST SEEN\s+ID$/,
    );
    expect(text).toContain("postgres://10.0.0.5:6432");
    expect(text).toContain("2025-01-02 03:04:05Z");
    expect(text).not.toContain("capabilities");
    expect(renderTable([{ name: "dba", members: 3 }], groups.columns)).toContain("dba   3");
  });
});

describe("renderDetails and renderJson", () => {
  it("prints one object as aligned key: value lines", () => {
    expect(renderDetails({ id: "u1", name: "ada", groups: ["dba"], lastLoginAt: null })).toBe(
      "id:           u1\nname:         ada\ngroups:       dba\nlastLoginAt:  -\n",
    );
  });

  it("prints raw JSON, pretty", () => {
    expect(renderJson({ items: [] })).toBe('{\n  "items": []\n}\n');
  });
});
