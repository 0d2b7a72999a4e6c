import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBinaryRow, decodeTextRow } from "./rows";
import { createFixtures, maskingHooks } from "./testing/fixtures";
import { type LoopbackProxy, startLoopbackProxy } from "./testing/loopback-proxy";
import { createTestDatabase, type TestDatabase } from "./testing/test-db";
import { binaryValueToText } from "./value-text";

let db: TestDatabase;
let lp: LoopbackProxy;
const seen: { binary: boolean; cells: (string | null)[] }[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  await createFixtures(db);
  lp = await startLoopbackProxy({
    token: "unused",
    preauthorized: true,
    upstream: { user: db.user, password: db.password, database: db.database },
    hooks: {
      ...maskingHooks,
      onRow: (payload, columns, binary) => {
        const cells = binary
          ? decodeBinaryRow(payload, columns).map((v, i) =>
              v === null ? null : binaryValueToText(v, columns[i]!).toString(),
            )
          : decodeTextRow(payload, columns.length).map((b) => (b === null ? null : b.toString()));
        seen.push({ binary, cells });
      },
    },
  });
});
afterAll(async () => {
  await lp?.close();
  await db?.drop();
});

describe("preauthorized sessions and row observers", () => {
  it("admits a client without a token when the identity was proven before the protocol, and shows observers the rows the client got", async () => {
    const c = await mysql.createConnection({
      host: "127.0.0.1",
      port: lp.port,
      user: "anyone",
      database: db.database,
    });
    try {
      const [text] = await c.query("SELECT 1 AS one, 'x' AS s");
      expect(text).toEqual([{ one: 1, s: "x" }]);
      expect(seen.at(-1)).toEqual({ binary: false, cells: ["1", "x"] });
      const [bin] = await c.execute("SELECT ? AS n, NULL AS z", [42]);
      expect(bin).toEqual([{ n: 42, z: null }]);
      expect(seen.at(-1)?.binary).toBe(true);
      expect(seen.at(-1)?.cells).toEqual(["42", null]);
    } finally {
      await c.end();
    }
    expect(lp.logins.at(-1)?.user).toBe("anyone");
  });
});
