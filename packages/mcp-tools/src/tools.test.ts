import { describe, expect, it } from "vitest";
import { connectionList } from "./access-tools";
import { requestHeaders } from "./http-tool";
import { mcpSessionClient } from "./server";
import { CATALOG_NAME, catalogSql, renderTables, tablesFrom } from "./sql-tools";

describe("MCP tool helpers", () => {
  it("lists connections without hosts or anything else the API sends", () => {
    const payload = { items: [{ name: "db", type: "postgres", host: "10.0.0.1", description: "" }] };
    expect(connectionList(payload)).toEqual([{ name: "db", type: "postgres", description: null }]);
  });

  it("builds catalog queries per dialect and only accepts plain names", () => {
    expect(catalogSql("postgres", "public", "users")).toContain(
      "WHERE c.table_schema = 'public' AND c.table_name = 'users'",
    );
    expect(catalogSql("mysql")).toContain("c.table_schema = DATABASE()");
    expect(catalogSql("mysql")).toContain("c.column_type AS data_type");
    for (const bad of ["a'b", "a\\b", 'a"b', "a\nb", ""]) expect(CATALOG_NAME.test(bad), bad).toBe(false);
    expect(CATALOG_NAME.test("Orders 2024")).toBe(true);
  });

  it("groups catalog rows into tables", () => {
    const tables = tablesFrom({
      command: "SELECT 3",
      rowCount: 3,
      truncated: false,
      columns: [],
      rows: [
        ["public", "t", "BASE TABLE", "id", "integer", "NO"],
        ["public", "t", "BASE TABLE", "note", "text", "YES"],
        ["public", "v", "VIEW", "id", "integer", "YES"],
      ],
    });
    expect(tables.map((t) => [t.name, t.type, t.columns.length])).toEqual([
      ["t", "base table", 2],
      ["v", "view", 1],
    ]);
    expect(renderTables(tables)).toBe(
      "public.t (base table)\n  id integer not null\n  note text\n\npublic.v (view)\n  id integer",
    );
  });

  it("refuses credential and framing headers", () => {
    expect(requestHeaders({ Accept: "application/json" })).toEqual({ accept: "application/json" });
    expect(() => requestHeaders({ Authorization: "Bearer x" })).toThrow(/Sluice sets it/);
    expect(() => requestHeaders({ "x-a": "1\r\nHost: evil" })).toThrow(/invalid value/);
    expect(() => requestHeaders({ "bad name": "1" })).toThrow(/not a header name/);
  });

  it("records the MCP client within the control plane's limits", () => {
    expect(mcpSessionClient({ name: "claude-code", version: "2.1.0" })).toEqual({
      via: "mcp",
      name: "claude-code",
      version: "2.1.0",
    });
    expect(mcpSessionClient(undefined)).toEqual({ via: "mcp" });
    expect(mcpSessionClient({ name: "x".repeat(300), version: "" }).name).toHaveLength(100);
  });
});
