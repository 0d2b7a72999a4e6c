import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ExecuteParam } from "./commands";
import { createFixtures, maskingHooks } from "./testing/fixtures";
import { type LoopbackProxy, startLoopbackProxy } from "./testing/loopback-proxy";
import { createTestDatabase, type TestDatabase } from "./testing/test-db";
import { selfSignedCert } from "./testing/tls-cert";

const TOKEN = "sluice-test-token-1";
let db: TestDatabase;
let lp: LoopbackProxy;
const executed: ExecuteParam[][] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  await createFixtures(db);
  const [rows] = await db.root.query("SELECT @@global.max_allowed_packet AS m");
  if ((rows as { m: number }[])[0]!.m < 64 * 1024 * 1024)
    await db.root.query("SET GLOBAL max_allowed_packet = 67108864");
  lp = await startLoopbackProxy({
    token: TOKEN,
    upstream: { user: db.user, password: db.password, database: db.database },
    allowPlaintextPassword: true,
    hooks: {
      ...maskingHooks,
      onExecute: (_stmt, params) => {
        executed.push(params);
        return { action: "allow" };
      },
    },
  });
});
afterAll(async () => {
  await lp?.close();
  await db?.drop();
});

const connect = (extra: mysql.ConnectionOptions = {}) =>
  mysql.createConnection({
    host: "127.0.0.1",
    port: lp.port,
    user: "alice",
    password: TOKEN,
    database: db.database,
    enableCleartextPlugin: true,
    multipleStatements: true,
    ...extra,
  });

