import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { eventually, type PrivateCluster, startPrivateCluster } from "@sluice/testkit";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { psql, run } from "./psql";
import { type AgentProcess, type Stack, startStack } from "./stack";

const CANARY = `canary-pw-${Math.random().toString(36).slice(2)}-x9`;
let cluster: PrivateCluster;
let stack: Stack;
let agent: AgentProcess;
let devKey: string;
let outsiderKey: string;

const native = (a: AgentProcess, extra = "sslmode=disable") =>
  `host=127.0.0.1 port=${a.pgPort} dbname=app-pg user=dev ${extra}`;

async function sessionEvents(sessionId: string) {
  const res = await stack.api(`/api/v1/sessions/${sessionId}/events?limit=5000`);
  return res.body.items as { seq: number; kind: string; payload: any }[];
}

beforeAll(async () => {
  cluster = await startPrivateCluster([{ name: "app_rw", password: CANARY, method: "scram-sha-256" }]);
  await cluster.psql("CREATE DATABASE appdb OWNER app_rw");
  stack = await startStack();
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "dba" } });
  devKey = await stack.userKey("dev@example.com", ["dba"]);
  outsiderKey = await stack.userKey("outsider@example.com", []);
  const conn = await stack.api("/api/v1/connections", {
    method: "POST",
    body: {
      name: "app-pg",
      type: "postgres",
      host: "127.0.0.1",
      port: cluster.port,
      database: "appdb",
      username: "app_rw",
      credentialRef: "env:APP_PG_PASSWORD",
      allowedGroups: ["dba"],
      recordRowsLimit: 3,
    },
  });
  expect(conn.status).toBe(201);
  agent = await stack.startAgent("pg-edge", { APP_PG_PASSWORD: CANARY });
  await agent.proc.waitForOutput(/tunnel listener ready/);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await cluster?.stop();
});

