import { existsSync } from "node:fs";
import { type PrivateCluster, startPrivateCluster } from "@sluice/testkit";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "./psql";
import { type AgentProcess, type Stack, startStack } from "./stack";

/**
 * Attempts to get past the guardrails, end to end: each statement goes through the real agent
 * with psql (simple protocol, several statements in one Query) and with node-postgres (extended
 * protocol) to a real PostgreSQL where the target role is a superuser, so a statement that got
 * through would have its effect. A refused statement must leave the database as it was; a
 * benign one must run. The control plane's dry run must give the verdict the agent gave.
 */

const PW = `adv-pw-${Math.random().toString(36).slice(2)}`;
const TAG = Math.random().toString(36).slice(2, 10);
const FILE = `/tmp/sluice-adv-${TAG}`;
let cluster: PrivateCluster;
let stack: Stack;
let agent: AgentProcess;
let devKey: string;

const guardedRules = {
  name: `adv-guard-${TAG}`,
  guardrails: [
    { name: "no-ddl", statementKinds: ["DROP", "TRUNCATE", "ALTER", "GRANT", "COPY PROGRAM", "CREATE ROLE"] },
    { name: "where-required", requireWhere: true },
    { name: "no-canary-delete", statementKinds: ["DELETE"], objects: ["canary"] },
    { name: "protect-secrets", objects: ["vault.*"] },
  ],
  masking: [],
  reviewRules: [],
};
const laneRules = {
  name: `adv-lane-${TAG}`,
  guardrails: [{ name: "read-only", readOnly: true }],
  masking: [],
  reviewRules: [],
};

const direct = (sql: string) => cluster.psql(sql, "appdb");

/** One Query message with the whole text, as psql -c sends it. */
function psqlSimple(db: string, sql: string) {
  const conninfo = `host=127.0.0.1 port=${agent.pgPort} dbname=${db} user=dev sslmode=disable`;
  return run(
    "psql",
    ["-X", "-At", "-v", "ON_ERROR_STOP=1", conninfo, "-c", sql],
    { PGPASSWORD: devKey },
    60_000,
  );
}

/** Parse/Bind/Execute with node-postgres. */
async function extended(db: string, sql: string): Promise<{ ok: boolean; code?: string; message?: string }> {
  const client = new pg.Client({
    host: "127.0.0.1",
    port: agent.pgPort,
    database: db,
    user: "dev",
    password: devKey,
  });
  client.on("error", () => undefined);
  await client.connect();
  try {
    await client.query({ text: sql, queryMode: "extended" } as pg.QueryConfig);
    return { ok: true };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return { ok: false, ...(e.code ? { code: e.code } : {}), ...(e.message ? { message: e.message } : {}) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function dryRun(
  policy: string,
  sql: string,
): Promise<{ verdict: string; rule?: string; message?: string }> {
  const res = await stack.api(`/api/v1/policies/${policy}/evaluate`, {
    method: "POST",
    body: { sql, values: [] },
  });
  expect(res.status, res.text).toBe(200);
  return res.body;
}

/** The database state a refused statement must not change. */
async function state(): Promise<string> {
  return (
    await direct(`SELECT concat_ws('|',
    (SELECT string_agg(id::text || ':' || v, ',' ORDER BY id) FROM canary),
    (SELECT count(*) FROM canary_log),
    (SELECT last_value FROM canary_seq),
    (SELECT count(*) FROM pg_roles WHERE rolname LIKE 'adv_evil%'),
    (SELECT count(*) FROM pg_largeobject_metadata),
    (SELECT count(*) FROM pg_db_role_setting),
    (SELECT count(*) FROM vault.tokens))`)
  ).trim();
}

beforeAll(async () => {
  cluster = await startPrivateCluster([{ name: "app_rw", password: PW, method: "scram-sha-256" }]);
  await cluster.psql("CREATE DATABASE appdb OWNER app_rw");
  await cluster.psql("ALTER ROLE app_rw SUPERUSER");
  await direct(`CREATE EXTENSION dblink;
    CREATE TABLE canary (id int primary key, v text);
    INSERT INTO canary VALUES (1, 'a'), (2, 'b'), (3, 'c');
    CREATE TABLE canary_log (at timestamptz DEFAULT now());
    CREATE TABLE notes (id int primary key, note text);
    CREATE SEQUENCE canary_seq;
    CREATE SCHEMA vault; CREATE TABLE vault.tokens (id int, secret text); INSERT INTO vault.tokens VALUES (1, 's3cret');
    CREATE FUNCTION adv_writer() RETURNS int LANGUAGE sql AS 'INSERT INTO canary_log DEFAULT VALUES RETURNING 1';`);
  stack = await startStack();
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "eng" } });
  devKey = await stack.userKey("adv-dev@example.com", ["eng"]);
  for (const [db, rules] of [
    ["guarded", guardedRules],
    ["lane", laneRules],
    ["open", undefined],
  ] as const) {
    const policy = rules ? await stack.api("/api/v1/policies", { method: "POST", body: rules }) : undefined;
    if (policy) expect(policy.status, policy.text).toBe(201);
    const conn = await stack.api("/api/v1/connections", {
      method: "POST",
      body: {
        name: db,
        type: "postgres",
        host: "127.0.0.1",
        port: cluster.port,
        database: "appdb",
        username: "app_rw",
        credentialRef: "env:APP_PG_PASSWORD",
        allowedGroups: ["eng"],
        policyIds: policy ? [policy.body.id] : [],
      },
    });
    expect(conn.status, conn.text).toBe(201);
  }
  agent = await stack.startAgent("adversarial-edge", { APP_PG_PASSWORD: PW });
  await agent.proc.waitForOutput(/postgres listener ready/);
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await cluster?.stop();
});

