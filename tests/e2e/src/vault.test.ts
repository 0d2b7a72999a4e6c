import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  eventually,
  type FakeVault,
  type PrivateCluster,
  prepareClusterForFakeVault,
  startFakeVault,
  startPrivateCluster,
} from "@sluice/testkit";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "./psql";
import { type AgentProcess, type Stack, startStack } from "./stack";

const KV_PW_1 = `kv-pw-${Math.random().toString(36).slice(2)}-a1`;
const KV_PW_2 = `kv-pw-${Math.random().toString(36).slice(2)}-b2`;
let cluster: PrivateCluster;
let fake: FakeVault;
let stack: Stack;
let agent: AgentProcess;
let devKey: string;
let outsiderKey: string;
const seenUsers: string[] = [];
let earlierOutput = "";

const native = (conn: string) =>
  `host=127.0.0.1 port=${agent.pgPort} dbname=${conn} user=dev sslmode=disable`;

/** psql run asynchronously: the fake Vault answers from this process while psql waits. */
const psql = (conninfo: string, password: string, sql: string) =>
  run("psql", ["-X", "-v", "ON_ERROR_STOP=1", "-At", conninfo, "-c", sql], {
    PGPASSWORD: password,
    PGCONNECT_TIMEOUT: "10",
  });

async function roleExists(name: string): Promise<boolean> {
  return (await cluster.psql(`SELECT count(*) FROM pg_roles WHERE rolname = '${name}'`)).trim() === "1";
}

async function leasedUsersConnected(): Promise<string[]> {
  const out = await cluster.psql(
    "SELECT DISTINCT usename FROM pg_stat_activity WHERE usename LIKE 'v-readonly-%' ORDER BY 1",
  );
  return out.split("\n").filter(Boolean);
}

function dynamicClient(): pg.Client {
  const client = new pg.Client({
    host: "127.0.0.1",
    port: agent.pgPort,
    database: "vault-dyn",
    user: "dev",
    password: devKey,
    ssl: false,
  });
  client.on("error", () => undefined);
  return client;
}

async function createConnection(name: string, username: string, credentialRef: string) {
  const res = await stack.api("/api/v1/connections", {
    method: "POST",
    body: {
      name,
      type: "postgres",
      host: "127.0.0.1",
      port: cluster.port,
      database: "appdb",
      username,
      credentialRef,
      allowedGroups: ["dba"],
      recordRowsLimit: 5,
    },
  });
  expect(res.status, res.text).toBe(201);
}

beforeAll(async () => {
  cluster = await startPrivateCluster([{ name: "app_kv", password: KV_PW_1, method: "scram-sha-256" }]);
  await cluster.psql("CREATE DATABASE appdb OWNER app_kv");
  await cluster.psql("CREATE TABLE items(id int); INSERT INTO items VALUES (1), (2), (3)", "appdb");
  fake = await startFakeVault({
    database: {
      connectionUrl: await prepareClusterForFakeVault(cluster, "appdb"),
      roles: {
        readonly: {
          creationStatements: `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";`,
          defaultTtlSeconds: 3600,
        },
      },
    },
  });
  fake.putKv("kv", "prod/pg", { password: KV_PW_1 });
  stack = await startStack();
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "dba" } });
  devKey = await stack.userKey("dev@example.com", ["dba"]);
  outsiderKey = await stack.userKey("outsider@example.com", []);
  await createConnection("vault-dyn", "unused", "vault-db:database/creds/readonly");
  await createConnection("vault-kv", "app_kv", "vault:kv/data/prod/pg#password");
  agent = await stack.startAgent("vault-edge", {
    SLUICE_VAULT_ADDR: fake.url,
    SLUICE_VAULT_ROLE_ID: fake.roleId,
    SLUICE_VAULT_SECRET_ID: fake.secretId,
    SLUICE_VAULT_KV_TTL_SECONDS: "1",
  });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await fake?.close();
  await cluster?.stop();
});