describe("engine with mysql2 through the loopback proxy", () => {
  it("relays text queries and masks a column, changing value lengths", async () => {
    const c = await connect();
    const [rows] = await c.query("SELECT id, email, salary, note FROM customers ORDER BY id");
    expect(rows).toEqual([
      { id: 1, email: "***@example.com", salary: 0, note: "first" },
      { id: 2, email: "***@example.org", salary: 0, note: null },
    ]);
    const [plain] = await c.query("SELECT id, joined FROM customers WHERE id = 1");
    expect((plain as { joined: Date }[])[0]!.joined).toBeInstanceOf(Date);
    await c.end();
    const s = lp.summaries.find((x) => x.sql?.startsWith("SELECT id, email"));
    expect(s).toMatchObject({ outcome: "ok", rows: 2, maskedCells: 4, resultSets: 1 });
  });

  it("masks the same columns in the binary protocol (prepared statements) and passes other types intact", async () => {
    const c = await connect();
    const [rows] = await c.execute(
      "SELECT id, email, salary, joined, note FROM customers WHERE id >= ? ORDER BY id",
      [1],
    );
    const r = rows as { id: number; email: string; salary: number; joined: Date; note: string | null }[];
    expect(r.map((x) => [x.id, x.email, x.salary, x.note])).toEqual([
      [1, "***@example.com", 0, "first"],
      [2, "***@example.org", 0, null],
    ]);
    expect(r[0]!.joined.getFullYear()).toBe(2024);
    expect(executed.at(-1)?.map((p) => Number(p.value))).toEqual([1]);
    await c.end();
  });

  it("runs prepared inserts with parameters and reads them back", async () => {
    const c = await connect();
    const [res] = await c.execute("INSERT INTO customers (id, email, salary, note) VALUES (?, ?, ?, ?)", [
      10,
      "z@z.io",
      7,
      null,
    ]);
    expect((res as mysql.ResultSetHeader).affectedRows).toBe(1);
    const [rows] = await c.execute("SELECT note FROM customers WHERE id = ?", [10]);
    expect(rows).toEqual([{ note: null }]);
    await c.query("DELETE FROM customers WHERE id = 10");
    await c.end();
  });

  it("relays multi-statements and the multiple results of a stored procedure (text and binary)", async () => {
    const c = await connect();
    const [multi] = await c.query("SELECT 1 AS x; SELECT 'two' AS y");
    expect(multi).toEqual([[{ x: 1 }], [{ y: "two" }]]);
    const [call] = (await c.query("CALL two_results()")) as unknown as [unknown[]];
    expect(call[0]).toEqual([{ a: 1 }]);
    expect(call[1]).toEqual([
      { id: 1, email: "***@example.com" },
      { id: 2, email: "***@example.org" },
    ]);
    const [callPs] = (await c.execute("CALL two_results()")) as unknown as [unknown[]];
    expect(callPs[1]).toEqual(call[1]);
    await c.end();
  });

  it("refuses a denied statement with an ERR naming the rule; the table survives", async () => {
    const c = await connect();
    const err = await c.query("DROP TABLE customers").catch((e) => e);
    expect(err.errno).toBe(1142);
    expect(err.sqlState).toBe("42000");
    expect(err.message).toContain("no-drop-table");
    const [rows] = await c.query("SELECT COUNT(*) AS n FROM customers");
    expect(rows).toEqual([{ n: 2 }]);
    await c.end();
  });

  it("holds a statement until its verdict settles", async () => {
    const c = await connect();
    const t0 = Date.now();
    const [rows] = await c.query("SELECT 42 AS v /* hold */");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(380);
    expect(rows).toEqual([{ v: 42 }]);
    await c.end();
  });

  it("masks values quoted in ERR messages (duplicate key)", async () => {
    const c = await connect();
    const err = await c
      .query("INSERT INTO customers (id, email) VALUES (3, 'ann@example.com')")
      .catch((e) => e);
    expect(err.errno).toBe(1062);
    expect(err.message).not.toContain("ann@example.com");
    expect(err.message).toContain("'***'");
    await c.end();
  });

  it("refuses COM_CHANGE_USER with ERR 1227", async () => {
    const c = await connect();
    const err = await c.changeUser({ user: "root", password: "" }).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.errno).toBe(1227);
    await c.end().catch(() => {});
  });

  it("round-trips a 20 MB blob through text and binary protocols", async () => {
    const c = await connect();
    const blob = Buffer.alloc(20 * 1024 * 1024);
    for (let i = 0; i < blob.length; i += 4096) blob[i] = i & 0xff;
    blob[blob.length - 1] = 0x7e;
    await c.execute("UPDATE customers SET data = ? WHERE id = 2", [blob]);
    const [text] = await c.query("SELECT data FROM customers WHERE id = 2");
    expect((text as { data: Buffer }[])[0]!.data.equals(blob)).toBe(true);
    const [bin] = await c.execute("SELECT data, email FROM customers WHERE id = ?", [2]);
    const row = (bin as { data: Buffer; email: string }[])[0]!;
    expect(row.data.equals(blob)).toBe(true);
    expect(row.email).toBe("***@example.org");
    await c.query("UPDATE customers SET data = NULL");
    await c.end();
  });

  it("streams a 100k-row result", async () => {
    const c = await connect();
    const [rows] = await c.query("SELECT seq, CONCAT('row-', seq) AS label FROM seq_1_to_100000");
    const r = rows as { seq: number; label: string }[];
    expect(r).toHaveLength(100_000);
    expect(r[99_999]).toEqual({ seq: 100_000, label: "row-100000" });
    await c.end();
    expect(lp.summaries.find((s) => s.sql?.includes("seq_1_to_100000"))?.rows).toBe(100_000);
  });

  it("maps KILL QUERY from a second session to the first session's upstream thread", async () => {
    const a = await connect();
    const b = await connect();
    expect(a.threadId).not.toBe(b.threadId);
    const t0 = Date.now();
    const sleeping = a.query("SELECT SLEEP(30) AS s").then(
      ([rows]) => rows,
      (e) => e,
    );
    await new Promise((r) => setTimeout(r, 300));
    await b.query(`KILL QUERY ${a.threadId}`);
    const outcome = await sleeping;
    expect(Date.now() - t0).toBeLessThan(10_000);
    if (outcome instanceof Error) expect((outcome as { errno?: number }).errno).toBe(1317);
    else expect(outcome).toEqual([{ s: 1 }]);
    const [still] = await a.query("SELECT 1 AS ok");
    expect(still).toEqual([{ ok: 1 }]);
    const unknown = await b.query("KILL QUERY 1").catch((e) => e);
    expect(unknown.errno).toBe(1094);
    await a.end();
    await b.end();
  });

  it("answers a wrong token with access denied", async () => {
    const err = await connect({ password: "not-the-token" }).catch((e) => e);
    expect(err.errno).toBe(1045);
    expect(err.message).not.toContain("not-the-token");
  });

  it("gives the client a clean error when the upstream connection drops mid-query", async () => {
    const c = await connect();
    const session = lp.sessions.at(-1)!;
    const running = c.query("SELECT SLEEP(20)").catch((e) => e);
    await new Promise((r) => setTimeout(r, 300));
    await db.root.query(`KILL CONNECTION ${session.upstreamThreadId}`);
    const err = await running;
    expect(err).toBeInstanceOf(Error);
    expect([1927, 1053]).toContain(err.errno);
    const end = await session.done;
    expect(end.reason).toBe("upstream_closed");
    await expect(c.query("SELECT 1")).rejects.toThrow();
    c.destroy();
  });
});

describe("TLS toward the client", () => {
  let tlsProxy: LoopbackProxy;
  beforeAll(async () => {
    tlsProxy = await startLoopbackProxy({
      token: TOKEN,
      upstream: { user: db.user, password: db.password, database: db.database },
      tls: selfSignedCert(),
    });
  });
  afterAll(async () => {
    await tlsProxy?.close();
  });

  it("accepts the token over TLS and refuses it without TLS", async () => {
    const base = {
      host: "127.0.0.1",
      port: tlsProxy.port,
      user: "alice",
      password: TOKEN,
      database: db.database,
      enableCleartextPlugin: true,
    };
    const c = await mysql.createConnection({ ...base, ssl: { rejectUnauthorized: false } });
    const [rows] = await c.query("SELECT 'over tls' AS v");
    expect(rows).toEqual([{ v: "over tls" }]);
    await c.end();
    const err = await mysql.createConnection(base).catch((e) => e);
    expect(err.errno).toBe(3159);
  });
});