describe("Postgres through the agent's native listener", () => {
  it("runs psql with an API key as the password and records the session", async () => {
    const res = psql(
      native(agent),
      devKey,
      "CREATE TABLE people(id int, email text); INSERT INTO people SELECT g, 'user' || g || '@example.com' FROM generate_series(1,10) g; SELECT count(*) FROM people;",
    );
    expect(res.stderr).toBe("");
    expect(res.stdout.trim().split("\n").at(-1)).toBe("10");
    const sessions = (await stack.api("/api/v1/sessions?connection=app-pg")).body.items;
    const sid = sessions[0].id as string;
    const events = await eventually(async () => {
      const ev = await sessionEvents(sid);
      return ev.some((e) => e.kind === "session.end") ? ev : undefined;
    }, 10_000);
    const start = events.find((e) => e.kind === "session.start");
    expect(start?.payload).toMatchObject({
      connection: "app-pg",
      identity: { name: "dev@example.com" },
      via: "credential",
    });
    const texts = events.filter((e) => e.kind === "pg.statement").map((e) => e.payload.text);
    expect(texts.join("\n")).toContain("SELECT count(*) FROM people");
    expect(events.filter((e) => e.kind === "pg.result").some((e) => e.payload.rows?.[0]?.[0] === "10")).toBe(
      true,
    );
    expect((await stack.api(`/api/v1/sessions/${sid}`)).body.status).toBe("closed");
  });

  it("caps recorded rows per statement at the connection's limit", async () => {
    psql(native(agent), devKey, "SELECT id FROM people ORDER BY id");
    const sid = (await stack.api("/api/v1/sessions?connection=app-pg&limit=1")).body.items[0].id;
    const result = await eventually(async () =>
      (await sessionEvents(sid)).find((e) => e.kind === "pg.result" && e.payload.rowCount === 10),
    );
    expect(result.payload.rows).toHaveLength(3);
    expect(result.payload.truncated).toBe(true);
  });

  it("accepts a grant as the password and TLS verified against the control plane's CA", async () => {
    const started = await stack.api("/api/v1/sessions", {
      method: "POST",
      key: devKey,
      body: { connection: "app-pg" },
    });
    const res = psql(
      `host=localhost port=${agent.pgPort} dbname=app-pg user=dev sslmode=verify-full sslrootcert=${stack.pki.caFile}`,
      started.body.grant,
      "SELECT current_user, ssl FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE pid = pg_backend_pid()",
    );
    expect(res.stderr).toBe("");
    // The upstream login is the agent's credential; the client never sees it.
    expect(res.stdout.trim()).toMatch(/^app_rw\|/);
    // A grant opens one connection: replaying it is refused.
    const replay = psql(native(agent), started.body.grant, "SELECT 1");
    expect(replay.code).not.toBe(0);
    expect(replay.stderr).toMatch(/already opened a connection/);
  });

  it("refuses a user outside the connection's groups and a bad key", () => {
    const outsider = psql(native(agent), outsiderKey, "SELECT 1");
    expect(outsider.code).not.toBe(0);
    expect(outsider.stderr).toMatch(/connection app-pg not found/);
    const bad = psql(
      native(agent),
      "slk_aaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
      "SELECT 1",
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/invalid credentials/);
  });

  it("runs pgbench unchanged", async () => {
    const env = { PGPASSWORD: devKey, PGSSLMODE: "disable" };
    const base = ["-h", "127.0.0.1", "-p", String(agent.pgPort), "-U", "dev"];
    const init = await run("pgbench", ["-i", "-s", "1", "-q", ...base, "app-pg"], env);
    expect(init.code, init.stderr).toBe(0);
    const bench = await run("pgbench", ["-S", "-c", "2", "-j", "2", "-T", "2", ...base, "app-pg"], env);
    expect(bench.code, bench.stderr).toBe(0);
    expect(bench.stdout).toMatch(/number of failed transactions: 0/);
  }, 60_000);

  it("keeps a session's recording through kill -9 of the agent with the control plane down", async () => {
    const started = await stack.api("/api/v1/sessions", {
      method: "POST",
      key: devKey,
      body: { connection: "app-pg" },
    });
    const sid = started.body.session.id as string;
    const ports = {
      SLUICE_API_PORT: stack.cp.env.SLUICE_API_PORT as string,
      SLUICE_GRPC_PORT: String(stack.cp.grpcPort),
    };
    await stack.cp.proc.stop("SIGKILL");
    const client = new pg.Client({
      host: "127.0.0.1",
      port: agent.pgPort,
      database: "app-pg",
      user: "dev",
      password: started.body.grant,
      ssl: false,
    });
    client.on("error", () => undefined);
    await client.connect();
    for (let i = 1; i <= 5; i++)
      await client.query(`SELECT ${i} AS step, $1::text AS note`, [`offline-${i}`]);
    await new Promise((r) => setTimeout(r, 300)); // past the spool's flush interval
    await agent.restart(); // kill -9, then start again from its state dir
    await agent.proc.waitForOutput(/postgres listener ready/);
    stack.cp = await stack.startControlPlane(ports);
    const events = await eventually(
      async () => {
        const ev = await sessionEvents(sid);
        return ev.some((e) => e.kind === "session.end") ? ev : undefined;
      },
      30_000,
      200,
    );
    const seqs = events.map((e) => e.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const notes = events.filter((e) => e.kind === "pg.statement").map((e) => e.payload.params?.[0]);
    expect(notes).toEqual(["offline-1", "offline-2", "offline-3", "offline-4", "offline-5"]);
    expect(events.at(-1)?.payload.reason).toBe("agent restarted");
    await client.end().catch(() => undefined);
    await eventually(
      async () => (await stack.api("/api/v1/agents/pg-edge")).body.status === "online",
      30_000,
      200,
    );
  }, 90_000);

  it("never lets the target password reach logs, rows, responses or recordings", async () => {
    const dump = spawnSync("pg_dump", ["-h", "127.0.0.1", "-U", "postgres", "--data-only", stack.db.name], {
      encoding: "utf8",
      maxBuffer: 1024 * 1024 * 1024,
    });
    expect(dump.error).toBeUndefined();
    expect(dump.status).toBe(0);
    expect(dump.stdout.length).toBeGreaterThan(1000);
    expect(dump.stdout).not.toContain(CANARY);
    for (const path of [
      "/api/v1/connections",
      "/api/v1/agents",
      "/api/v1/sessions?limit=500",
      "/api/v1/openapi.json",
    ]) {
      expect((await stack.api(path)).text).not.toContain(CANARY);
    }
    expect(stack.cp.proc.output()).not.toContain(CANARY);
    expect(agent.proc.output()).not.toContain(CANARY);
    const spoolState = readFileSync(join(agent.stateDir, "desired-state.json"), "utf8");
    expect(spoolState).not.toContain(CANARY);
  });
});
