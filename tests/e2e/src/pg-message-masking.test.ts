import { eventually, type PrivateCluster, startPrivateCluster } from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "./psql";
import { type AgentProcess, type Stack, startStack } from "./stack";

/**
 * Masking outside DataRows end to end: errors, notices and notifications through the real
 * agent with the real psql, and what the session's recording holds.
 */

const CANARY = `canary-pw-${Math.random().toString(36).slice(2)}-m3`;
const EMAIL = "ann@example.com";
const NAME = "Annabel Smithers";
let cluster: PrivateCluster;
let stack: Stack;
let agent: AgentProcess;
let devKey: string;

function psql(sql: string, env: Record<string, string> = {}) {
  return run(
    "psql",
    [
      "-X",
      "-At",
      "-v",
      "ON_ERROR_STOP=0",
      `host=127.0.0.1 port=${agent.pgPort} dbname=masked user=dev sslmode=disable`,
      "-f",
      "-",
    ],
    { PGPASSWORD: devKey, PGCONNECT_TIMEOUT: "10", ...env },
    60_000,
    sql,
  );
}

beforeAll(async () => {
  cluster = await startPrivateCluster([{ name: "app_rw", password: CANARY, method: "scram-sha-256" }]);
  await cluster.psql("CREATE DATABASE appdb OWNER app_rw");
  await cluster.psql(
    `CREATE TABLE people (id int PRIMARY KEY, email text UNIQUE, name text, note text NOT NULL);
     INSERT INTO people VALUES (1, '${EMAIL}', '${NAME}', 'first');
     ALTER TABLE people OWNER TO app_rw;`,
    "appdb",
  );
  stack = await startStack();
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "eng" } });
  devKey = await stack.userKey("dev@example.com", ["eng"]);
  const policy = await stack.api("/api/v1/policies", {
    method: "POST",
    body: {
      name: "message-masking",
      guardrails: [],
      masking: [
        { name: "names", columns: ["^name$"], tables: ["people"], action: "redact" },
        { name: "emails", detector: "email", action: "redact" },
      ],
      reviewRules: [],
    },
  });
  expect(policy.status).toBe(201);
  const conn = await stack.api("/api/v1/connections", {
    method: "POST",
    body: {
      name: "masked",
      type: "postgres",
      host: "127.0.0.1",
      port: cluster.port,
      database: "appdb",
      username: "app_rw",
      credentialRef: "env:APP_PG_PASSWORD",
      allowedGroups: ["eng"],
      policyIds: [policy.body.id],
    },
  });
  expect(conn.status).toBe(201);
  agent = await stack.startAgent("message-masking-edge", { APP_PG_PASSWORD: CANARY });
  await agent.proc.waitForOutput(/postgres listener ready/);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await cluster?.stop();
});

describe("masking of server messages", () => {
  it("masks errors, notices and notifications in psql and in the recording", async () => {
    const r = await psql(
      [
        "SELECT email::int FROM people;",
        "INSERT INTO people VALUES (2, (SELECT email FROM people WHERE id = 1), 'x', 'y');",
        // sluice.masked_lineage refuses a masked column inside an expression or a nested query
        "SELECT upper(name) FROM people;",
        "INSERT INTO people SELECT 3, 'c@x.io', 'Dora', NULL;",
        "DO $$ BEGIN RAISE NOTICE 'who: %', 'Dora'; END $$;",
        "LISTEN ch;",
        "SELECT pg_notify('ch', email) FROM people;",
        "",
      ].join("\n"),
    );
    expect(r.stderr).toContain('invalid input syntax for type integer: "****"');
    expect(r.stderr).toContain("sluice.masked_lineage");
    expect(r.stderr).toContain("DETAIL:  (hidden by Sluice: this connection masks column values)");
    expect(r.stderr).toContain("NOTICE:  (hidden by Sluice: this connection masks column values)");
    expect(r.stdout).toContain('Asynchronous notification "ch" with payload "(hidden by Sluice');
    for (const raw of [EMAIL, NAME]) expect(r.stdout + r.stderr).not.toContain(raw);
    const text = await eventually(async () => {
      const sessions = (await stack.api("/api/v1/sessions?connection=masked")).body.items as { id: string }[];
      for (const s of sessions) {
        const ev = await stack.api(`/api/v1/sessions/${s.id}/events?limit=5000`);
        const body = JSON.stringify(ev.body.items);
        if (body.includes("pg_notify") && body.includes("hidden by Sluice")) return body;
      }
      return undefined;
    }, 15_000);
    expect(text).not.toContain(NAME);
    // the statements' own text is the client's; what the server answered must be masked
    expect(text).not.toMatch(/Key \(email\)=\(ann@example\.com\)/);
  });

  it("refuses a startup options parameter on the guarded connection", async () => {
    const r = await psql("SELECT 1;\n", { PGOPTIONS: "-c standard_conforming_strings=off" });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Sluice does not accept the startup parameter "options"');
  });
});