const dblinkTarget = () => `host=${cluster.socketDir} port=${cluster.port} dbname=appdb user=postgres`;

/** [sql, whether it also goes over the extended protocol (one statement only)]. */
const guardedRefused = (): [string, boolean][] => [
  ["SET standard_conforming_strings = off; SELECT 'a\\', 'b; DROP TABLE canary; --'", false],
  ["SET client_encoding = 'SJIS'", true],
  ["SELECT set_config('standard_conforming_strings', 'off', false)", true],
  ["UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'", true],
  ["ALTER ROLE app_rw SET client_encoding = 'SJIS'", true],
  ["DO E'BEGIN \\x44ROP TABLE canary; END'", true],
  ["DO U&'BEGIN D\\0052OP TABLE canary; END'", true],
  ["DO $$ BEGIN EXECUTE 'DO $x$ BEGIN DROP TABLE canary; END $x$'; END $$", true],
  ["DO $$ BEGIN EXECUTE 'DR' || 'OP TABLE canary'; END $$", true],
  ["DO $$ BEGIN EXECUTE format('CREATE ROLE %I SUPERUSER', 'adv_evil'); END $$", true],
  ["DO $$ BEGIN PERFORM 1 AS a$b$; DROP TABLE canary; END $$", true],
  ["SELECT 1; DO $$ BEGIN IF true THEN DELETE FROM canary; END IF; END $$", false],
  ["MERGE INTO canary c USING (SELECT 1 AS k) s ON true WHEN MATCHED THEN DELETE", true],
  ["MERGE INTO canary c USING canary s ON c.id = s.id WHEN MATCHED THEN DELETE", true],
  ["DELETE FROM canary WHERE true", true],
  [`SELECT dblink_exec('${dblinkTarget()}', 'DROP TABLE canary')`, true],
  [`SELECT 1; SELECT dblink_exec('${dblinkTarget()}', 'CREATE ROLE adv_evil2')`, false],
  [`COPY canary TO '${FILE}.csv'`, true],
  [`COPY (SELECT 1) TO PROGRAM 'touch ${FILE}.prog'`, true],
  ["SELECT query_to_xml('DELETE FROM canary RETURNING *', true, true, '')", true],
  [`SELECT lo_export(lo_from_bytea(0, 'x'), '${FILE}.lo')`, true],
  ["SELECT table_to_xml('vault.tokens', true, true, '')", true],
];

