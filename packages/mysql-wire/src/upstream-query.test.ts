import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectUpstream } from "./client-handshake";
import { ServerError } from "./errors";
import { AGENT_CAPABILITIES } from "./server-handshake";
import { createTestDatabase, MARIADB, type TestDatabase } from "./testing/test-db";
import { upstreamQuery } from "./upstream-query";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const connect = () =>
  connectUpstream({
    ...MARIADB,
    user: db.user,
    password: db.password,
    database: db.database,
    capabilities: AGENT_CAPABILITIES,
    tls: "disable",
  });

describe("upstream setup queries", () => {
  it("reads the server's parse settings before the command phase and leaves the connection usable", async () => {
    const first = await connect();
    try {
      const mode = await upstreamQuery(first, "SELECT @@SESSION.sql_mode, 1, NULL");
      expect(mode.rows).toHaveLength(1);
      expect(mode.rows[0]?.[1]).toBe("1");
      expect(mode.rows[0]?.[2]).toBeNull();
      const again = await upstreamQuery(mode.upstream, "SELECT 2 UNION SELECT 3");
      expect(again.rows).toEqual([["2"], ["3"]]);
      await expect(upstreamQuery(again.upstream, "SELECT * FROM no_such_table")).rejects.toBeInstanceOf(
        ServerError,
      );
    } finally {
      first.socket.destroy();
    }
  });
});