describe("Vault credentials on the agent", () => {
  it("leases a database user per session and drops it when the session ends", async () => {
    const client = dynamicClient();
    await client.connect();
    const who = await client.query("SELECT current_user AS u, count(*)::int AS n FROM items");
    const user = who.rows[0].u as string;
    seenUsers.push(user);
    expect(user).toMatch(/^v-readonly-/);
    expect(who.rows[0].n).toBe(3);
    expect(await leasedUsersConnected()).toEqual([user]);
    expect(existsSync(join(agent.stateDir, "vault-leases.json"))).toBe(true);
    await client.end();
    await eventually(async () => !(await roleExists(user)), 10_000, 100);
    expect(fake.leases()).toEqual([]);
    await eventually(() => !existsSync(join(agent.stateDir, "vault-leases.json")), 5_000);
  });

  it("leases nothing for a client that is refused", async () => {
    const creds = () => fake.requests().filter((r) => r.path === "database/creds/readonly").length;
    const before = creds();
    const res = await psql(native("vault-dyn"), outsiderKey, "SELECT 1");
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/connection vault-dyn not found/);
    expect(creds()).toBe(before);
    expect(fake.leases()).toEqual([]);
  });

  it("uses a KV secret and picks up a rotation after the TTL", async () => {
    const first = await psql(native("vault-kv"), devKey, "SELECT current_user");
    expect(first.stderr).toBe("");
    expect(first.stdout.trim()).toBe("app_kv");
    fake.putKv("kv", "prod/pg", { password: KV_PW_2 });
    await cluster.psql(`ALTER ROLE app_kv PASSWORD '${KV_PW_2}'`);
    await new Promise((r) => setTimeout(r, 1200));
    const second = await psql(native("vault-kv"), devKey, "SELECT current_user");
    expect(second.stderr).toBe("");
    expect(second.stdout.trim()).toBe("app_kv");
  });

  it("fails a new session with a clear error while Vault is down", async () => {
    await new Promise((r) => setTimeout(r, 1200)); // past the KV cache TTL
    await fake.stop();
    try {
      const res = await psql(native("vault-kv"), devKey, "SELECT 1");
      expect(res.code).not.toBe(0);
      expect(res.stderr).toMatch(
        /credential for connection vault-kv is unavailable: vault:kv\/data\/prod\/pg#password: .*Vault is unreachable/,
      );
      expect(res.stderr).not.toContain(KV_PW_2);
      const dyn = await psql(native("vault-dyn"), devKey, "SELECT 1");
      expect(dyn.stderr).toMatch(
        /credential for connection vault-dyn is unavailable: vault-db:database\/creds\/readonly/,
      );
    } finally {
      await fake.start();
    }
  });

  it("revokes the lease of a session cut by kill -9 when the agent starts again", async () => {
    const client = dynamicClient();
    await client.connect();
    const user = (await client.query("SELECT current_user AS u")).rows[0].u as string;
    seenUsers.push(user);
    expect(await roleExists(user)).toBe(true);
    earlierOutput = agent.proc.output();
    await agent.restart(); // kill -9, then start again from its state dir
    await agent.proc.waitForOutput(/postgres listener ready/, 30_000);
    await eventually(async () => !(await roleExists(user)), 20_000, 200);
    expect(fake.leases()).toEqual([]);
    await eventually(() => !existsSync(join(agent.stateDir, "vault-leases.json")), 5_000);
    await client.end().catch(() => undefined);
  }, 60_000);

  it("keeps Vault's tokens, secret_ids and passwords out of the agent's logs", () => {
    const out = earlierOutput + agent.proc.output();
    for (const secret of [
      KV_PW_1,
      KV_PW_2,
      fake.secretId,
      fake.rootToken,
      ...fake.tokens().map((t) => t.id),
    ]) {
      expect(out).not.toContain(secret);
    }
    expect(seenUsers.length).toBe(2);
  });
});
