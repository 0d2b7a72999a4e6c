import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import net from "node:net";
import { BackendCode, FrameReader, frontend } from "@sluice/pg-wire";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOOD_TOKEN, psqlVia, RawClient, run, startTestProxy, type TestProxy } from "./pg-proxy.testing";

// node-postgres comes from the testkit package's dependencies.
const pg = createRequire(new URL("../../../../packages/testkit/package.json", import.meta.url))("pg") as {
  Client: new (config: object) => PgClient;
};
interface PgClient {
  connect(): Promise<void>;
  query(
    q: string | { text: string; values?: unknown[]; name?: string },
  ): Promise<{ rows: Record<string, unknown>[] }>;
  on(event: "notification", fn: (n: { channel: string; payload?: string }) => void): void;
  end(): Promise<void>;
}

const DB = `sluice_pgproxy_${randomBytes(4).toString("hex")}`;
const CONN = "demo-conn";
const admin = (sql: string, db = "postgres") =>
  run("psql", ["-X", "-At", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-c", sql]);
let proxy: TestProxy;

beforeAll(async () => {
  await admin(`CREATE DATABASE ${DB}`);
  proxy = await startTestProxy({
    host: "127.0.0.1",
    port: 5432,
    database: DB,
    user: "postgres",
    password: async () => "unused-with-trust",
    ssl: { mode: "disable" },
    recordRowsLimit: 5,
  });
});

afterAll(async () => {
  await proxy?.close();
  await admin(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
});

const psql = (args: string[], input?: string) => psqlVia(proxy.port, CONN, GOOD_TOKEN, args, input);
const newClient = () =>
  new pg.Client({ host: "127.0.0.1", port: proxy.port, database: CONN, user: "x", password: GOOD_TOKEN });

describe("postgres proxy with psql", () => {
  it("runs a query and records statement and result", async () => {
    const res = await psql(["-c", "SELECT current_database(), 40 + 2"]);
    expect(res).toMatchObject({ code: 0, stdout: `${DB}|42\n` });
    const events = proxy.recorder.events;
    expect(events.find((e) => e.type === "sessionStart")?.ev).toMatchObject({ database: CONN, user: "x" });
    const stmt = events.findLast(
      (e) => e.type === "statement" && e.ev.text === "SELECT current_database(), 40 + 2",
    );
    expect(stmt).toBeDefined();
    const result = events[events.indexOf(stmt!) + 1];
    expect(result?.ev).toMatchObject({
      rows: [[DB, "42"]],
      rowCount: 1,
      command: "SELECT 1",
      truncated: false,
    });
  });

  it("refuses a bad token with the authorizer's message", async () => {
    const res = await psqlVia(proxy.port, CONN, "bad-token", ["-c", "SELECT 1"]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain("invalid Sluice token");
  });

  it("caps recorded rows per statement and counts the rest", async () => {
    await psql(["-c", "SELECT g FROM generate_series(1, 10) g"]);
    const result = proxy.recorder.events.findLast((e) => e.type === "result");
    expect(result?.ev).toMatchObject({
      rowCount: 10,
      truncated: true,
      columns: [{ name: "g", typeOid: 23 }],
    });
    expect(result?.ev.rows).toEqual([["1"], ["2"], ["3"], ["4"], ["5"]]);
  });

  it("records one result per statement of a multi-statement query, errors included", async () => {
    const res = await psql(["-c", "SELECT 1; SELECT 2; SELECT 1/0"]);
    expect(res.code).not.toBe(0);
    const results = proxy.recorder.events.filter((e) => e.type === "result").slice(-3);
    expect(results.map((r) => r.ev.command ?? (r.ev.error as { code: string }).code)).toEqual([
      "SELECT 1",
      "SELECT 1",
      "22012",
    ]);
  });

  it("copies data in and out with \\copy", async () => {
    await psql(["-c", "CREATE TABLE copy_t (id int, name text)"]);
    const input = Array.from({ length: 1000 }, (_, i) => `${i}\tname-${i}`).join("\n");
    expect((await psql(["-c", "\\copy copy_t FROM STDIN"], `${input}\n`)).code).toBe(0);
    const out = await psql(["-c", "\\copy (SELECT * FROM copy_t ORDER BY id) TO STDOUT"]);
    expect(out.stdout).toBe(`${input}\n`);
  });

  it("runs pgbench -S through the proxy", async () => {
    const init = await run("pgbench", ["-i", "-q", "-s", "1", "-h", "127.0.0.1", "-U", "postgres", DB]);
    expect(init.code).toBe(0);
    const bench = await run(
      "pgbench",
      ["-S", "-c", "2", "-T", "2", "-h", "127.0.0.1", "-p", String(proxy.port), "-U", "x", CONN],
      { PGPASSWORD: GOOD_TOKEN },
    );
    expect(bench.stderr).not.toMatch(/error|FATAL/i);
    expect(bench.code).toBe(0);
    const tps = /tps = ([\d.]+)/.exec(bench.stdout)?.[1];
    expect(Number(tps)).toBeGreaterThan(0);
  });
});

describe("postgres proxy with node-postgres", () => {
  it("runs unnamed and named prepared statements and records their parameters", async () => {
    const c = newClient();
    await c.connect();
    try {
      expect((await c.query({ text: "SELECT $1::int + 1 AS n", values: [41] })).rows).toEqual([{ n: 42 }]);
      for (const v of ["a", "b"]) {
        const res = await c.query({
          name: "echo",
          text: "SELECT $1::text AS v, $2::text AS w",
          values: [v, null],
        });
        expect(res.rows).toEqual([{ v, w: null }]);
      }
    } finally {
      await c.end();
    }
    const stmts = proxy.recorder.events
      .filter((e) => e.type === "statement" && e.ev.kind === "execute")
      .slice(-3);
    expect(stmts.map((s) => s.ev)).toEqual([
      { kind: "execute", text: "SELECT $1::int + 1 AS n", params: ["41"] },
      {
        kind: "execute",
        text: "SELECT $1::text AS v, $2::text AS w",
        params: ["a", null],
        statementName: "echo",
      },
      {
        kind: "execute",
        text: "SELECT $1::text AS v, $2::text AS w",
        params: ["b", null],
        statementName: "echo",
      },
    ]);
  });

  it("delivers LISTEN/NOTIFY notifications", async () => {
    const listener = newClient();
    const notifier = newClient();
    await Promise.all([listener.connect(), notifier.connect()]);
    try {
      const got = new Promise<{ channel: string; payload?: string }>((resolve) =>
        listener.on("notification", resolve),
      );
      await listener.query("LISTEN sluice_chan");
      await notifier.query("NOTIFY sluice_chan, 'hello'");
      expect(await got).toMatchObject({ channel: "sluice_chan", payload: "hello" });
    } finally {
      await Promise.all([listener.end(), notifier.end()]);
    }
  });
});

describe("postgres proxy at the protocol level", () => {
  it("answers pipelined simple and extended queries in order", async () => {
    const c = new RawClient(proxy.port);
    await c.login(CONN);
    const extended = (n: number) => [
      frontend.parse({ text: `SELECT ${n}` }),
      frontend.bind({}),
      frontend.execute(),
      frontend.sync(),
    ];
    c.socket.write(
      Buffer.concat([frontend.query("SELECT 1"), ...extended(2), frontend.query("SELECT 3"), ...extended(4)]),
    );
    const frames = [];
    for (let i = 0; i < 4; i++) frames.push(...(await c.until(BackendCode.ReadyForQuery)));
    const rows = frames
      .filter((f) => f.type === BackendCode.DataRow)
      .map((f) => f.body.subarray(6).toString());
    expect(rows).toEqual(["1", "2", "3", "4"]);
    c.socket.end(frontend.terminate());
  });

  it("relays and records a query that arrives one byte at a time, and a row larger than a chunk", async () => {
    const c = new RawClient(proxy.port);
    await c.login(CONN);
    c.socket.setNoDelay(true);
    const query = frontend.query("SELECT 'byte by byte' AS note, repeat('y', 200000) AS big");
    for (const b of query) {
      c.socket.write(Buffer.from([b]));
      await new Promise((r) => setImmediate(r));
    }
    const frames = await c.until(BackendCode.ReadyForQuery);
    const row = frames.find((f) => f.type === BackendCode.DataRow)!;
    expect(row.body.length).toBe(2 + 4 + 12 + 4 + 200_000);
    const statement = proxy.recorder.events.findLast((e) => e.type === "statement");
    expect(statement?.ev.text).toBe("SELECT 'byte by byte' AS note, repeat('y', 200000) AS big");
    const result = proxy.recorder.events.findLast((e) => e.type === "result");
    expect(result?.ev).toMatchObject({ rowCount: 1, command: "SELECT 1" });
    const rows = (result?.ev.rows ?? []) as string[][];
    expect(rows[0]).toEqual(["byte by byte", "y".repeat(65_536)]);
    c.socket.end(frontend.terminate());
  });

  it("ends a session on an oversized frame with 08P01 and keeps serving others", async () => {
    const c = new RawClient(proxy.port);
    await c.login(CONN);
    c.socket.write(Buffer.from([0x51, 0x7f, 0xff, 0xff, 0xff]));
    const err = await c.error();
    expect(err).toMatchObject({
      C: "08P01",
      M: "message of type 'Q' length 2147483647 exceeds the limit of 67108864 bytes",
    });
    await expect.poll(() => c.closed).toBe(true);
    expect((await psql(["-c", "SELECT 'still here'"])).stdout).toBe("still here\n");
  });

  it("closes without a reply on a startup length no message can have, as PostgreSQL does", async () => {
    for (const bytes of [
      Buffer.from([0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0]),
      Buffer.from([0, 0, 0, 3]),
      // node-postgres's `client.connect(); client.end()`: Terminate before the StartupMessage
      Buffer.concat([frontend.terminate(), frontend.startup({ user: "raw", database: CONN })]),
      // a CancelRequest without its key
      Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2e]),
    ]) {
      const c = new RawClient(proxy.port);
      c.socket.write(bytes);
      await expect.poll(() => c.closed).toBe(true);
      expect(Buffer.concat(c.received)).toEqual(Buffer.alloc(0));
    }
    expect((await psql(["-c", "SELECT 'still here'"])).stdout).toBe("still here\n");
  });

  it("routes a CancelRequest with the synthetic key to the right backend", async () => {
    const c = new RawClient(proxy.port);
    const key = await c.login(CONN);
    expect(key).toBeDefined();
    const started = Date.now();
    c.socket.write(frontend.query("SELECT pg_sleep(10)"));
    await new Promise((r) => setTimeout(r, 300));
    const cancel = net.connect(proxy.port, "127.0.0.1");
    cancel.on("error", () => {});
    cancel.end(frontend.cancelRequest(key!.processId, key!.secretKey));
    expect(await c.error()).toMatchObject({ C: "57014" });
    expect(Date.now() - started).toBeLessThan(5_000);
    c.socket.end(frontend.terminate());
  });

  it("streams a large result to a slow client with bounded memory", async () => {
    const c = new RawClient(proxy.port);
    await c.login(CONN);
    c.socket.removeAllListeners("data");
    const reader = new FrameReader();
    let rows = 0;
    let ready = false;
    c.socket.on("data", (chunk: Buffer) => {
      reader.push(chunk);
      while (reader.next()) {
        if (reader.type === BackendCode.DataRow) rows++;
        else if (reader.type === BackendCode.ReadyForQuery) ready = true;
      }
    });
    const before = process.memoryUsage().rss;
    c.socket.write(frontend.query("SELECT repeat('x', 1000) FROM generate_series(1, 300000)"));
    c.socket.pause();
    await new Promise((r) => setTimeout(r, 1_500));
    // ~300 MB were requested; while the client does not read, the proxy must stop reading upstream.
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 1024 * 1024);
    const started = Date.now();
    c.socket.resume();
    await expect.poll(() => ready, { timeout: 30_000, interval: 50 }).toBe(true);
    expect(rows).toBe(300_000);
    const result = proxy.recorder.events.findLast((e) => e.type === "result");
    expect(result?.ev).toMatchObject({ rowCount: 300_000, truncated: true });
    expect(result?.ev.rows).toHaveLength(5);
    expect(Date.now() - started).toBeLessThan(30_000);
    c.socket.end(frontend.terminate());
  });

  it("ignores a CancelRequest with an unknown key", async () => {
    const c = new RawClient(proxy.port);
    const key = await c.login(CONN);
    const wrong = Buffer.from(key!.secretKey.map((b) => b ^ 0xff));
    const cancel = net.connect(proxy.port, "127.0.0.1");
    cancel.on("error", () => {});
    cancel.end(frontend.cancelRequest(key!.processId, wrong));
    c.socket.write(frontend.query("SELECT pg_sleep(0.5), 'done'"));
    const frames = await c.until(BackendCode.ReadyForQuery);
    expect(frames.some((f) => f.type === BackendCode.ErrorResponse)).toBe(false);
    c.socket.end(frontend.terminate());
  });
});
