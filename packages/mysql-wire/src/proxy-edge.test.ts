import { Readable } from "node:stream";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Command } from "./constants";
import { isEofPacket, parseErr } from "./generic-packets";
import { PacketReader, packet } from "./packet-reader";
import { createFixtures } from "./testing/fixtures";
import { type LoopbackProxy, startLoopbackProxy } from "./testing/loopback-proxy";
import { rawLogin } from "./testing/raw-client";
import { createTestDatabase, type TestDatabase } from "./testing/test-db";

const TOKEN = "edge-token";
let db: TestDatabase;
let refusing: LoopbackProxy;
let allowing: LoopbackProxy;

beforeAll(async () => {
  db = await createTestDatabase();
  await createFixtures(db);
  await db.root.query(`CREATE TABLE \`${db.database}\`.loaded (a INT, b VARCHAR(10))`);
  const base = {
    token: TOKEN,
    upstream: { user: db.user, password: db.password, database: db.database },
    allowPlaintextPassword: true,
    allowLocalInfile: true,
  };
  refusing = await startLoopbackProxy(base);
  allowing = await startLoopbackProxy({
    ...base,
    limits: { allowLocalInfile: true, clientHighWaterMark: 256 * 1024, holdTimeoutMs: 300 },
    hooks: {
      onQuery: (sql) => (sql.includes("/* forever */") ? new Promise(() => {}) : { action: "allow" }),
    },
  });
});
afterAll(async () => {
  await refusing?.close();
  await allowing?.close();
  await db?.drop();
});

const connect = (lp: LoopbackProxy, extra: mysql.ConnectionOptions = {}) =>
  mysql.createConnection({
    host: "127.0.0.1",
    port: lp.port,
    user: "u",
    password: TOKEN,
    database: db.database,
    enableCleartextPlugin: true,
    infileStreamFactory: () => Readable.from([Buffer.from("1\tone\n2\ttwo\n")]),
    ...extra,
  });

