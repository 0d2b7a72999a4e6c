import { randomBytes } from "node:crypto";
import { eventually } from "@sluice/testkit";
import mysql from "mysql2/promise";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "./psql";
import { type AgentProcess, type Stack, startStack } from "./stack";

/**
 * kill -9 of the agent in the middle of a stream of statements: every result a client
 * received must be in the recording, and the restarted agent must close the killed
 * session with an explicit gap and a reason.
 */
const DB = `sluice_chaos_${randomBytes(4).toString("hex")}`;
const CONNECTION = "chaos-pg";
const ROUNDS = 5;
const MYSQL_CONNECTION = "chaos-mysql";
const MYSQL_USER = `sl_chaos_${randomBytes(4).toString("hex")}`;
const MYSQL_PASSWORD = randomBytes(12).toString("hex");
let mysqlRoot: mysql.Connection;
let stack: Stack;
let agent: AgentProcess;
let devKey: string;

const admin = (sql: string) =>
  run("psql", ["-X", "-At", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c", sql]);

interface RecordedEvent {
  seq: number;
  kind: string;
  payload: any;
}

/** Runs `SELECT <n>` one after the other until the connection dies; returns every n whose result arrived. */
async function streamUntilKilled(port: number, killAfterMs: number): Promise<{ seen: number[] }> {
  const client = new pg.Client({
    host: "127.0.0.1",
    port,
    user: "dev",
    password: devKey,
    database: CONNECTION,
    ssl: false,
  });
  client.on("error", () => undefined);
  await client.connect();
  const seen: number[] = [];
  let killed = false;
  const killing = new Promise<void>((resolve) => setTimeout(resolve, killAfterMs)).then(async () => {
    await agent.restart();
    killed = true;
  });
  try {
    for (let n = 1; ; n++) {
      const res = await client.query(`SELECT ${n} AS n`);
      const value = Number(res.rows[0]?.n);
      // What the client saw is what the proxy forwarded: it must be the statement's own result.
      if (value !== n) throw new Error(`statement ${n} returned ${value}`);
      seen.push(value);
    }
  } catch (err) {
    await killing;
    if (!killed) throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
  return { seen };
}

/** Every recorded event of a session, paged (a round can record more than one page). */
async function allEvents(sessionId: string): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for (let after = 0; ; ) {
    const res = await stack.api(`/api/v1/sessions/${sessionId}/events?limit=5000&after=${after}`);
    out.push(...(res.body.items as RecordedEvent[]));
    if (res.body.nextAfter === null) return out;
    after = res.body.nextAfter as number;
  }
}

/** Waits until the session is closed and its recording ends with `session.end`. */
async function closedEvents(sessionId: string): Promise<RecordedEvent[]> {
  return eventually(
    async () => {
      const s = (await stack.api(`/api/v1/sessions/${sessionId}`)).body;
      if (s?.status !== "closed" && s?.status !== "failed") return undefined;
      const events = await allEvents(sessionId);
      return events.at(-1)?.kind === "session.end" ? events : undefined;
    },
    30_000,
    200,
  );
}

async function sessionIds(connection = CONNECTION): Promise<string[]> {
  const res = await stack.api(`/api/v1/sessions?connection=${connection}`);
  return (res.body.items as { id: string }[]).map((s) => s.id);
}

beforeAll(async () => {
  await admin(`CREATE DATABASE ${DB}`);
  stack = await startStack();
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "chaos" } });
  devKey = await stack.userKey("chaos-dev@example.com", ["chaos"]);
  const conn = await stack.api("/api/v1/connections", {
    method: "POST",
    body: {
      name: CONNECTION,
      type: "postgres",
      host: "127.0.0.1",
      port: 5432,
      database: DB,
      username: "postgres",
      allowedGroups: ["chaos"],
      recordRowsLimit: 3,
    },
  });
  expect(conn.status).toBe(201);
  mysqlRoot = await mysql.createConnection({
    host: "127.0.0.1",
    port: 3306,
    user: "root",
    multipleStatements: true,
  });
  await mysqlRoot.query(
    `CREATE USER '${MYSQL_USER}'@'127.0.0.1' IDENTIFIED BY '${MYSQL_PASSWORD}';
     CREATE USER '${MYSQL_USER}'@'localhost' IDENTIFIED BY '${MYSQL_PASSWORD}';`,
  );
  const my = await stack.api("/api/v1/connections", {
    method: "POST",
    body: {
      name: MYSQL_CONNECTION,
      type: "mysql",
      host: "127.0.0.1",
      port: 3306,
      database: "information_schema",
      username: MYSQL_USER,
      credentialRef: "env:CHAOS_MYSQL_PASSWORD",
      allowedGroups: ["chaos"],
      recordRowsLimit: 3,
    },
  });
  expect(my.status, my.text).toBe(201);
  agent = await stack.startAgent("chaos-edge", { CHAOS_MYSQL_PASSWORD: MYSQL_PASSWORD });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await mysqlRoot
    ?.query(
      `DROP USER IF EXISTS '${MYSQL_USER}'@'127.0.0.1'; DROP USER IF EXISTS '${MYSQL_USER}'@'localhost';`,
    )
    .catch(() => undefined);
  await mysqlRoot?.end();
  await admin(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
});

