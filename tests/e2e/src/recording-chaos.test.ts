import { randomBytes } from "node:crypto";
import { eventually } from "@sluice/testkit";
import mysql from "mysql2/promise";
import pg from "pg";
import { Client, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi } from "./http-upstream";
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
const HTTP_CONNECTION = "chaos-api";
let api: TestApi;
let agentCa: string;
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
  api = await startTestApi();
  const http = await stack.api("/api/v1/connections", {
    method: "POST",
    body: {
      name: HTTP_CONNECTION,
      type: "http",
      host: "127.0.0.1",
      port: api.port,
      credentialRef: "env:CHAOS_API_TOKEN",
      tls: { mode: "verify-full", caPem: api.pki.caPem },
      http: { inject: { kind: "bearer" } },
      allowedGroups: ["chaos"],
    },
  });
  expect(http.status, http.text).toBe(201);
  agentCa = (await stack.api("/api/v1/ca")).body.caPem;
  agent = await stack.startAgent("chaos-edge", {
    CHAOS_MYSQL_PASSWORD: MYSQL_PASSWORD,
    CHAOS_API_TOKEN: api.token,
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await api?.close();
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

/**
 * The same stream through the agent's native HTTP listener: keep-alive GETs on one
 * connection, each answered by the upstream with the path it served.
 */
async function httpStreamUntilKilled(killAfterMs: number): Promise<number[]> {
  const client = new Client(`https://127.0.0.1:${agent.httpPort}`, { connect: { ca: agentCa } });
  const get = async (n: number) => {
    const res = await client.request({
      method: "GET",
      path: `/${HTTP_CONNECTION}/v1/items/${n}`,
      headers: { authorization: `Bearer ${devKey}` },
    });
    const body = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`item ${n}: ${res.statusCode} ${body}`);
    return (JSON.parse(body) as { path: string }).path;
  };
  // A restarted agent takes a moment to serve its connections again.
  await eventually(() => get(0).then(() => true), 20_000, 200);
  const seen: number[] = [];
  let killed = false;
  const killing = new Promise<void>((resolve) => setTimeout(resolve, killAfterMs)).then(async () => {
    await agent.restart();
    killed = true;
  });
  try {
    for (let n = 1; ; n++) {
      const path = await get(n);
      if (path !== `/v1/items/${n}`) throw new Error(`request ${n} was answered for ${path}`);
      seen.push(n);
    }
  } catch (err) {
    await killing;
    if (!killed) throw err;
  } finally {
    await client.destroy().catch(() => undefined);
  }
  return seen;
}

/** The session the restarted agent closed: explicit gap, then the end with its reason, numbered without holes. */
async function expectClosedByRestart(sid: string, events: RecordedEvent[], label: string): Promise<void> {
  expect(
    events.map((e) => e.seq),
    label,
  ).toEqual(events.map((_, i) => i + 1));
  const tail = events.slice(-2);
  expect(
    tail.map((e) => e.kind),
    label,
  ).toEqual(["gap", "session.end"]);
  expect(tail[0]!.payload).toMatchObject({ reason: "agent_restart" });
  expect(tail[1]!.payload).toMatchObject({ reason: "agent restarted" });
  const session = (await stack.api(`/api/v1/sessions/${sid}`)).body;
  expect(session.status, label).toBe("failed");
  expect(session.endReason, label).toBe("agent restarted");
  const audit = await stack.api(`/api/v1/audit?action=recording.gap&targetId=${sid}`);
  expect(audit.body.items, label).toMatchObject([
    { action: "recording.gap", outcome: "failure", details: { reason: "agent_restart" } },
  ]);
}

describe("HTTP recording under kill -9", () => {
  it("holds an http.exchange for every response the client fully received", async () => {
    const known = new Set<string>();
    for (let round = 1; round <= 4; round++) {
      await agent.proc.waitForOutput(/http listener ready/, 30_000);
      const killAfterMs = 150 + Math.floor(Math.random() * 600);
      const seen = await httpStreamUntilKilled(killAfterMs);
      await agent.proc.waitForOutput(/http listener ready/, 30_000);
      const label = `round ${round} (killed after ${killAfterMs} ms, ${seen.length} seen)`;
      expect(seen.length, `${label}: the client saw responses before the kill`).toBeGreaterThan(0);
      const fresh = (await sessionIds(HTTP_CONNECTION)).filter((id) => !known.has(id));
      expect(fresh, `${label}: one session held the keep-alive connection`).toHaveLength(1);
      const sid = fresh[0]!;
      known.add(sid);
      const events = await closedEvents(sid);
      const recorded = new Set(
        events
          .filter((e) => e.kind === "http.exchange" && e.payload.status === 200)
          .map((e) => e.payload.path as string),
      );
      expect(
        seen.filter((n) => !recorded.has(`/v1/items/${n}`)),
        label,
      ).toEqual([]);
      await expectClosedByRestart(sid, events, label);
    }
  }, 120_000);

  it("holds an event stream from its head, though it never ended", async () => {
    await agent.proc.waitForOutput(/http listener ready/, 30_000);
    const before = new Set(await sessionIds(HTTP_CONNECTION));
    const dispatcher = new Client(`https://127.0.0.1:${agent.httpPort}`, { connect: { ca: agentCa } });
    try {
      // A restarted agent refuses new sessions (503) until it is back in touch with the control plane.
      const res = await eventually(
        async () => {
          const r = await request(`https://127.0.0.1:${agent.httpPort}/${HTTP_CONNECTION}/v1/events`, {
            headers: { authorization: `Bearer ${devKey}` },
            dispatcher,
          });
          if (r.statusCode === 200) return r;
          await r.body.dump();
          return undefined;
        },
        20_000,
        200,
      );
      const first = await res.body[Symbol.asyncIterator]().next();
      expect(Buffer.from(first.value).toString()).toContain('"n":1');
      await agent.restart();
    } finally {
      await dispatcher.destroy().catch(() => undefined);
    }
    await agent.proc.waitForOutput(/http listener ready/, 30_000);
    const fresh = (await sessionIds(HTTP_CONNECTION)).filter((id) => !before.has(id));
    expect(fresh).toHaveLength(1);
    const events = await closedEvents(fresh[0]!);
    const streams = events.filter((e) => e.kind === "http.exchange" && e.payload.path === "/v1/events");
    expect(streams.map((e) => e.payload)).toMatchObject([{ method: "GET", status: 200, streamed: true }]);
    await expectClosedByRestart(fresh[0]!, events, "event stream");
  }, 60_000);
});
