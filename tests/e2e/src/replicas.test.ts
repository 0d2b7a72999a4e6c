import { readFileSync } from "node:fs";
import { get, Agent as HttpAgent } from "node:http";
import { join } from "node:path";
import {
  createTestDatabase,
  eventually,
  startTestOidcProvider,
  type TestDatabase,
  type TestOidcProvider,
} from "@sluice/testkit";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster } from "./cluster";
import { run } from "./psql";
import { type AgentProcess, repoRoot } from "./stack";

/**
 * Two control-plane replicas over one PostgreSQL database and one Redis, two agents that
 * know both (each preferring a different one): everything a person does through one
 * replica must work for an agent linked to the other, and an agent whose replica dies
 * moves to the survivor.
 */
const RATE_LIMIT = 1000;
let cluster: Cluster;
let idp: TestOidcProvider;
let target: TestDatabase;
let edge1: AgentProcess;
let edge2: AgentProcess;
let devKey: string;
let reviewerKey: string;

const cachedConnections = (a: AgentProcess): string[] => {
  try {
    const state = JSON.parse(readFileSync(join(a.stateDir, "desired-state.json"), "utf8"));
    return state.connections.map((c: { name: string }) => c.name);
  } catch {
    return [];
  }
};

/** psql through an agent's native listener, without blocking the test's event loop. */
const psql = (a: AgentProcess, password: string, sql: string) =>
  run(
    "psql",
    ["-X", "-At", "-v", "ON_ERROR_STOP=1", `host=127.0.0.1 port=${a.pgPort} dbname=app-pg sslmode=disable`],
    { PGPASSWORD: password, PGCONNECT_TIMEOUT: "10" },
    60_000,
    sql,
  );

/** A closed session's recorded statements, as one replica's API shows them. */
async function recordedStatements(replica: number, sessionId: string): Promise<string[]> {
  const events = await eventually(
    async () => {
      const s = await cluster.api(replica, `/api/v1/sessions/${sessionId}`);
      if (s.body?.status !== "closed") return undefined;
      const ev = await cluster.api(replica, `/api/v1/sessions/${sessionId}/events?limit=1000`);
      const items = ev.body.items as { kind: string; payload: any }[];
      return items.some((e) => e.kind === "session.end") ? items : undefined;
    },
    20_000,
    200,
  );
  return events.filter((e) => e.kind === "pg.statement").map((e) => e.payload.text as string);
}

async function latestSession(
  replica: number,
  agent: string,
): Promise<{ id: string; agent: { name: string } }> {
  const res = await cluster.api(replica, "/api/v1/sessions?connection=app-pg&limit=1");
  const s = res.body.items[0];
  expect(s.agent.name).toBe(agent);
  return s;
}

beforeAll(async () => {
  idp = await startTestOidcProvider();
  target = await createTestDatabase("replicas_target");
  const t = new pg.Client({ connectionString: target.url });
  await t.connect();
  await t.query(
    "CREATE TABLE accounts (id int primary key, balance int); INSERT INTO accounts VALUES (1, 100)",
  );
  await t.end();
  cluster = await startCluster({
    replicas: 2,
    env: {
      SLUICE_OIDC_ISSUER: idp.issuer,
      SLUICE_OIDC_CLIENT_ID: idp.cliClientId,
      SLUICE_OIDC_ALLOW_INSECURE_HTTP: "true",
      SLUICE_RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT),
    },
    // Held statements hear their decision only by push: polling would take five minutes.
    agentEnv: { SLUICE_REVIEW_POLL_SECONDS: "300", TARGET_PASSWORD: "unused-with-trust" },
  });
  for (const name of ["eng", "dba"])
    await cluster.api(0, "/api/v1/groups", { method: "POST", body: { name } });
  devKey = await cluster.stack.userKey("dev@example.com", ["eng"]);
  reviewerKey = await cluster.stack.userKey("rita@example.com", ["dba"]);
  const policy = await cluster.api(1, "/api/v1/policies", {
    method: "POST",
    body: {
      name: "money",
      reviewRules: [
        { name: "money-moves", statementKinds: ["UPDATE"], reviewerGroups: ["dba"], timeoutSeconds: 60 },
      ],
    },
  });
  expect(policy.status).toBe(201);
  const url = new URL(target.url);
  const conn = await cluster.api(0, "/api/v1/connections", {
    method: "POST",
    body: {
      name: "app-pg",
      type: "postgres",
      host: url.hostname,
      port: Number(url.port),
      database: target.name,
      username: "postgres",
      credentialRef: "env:TARGET_PASSWORD",
      allowedGroups: ["eng"],
      policyIds: [policy.body.id],
    },
  });
  expect(conn.status).toBe(201);
  [edge1, edge2] = await Promise.all([
    cluster.startAgent("edge-1", { prefer: 0 }),
    cluster.startAgent("edge-2", { prefer: 1 }),
  ]);
}, 150_000);