describe("recording under kill -9", () => {
  it("holds every result the client received, and the restarted agent marks the gap", async () => {
    const known = new Set<string>();
    for (let round = 1; round <= ROUNDS; round++) {
      const killAfterMs = 150 + Math.floor(Math.random() * 600);
      const { seen } = await streamUntilKilled(agent.pgPort, killAfterMs);
      await agent.proc.waitForOutput(/postgres listener ready/, 30_000);
      expect(seen.length, `round ${round}: the client saw results before the kill`).toBeGreaterThan(0);
      const sid = (await sessionIds()).find((id) => !known.has(id));
      expect(sid, `round ${round}: the killed session is listed`).toBeDefined();
      known.add(sid!);

      const events = await closedEvents(sid!).catch(async (err: unknown) => {
        const s = (await stack.api(`/api/v1/sessions/${sid}`)).body;
        throw new Error(
          `round ${round}: session ${sid} not closed (status ${s?.status}): ${String(err)}\n${agent.proc.output().slice(-3000)}`,
        );
      });
      const recorded = new Set(
        events
          .filter((e) => e.kind === "pg.result" && !e.payload.error)
          .map((e) => Number(e.payload.rows?.[0]?.[0])),
      );
      const missing = seen.filter((n) => !recorded.has(n));
      expect(missing, `round ${round} (killed after ${killAfterMs} ms, ${seen.length} seen)`).toEqual([]);
      // Numbering has no holes, and the end is explicit: a gap, then the end with its reason.
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      const tail = events.slice(-2);
      expect(tail.map((e) => e.kind)).toEqual(["gap", "session.end"]);
      expect(tail[0]!.payload).toMatchObject({ reason: "agent_restart" });
      expect(tail[1]!.payload).toMatchObject({ reason: "agent restarted" });
      const session = (await stack.api(`/api/v1/sessions/${sid}`)).body;
      expect(session.status).toBe("failed");
      expect(session.endReason).toBe("agent restarted");
      // The control plane read the gap: it is in the audit log against the session.
      const audit = await stack.api(`/api/v1/audit?action=recording.gap&targetId=${sid}`);
      expect(audit.body.items).toMatchObject([
        { action: "recording.gap", outcome: "failure", details: { reason: "agent_restart" } },
      ]);
    }
  }, 120_000);
});

/** The same stream through the agent's MySQL listener, with mysql2. */
async function mysqlStreamUntilKilled(port: number, killAfterMs: number): Promise<number[]> {
  const client = await mysql.createConnection({
    host: "127.0.0.1",
    port,
    user: "dev",
    password: devKey,
    database: MYSQL_CONNECTION,
    ssl: { rejectUnauthorized: false },
    enableCleartextPlugin: true,
  });
  client.on("error", () => undefined);
  const seen: number[] = [];
  let killed = false;
  const killing = new Promise<void>((resolve) => setTimeout(resolve, killAfterMs)).then(async () => {
    await agent.restart();
    killed = true;
  });
  try {
    for (let n = 1; ; n++) {
      const [rows] = (await client.query(`SELECT ${n} AS n`)) as [{ n: number }[], unknown];
      if (Number(rows[0]?.n) !== n) throw new Error(`statement ${n} returned ${rows[0]?.n}`);
      seen.push(n);
    }
  } catch (err) {
    await killing;
    if (!killed) throw err;
  } finally {
    client.destroy();
  }
  return seen;
}

describe("MySQL recording under kill -9", () => {
  it("holds every result the client received", async () => {
    const known = new Set<string>();
    for (let round = 1; round <= 3; round++) {
      await agent.proc.waitForOutput(/mysql listener ready/, 30_000);
      const killAfterMs = 150 + Math.floor(Math.random() * 600);
      const seen = await mysqlStreamUntilKilled(agent.mysqlPort, killAfterMs);
      await agent.proc.waitForOutput(/mysql listener ready/, 30_000);
      expect(seen.length, `round ${round}: the client saw results before the kill`).toBeGreaterThan(0);
      const sid = (await sessionIds(MYSQL_CONNECTION)).find((id) => !known.has(id));
      expect(sid).toBeDefined();
      known.add(sid!);
      const events = await closedEvents(sid!);
      const recorded = new Set(
        events
          .filter((e) => e.kind === "mysql.result" && !e.payload.error)
          .map((e) => Number(e.payload.rows?.[0]?.[0])),
      );
      expect(
        seen.filter((n) => !recorded.has(n)),
        `round ${round}, ${seen.length} seen`,
      ).toEqual([]);
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      expect(events.slice(-2).map((e) => e.kind)).toEqual(["gap", "session.end"]);
    }
  }, 120_000);
});