const guardedAllowed: [string, boolean][] = [
  ["DO $$ BEGIN RAISE NOTICE 'drop table canary'; END $$", true],
  ["DO $$ DECLARE n int; BEGIN SELECT count(*) INTO n FROM canary; RAISE NOTICE 'n=%', n; END $$", true],
  ["SET escape_string_warning = off; RESET ALL; SELECT count(*) FROM canary", false],
  [
    "MERGE INTO notes n USING (SELECT 1 AS id) s ON n.id = s.id WHEN NOT MATCHED THEN INSERT VALUES (s.id, 'x')",
    true,
  ],
];

const laneRefused: [string, boolean][] = [
  ["SELECT lo_create(0)", true],
  ["SELECT nextval('canary_seq')", true],
  ["SELECT 1; SELECT setval('canary_seq', 99)", false],
  ["SELECT adv_writer()", true],
  ["SELECT pg_advisory_lock(42)", true],
  ["SELECT set_config('default_transaction_read_only', 'off', false)", true],
  ["SELECT pg_notify('c', 'x')", true],
  ["SELECT txid_current()", true],
];

const laneAllowed: [string, boolean][] = [
  ["SELECT count(*) FROM canary", true],
  ["SELECT lower('X'), now() IS NOT NULL, random() < 2", true],
];

async function expectRefused(db: string, policy: string, sql: string, alsoExtended: boolean): Promise<void> {
  const dry = await dryRun(policy, sql);
  expect(dry.verdict, sql).toBe("deny");
  const r = await psqlSimple(db, sql);
  expect(r.code, sql).not.toBe(0);
  expect(r.stderr, sql).toContain(dry.message);
  if (alsoExtended) {
    const e = await extended(db, sql);
    expect(e, sql).toMatchObject({ ok: false, code: "42501", message: dry.message });
  }
}

async function expectAllowed(db: string, policy: string, sql: string, alsoExtended: boolean): Promise<void> {
  expect((await dryRun(policy, sql)).verdict, sql).toBe("allow");
  const r = await psqlSimple(db, sql);
  expect(r.stderr.replace(/^NOTICE:.*\n/gm, ""), sql).toBe("");
  expect(r.code, sql).toBe(0);
  if (alsoExtended) expect(await extended(db, sql), sql).toEqual({ ok: true });
}

describe("adversarial statements through the agent", () => {
  it("would have had their effect: on a connection without policies the same tricks work", async () => {
    await direct("CREATE TABLE control_a (a int); CREATE TABLE control_b (a int)");
    expect((await psqlSimple("open", "DO E'BEGIN \\x44ROP TABLE control_a; END'")).code).toBe(0);
    const viaDblink = `SELECT dblink_exec('${dblinkTarget()}', 'DROP TABLE control_b')`;
    expect(await extended("open", viaDblink)).toEqual({ ok: true });
    expect(
      (await direct("SELECT to_regclass('control_a') IS NULL AND to_regclass('control_b') IS NULL")).trim(),
    ).toBe("t");
  }, 120_000);

  it("refuses every bypass on the guarded connection, over both protocols, with no effect", async () => {
    const before = await state();
    expect(before).toBe("1:a,2:b,3:c|0|1|0|0|0|1");
    for (const [sql, ext] of guardedRefused()) await expectRefused("guarded", guardedRules.name, sql, ext);
    expect(await state()).toBe(before);
    for (const suffix of [".csv", ".prog", ".lo"]) expect(existsSync(`${FILE}${suffix}`), suffix).toBe(false);
    expect((await direct("SHOW standard_conforming_strings")).trim()).toBe("on");
  }, 300_000);

  it("runs the benign statements on the guarded connection", async () => {
    for (const [sql, ext] of guardedAllowed) await expectAllowed("guarded", guardedRules.name, sql, ext);
    expect((await direct("SELECT count(*) FROM notes")).trim()).toBe("1");
  }, 120_000);

  it("keeps the read-only lane read-only, over both protocols, with no effect", async () => {
    const before = await state();
    for (const [sql, ext] of laneRefused) await expectRefused("lane", laneRules.name, sql, ext);
    expect(await state()).toBe(before);
    for (const [sql, ext] of laneAllowed) await expectAllowed("lane", laneRules.name, sql, ext);
  }, 300_000);
});