afterAll(async () => {
  await cluster?.stop();
  await target?.drop();
  await idp?.stop();
});

describe("two control-plane replicas", () => {
  it("spreads agents over both replicas", async () => {
    expect(await cluster.linkedReplica("edge-1")).toBe("cp-1");
    expect(await cluster.linkedReplica("edge-2")).toBe("cp-2");
  });

  it("delivers a change made on either replica to the agents on both", async () => {
    const started = Date.now();
    const made = await cluster.api(1, "/api/v1/connections", {
      method: "POST",
      body: { name: "made-on-cp-2", type: "tcp", host: "127.0.0.1", port: 9 },
    });
    expect(made.status).toBe(201);
    await eventually(
      () => [edge1, edge2].every((a) => cachedConnections(a).includes("made-on-cp-2")),
      5000,
      20,
    );
    expect(Date.now() - started).toBeLessThan(2000);
    await cluster.api(0, "/api/v1/connections/made-on-cp-2", { method: "DELETE" });
    await eventually(
      () => [edge1, edge2].every((a) => !cachedConnections(a).includes("made-on-cp-2")),
      5000,
      20,
    );
  });

  it("records a session brokered by one replica through an agent linked to the other", async () => {
    const broker = (replica: number) =>
      cluster.api(replica, "/api/v1/sessions", {
        method: "POST",
        key: devKey,
        body: { connection: "app-pg" },
      });
    // The control plane picks the agent; the session is brokered by the replica it is not linked to.
    let brokered = await broker(0);
    const name = brokered.body.agent.name as string;
    const other = (await cluster.linkedReplica(name)) === "cp-1" ? 1 : 0;
    if (other === 1) brokered = await broker(1);
    expect(brokered.status).toBe(201);
    expect(brokered.body.agent.name).toBe(name);
    const agent = name === "edge-1" ? edge1 : edge2;
    const viaGrant = await psql(agent, brokered.body.grant, "SELECT balance FROM accounts WHERE id = 1");
    expect(viaGrant.stderr).toBe("");
    expect(viaGrant.stdout.trim()).toBe("100");
    expect(await recordedStatements(other, brokered.body.session.id)).toEqual([
      "SELECT balance FROM accounts WHERE id = 1",
    ]);

    // An API key is exchanged for a grant by the agent's replica; the other one shows it.
    const viaKey = await psql(edge2, devKey, "SELECT 40 + 2");
    expect(viaKey.stdout.trim()).toBe("42");
    const session = await latestSession(0, "edge-2");
    expect(await recordedStatements(0, session.id)).toEqual(["SELECT 40 + 2"]);
  });

  it("releases a statement held by an agent on one replica when a reviewer approves on the other", async () => {
    const held = psql(edge2, devKey, "UPDATE accounts SET balance = 0 WHERE id = 1;\n");
    const review = await eventually(async () => {
      const res = await cluster.api(0, "/api/v1/reviews?status=pending&kind=statement", { key: reviewerKey });
      return res.body.items?.[0] as { id: string } | undefined;
    }, 15_000);
    const approved = await cluster.api(0, `/api/v1/reviews/${review.id}/approve`, {
      method: "POST",
      key: reviewerKey,
      body: { comment: "ok" },
    });
    expect(approved.status).toBe(200);
    const decidedAt = Date.now();
    const res = await held;
    expect(res.stdout).toBe("UPDATE 1\n");
    expect(res.stderr).toContain(`waiting for approval of review ${review.id}`);
    // The agent polls every five minutes here, so only the push across replicas released it.
    expect(Date.now() - decidedAt).toBeLessThan(5000);
  });

  it("completes an OIDC login started on one replica on the other", async () => {
    const start = await cluster.api(0, "/api/v1/auth/oidc/start", {
      method: "POST",
      key: null,
      body: { redirectUri: "http://127.0.0.1:9/callback" },
    });
    expect(start.status).toBe(200);
    const back = new URL((await idp.browse(start.body.authorizationUrl, "alice")).url);
    const callback = {
      code: back.searchParams.get("code"),
      state: back.searchParams.get("state"),
      iss: back.searchParams.get("iss"),
    };
    const tokens = await cluster.api(1, "/api/v1/auth/oidc/callback", {
      method: "POST",
      key: null,
      body: callback,
    });
    expect(tokens.status).toBe(200);
    const me = await cluster.api(0, "/api/v1/me", { key: tokens.body.access_token });
    expect(me.body.name).toBe("Alice Demo");
    // The login state is used up on every replica.
    const replay = await cluster.api(0, "/api/v1/auth/oidc/callback", {
      method: "POST",
      key: null,
      body: callback,
    });
    expect(replay.status).toBe(400);

    const device = await cluster.api(1, "/api/v1/auth/device", { method: "POST", key: null });
    expect(device.status).toBe(200);
    await idp.browse(device.body.verification_uri_complete, "alice");
    const polled = await cluster.api(0, "/api/v1/auth/device/poll", {
      method: "POST",
      key: null,
      body: { device_code: device.body.device_code },
    });
    expect(polled.status).toBe(200);
    expect((await cluster.api(1, "/api/v1/me", { key: polled.body.access_token })).body.name).toBe(
      "Alice Demo",
    );
  });

  it("counts a client's requests against one rate limit across replicas", async () => {
    // From another loopback address, so the limit is this client's alone. Authenticated:
    // a request refused for its credentials never reaches the limit.
    const agent = new HttpAgent({ keepAlive: true, maxSockets: 16 });
    const headers = { authorization: `Bearer ${devKey}` };
    const hit = (replica: number) =>
      new Promise<number>((resolve, reject) => {
        const url = new URL(`${cluster.replicas[replica]?.apiUrl}/api/v1/me`);
        const at = { host: url.hostname, port: url.port, path: url.pathname };
        const req = get({ ...at, headers, localAddress: "127.0.0.2", agent });
        req.on("response", (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        });
        req.on("error", reject);
      });
    const burst = async (replica: number, n: number) => {
      const codes: number[] = [];
      for (let i = 0; i < n; i += 50)
        codes.push(...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => hit(replica)))));
      return codes;
    };
    const first = await burst(0, RATE_LIMIT);
    expect(first).toEqual(Array(RATE_LIMIT).fill(200));
    const second = await burst(1, 20);
    agent.destroy();
    expect(second).toEqual(Array(20).fill(429));
  });

  it("keeps the audit chain valid while both replicas write at once", async () => {
    const writes = Array.from({ length: 30 }, (_, i) =>
      cluster.api(i % 2, "/api/v1/groups", { method: "POST", body: { name: `burst-${i}` } }),
    );
    expect((await Promise.all(writes)).map((r) => r.status)).toEqual(Array(30).fill(201));
    const verified = await cluster.api(1, "/api/v1/audit/verify");
    expect(verified.body).toMatchObject({ ok: true, problem: null });
    const audit = await cluster.api(0, "/api/v1/audit?action=group.create&limit=100");
    expect(
      audit.body.items.filter((e: { details: any }) => /^burst-/.test(e.details?.name ?? "")),
    ).toHaveLength(30);
    const cli = await run(process.execPath, [join(repoRoot, "apps/cli/bin/sluice.js"), "audit", "verify"], {
      SLUICE_URL: cluster.replicas[0]?.apiUrl as string,
      SLUICE_API_KEY: cluster.stack.adminKey,
      SLUICE_CONFIG_DIR: cluster.stack.home,
    });
    expect(cli.code, cli.stderr).toBe(0);
  });

  it("moves an agent to the surviving replica when its replica is killed, and keeps serving", async () => {
    await cluster.kill(0);
    const killedAt = Date.now();
    await cluster.waitLinked("edge-1", 1, 15_000);
    expect(Date.now() - killedAt).toBeLessThan(5000);
    const made = await cluster.api(1, "/api/v1/connections", {
      method: "POST",
      body: { name: "after-failover", type: "tcp", host: "127.0.0.1", port: 9 },
    });
    expect(made.status).toBe(201);
    await eventually(() => cachedConnections(edge1).includes("after-failover"), 5000, 20);
    const res = await psql(edge1, devKey, "SELECT 'still here'");
    expect(res.stdout.trim()).toBe("still here");
    const session = await latestSession(1, "edge-1");
    expect(await recordedStatements(1, session.id)).toEqual(["SELECT 'still here'"]);
    // Past the offline bound (4 s here) both agents are still online: their heartbeats count on cp-2.
    await new Promise((r) => setTimeout(r, 5000));
    expect(await cluster.linkedReplica("edge-1")).toBe("cp-2");
    expect(await cluster.linkedReplica("edge-2")).toBe("cp-2");
    const verified = await cluster.api(1, "/api/v1/audit/verify");
    expect(verified.body).toMatchObject({ ok: true, problem: null });
  }, 60_000);
});