describe("engine edges", () => {
  it("refuses LOAD DATA LOCAL INFILE unless allowed, and relays the file when allowed", async () => {
    const sql = `LOAD DATA LOCAL INFILE 'data.tsv' INTO TABLE loaded`;
    const c = await connect(refusing);
    const err = await c.query(sql).catch((e) => e);
    expect(err.errno).toBe(1148);
    expect(err.message).toContain("not allowed through Sluice");
    const [none] = await c.query("SELECT COUNT(*) AS n FROM loaded");
    expect(none).toEqual([{ n: 0 }]);
    await c.end();
    const multi = await connect(refusing, { multipleStatements: true });
    const err2 = await multi.query(`${sql}; SELECT 'late' AS l`).catch((e) => e);
    expect(err2.errno).toBe(1148);
    const [next] = await multi.query("SELECT 'next' AS n");
    expect(next).toEqual([{ n: "next" }]);
    await multi.end();
    const ok = await connect(allowing);
    const [res] = await ok.query(sql);
    expect((res as mysql.ResultSetHeader).affectedRows).toBe(2);
    const [rows] = await ok.query("SELECT a, b FROM loaded ORDER BY a");
    expect(rows).toEqual([
      { a: 1, b: "one" },
      { a: 2, b: "two" },
    ]);
    await ok.end();
  });

  it("denies a held statement whose review does not finish in time", async () => {
    const c = await connect(allowing);
    const t0 = Date.now();
    const err = await c.query("SELECT 1 /* forever */").catch((e) => e);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(err.errno).toBe(1142);
    expect(err.message).toContain("timed out");
    const [rows] = await c.query("SELECT 2 AS two");
    expect(rows).toEqual([{ two: 2 }]);
    await c.end();
    const s = allowing.summaries.find((x) => x.sql?.includes("forever"));
    expect(s).toMatchObject({ outcome: "denied" });
    expect(s!.heldMs).toBeGreaterThanOrEqual(290);
  });

  it("passes COM_RESET_CONNECTION (session state is reset) and keeps the session usable after a refused COM_CHANGE_USER", async () => {
    const c = await connect(refusing);
    await c.query("SET @marker = 7");
    const core = (c as unknown as { connection: { reset(cb: (e: unknown) => void): void } }).connection;
    await new Promise<void>((resolve, reject) => core.reset((e) => (e ? reject(e) : resolve())));
    const [rows] = await c.query("SELECT @marker AS m");
    expect(rows).toEqual([{ m: null }]);
    const err = await c.changeUser({ user: "root" }).catch((e) => e);
    expect(err.errno).toBe(1227);
    const [again] = await c.query("SELECT CURRENT_USER() AS u");
    expect((again as { u: string }[])[0]!.u).toBe(`${db.user}@%`);
    await c.end();
    expect(refusing.summaries.some((s) => s.command === "COM_RESET_CONNECTION" && s.outcome === "ok")).toBe(
      true,
    );
  });

  it("stops reading upstream while the client does not read (bounded buffering), then delivers everything", async () => {
    const { socket, leftover } = await rawLogin(allowing.port, TOKEN, db.database);
    expect(leftover).toEqual([]);
    const session = allowing.sessions.at(-1)!;
    socket.pause();
    socket.write(packet(0, Buffer.from(`\x03SELECT seq, REPEAT('x', 1000) FROM seq_1_to_100000`, "latin1")));
    await new Promise((r) => setTimeout(r, 1500));
    const buffered = session.stats.bytesFromUpstream;
    expect(buffered).toBeGreaterThan(0);
    expect(buffered).toBeLessThan(16 * 1024 * 1024);
    const reader = new PacketReader();
    let rows = 0;
    let columnsSeen = 0;
    await new Promise<void>((resolve) => {
      socket.on("data", (chunk: Buffer) => {
        reader.push(chunk);
        for (let p = reader.next(); p; p = reader.next()) {
          if (columnsSeen < 3) columnsSeen++;
          else if (isEofPacket(p.payload, true)) return resolve();
          else rows++;
        }
      });
      socket.resume();
    });
    expect(rows).toBe(100_000);
    expect(session.stats.bytesFromUpstream).toBeGreaterThan(100_000_000);
    socket.end(packet(0, Buffer.from([Command.QUIT])));
    expect((await session.done).reason).toBe("client_quit");
  });

  it("refuses commands it does not relay (COM_BINLOG_DUMP) with an ERR and keeps going", async () => {
    const { socket, leftover } = await rawLogin(refusing.port, TOKEN, db.database);
    const reader = new PacketReader();
    for (const b of leftover) reader.push(b);
    const next = () =>
      new Promise<Buffer>((resolve) => {
        const p0 = reader.next();
        if (p0) return resolve(p0.payload);
        const on = (chunk: Buffer) => {
          reader.push(chunk);
          const p = reader.next();
          if (p) {
            socket.off("data", on);
            resolve(p.payload);
          }
        };
        socket.on("data", on);
        socket.resume();
      });
    socket.write(packet(0, Buffer.from([Command.BINLOG_DUMP, 4, 0, 0, 0])));
    const err = await next();
    expect(err[0]).toBe(0xff);
    expect(err.subarray(9).toString()).toContain("not supported through Sluice");
    socket.write(packet(0, Buffer.from([Command.PING])));
    expect((await next())[0]).toBe(0x00);
    socket.destroy();
  });

  it("maps COM_PROCESS_KILL from another session to that session's upstream thread", async () => {
    const a = await connect(refusing);
    const victim = refusing.sessions.at(-1)!;
    const { socket } = await rawLogin(refusing.port, TOKEN, db.database);
    const reply = new Promise<Buffer>((resolve) => {
      const reader = new PacketReader();
      socket.on("data", (chunk: Buffer) => {
        reader.push(chunk);
        const p = reader.next();
        if (p) resolve(p.payload);
      });
      socket.resume();
    });
    const kill = Buffer.alloc(5);
    kill[0] = Command.PROCESS_KILL;
    kill.writeUInt32LE(a.threadId, 1);
    socket.write(packet(0, kill));
    expect((await reply)[0]).toBe(0x00);
    expect((await victim.done).reason).toBe("upstream_closed");
    await expect(a.query("SELECT 1")).rejects.toThrow();
    a.destroy();
    socket.destroy();
  });

  it("answers a command packet above the payload limit with ERR 1153 and ends the session", async () => {
    const { socket } = await rawLogin(refusing.port, TOKEN, db.database);
    const session = refusing.sessions.at(-1)!;
    const reply = new Promise<Buffer>((resolve) => {
      const reader = new PacketReader();
      socket.on("data", (chunk: Buffer) => {
        reader.push(chunk);
        const p = reader.next();
        if (p) resolve(p.payload);
      });
      socket.resume();
    });
    // Four 0xFFFFFF-byte fragments declared: 64 MiB + more, above the default limit; only headers are needed.
    socket.write(Buffer.from([0xff, 0xff, 0xff, 0]));
    socket.write(Buffer.alloc(0xffffff, 0x03));
    for (let i = 1; i < 5; i++)
      socket.write(Buffer.concat([Buffer.from([0xff, 0xff, 0xff, i]), Buffer.alloc(0xffffff)]));
    const err = await reply;
    expect(err.readUInt16LE(1)).toBe(1153);
    const end = await session.done;
    expect(end.reason).toBe("protocol_error");
    expect(end.stats.bytesFromClient).toBeLessThan(80 * 1024 * 1024);
    socket.destroy();
  });

  it("ends the login with ERR 1043 Bad handshake when a handshake field exceeds its bound, as MySQL does", async () => {
    const before = refusing.loginErrors.length;
    const r = await rawLogin(refusing.port, TOKEN, db.database, { username: "u".repeat(300) });
    expect(parseErr(r.reply)).toMatchObject({ errorCode: 1043, sqlState: "08S01", message: "Bad handshake" });
    await new Promise((resolve) => r.socket.once("close", resolve));
    expect(refusing.loginErrors.slice(before)).toEqual(["malformed_packet"]);
  });
});
