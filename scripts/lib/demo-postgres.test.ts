import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureDemoPostgres } from "./demo-postgres";

const PG_HOST = process.env.SLUICE_TEST_PG_HOST ?? "127.0.0.1";
const PG_PORT = Number(process.env.SLUICE_TEST_PG_PORT ?? 5432);
const suffix = randomBytes(4).toString("hex");
const home = mkdtempSync(join(tmpdir(), "sluice-demo-pg-"));
const created = { databases: [] as string[], roles: [] as string[] };

async function query<R extends pg.QueryResultRow>(
  database: string,
  sql: string,
  params: unknown[] = [],
  user = "postgres",
): Promise<pg.QueryResult<R>> {
  const client = new pg.Client({ host: PG_HOST, port: PG_PORT, user, database, password: "unused" });
  await client.connect();
  try {
    return await client.query<R>(sql, params);
  } finally {
    await client.end();
  }
}

/** A stand-in for the control plane's database: one table with a secret row. */
async function controlPlaneDb(label: string): Promise<string> {
  const name = `sluice_cp_${label}_${suffix}`;
  await query("postgres", `CREATE DATABASE ${name}`);
  created.databases.push(name);
  await query(
    name,
    `CREATE TABLE "ApiKey" (id text PRIMARY KEY, hash text); INSERT INTO "ApiKey" VALUES ('k', 'secret')`,
  );
  return name;
}

function adminUrl(database: string): string {
  return `postgres://postgres:unused@${PG_HOST}:${PG_PORT}/${database}`;
}

/** Whether `password` is the one whose SCRAM-SHA-256 verifier PostgreSQL stored. */
function scramMatches(verifier: string, password: string): boolean {
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(verifier);
  if (!m) return false;
  const salted = pbkdf2Sync(password, Buffer.from(m[2] as string, "base64"), Number(m[1]), 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  return createHash("sha256").update(clientKey).digest("base64") === m[3];
}

async function sqlState(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (err: { code?: string }) => err.code ?? "error",
  );
}

let sharedCp = "";
let privateCp = "";

beforeAll(async () => {
  sharedCp = await controlPlaneDb("shared");
  privateCp = await controlPlaneDb("private");
});

afterAll(async () => {
  for (const db of created.databases) await query("postgres", `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  for (const role of created.roles) await query("postgres", `DROP ROLE IF EXISTS ${role}`);
  rmSync(home, { recursive: true, force: true });
});

describe("ensureDemoPostgres", () => {
  const name = `demo_${suffix}`;

  it("creates a separate database owned by a password-protected role that is not a superuser", async () => {
    created.databases.push(name);
    created.roles.push(name);
    const demo = await ensureDemoPostgres({ adminUrl: adminUrl(sharedCp), home, name, privateServer: false });
    expect(demo).toEqual({
      host: PG_HOST,
      port: PG_PORT,
      database: name,
      username: name,
      passwordFile: join(home, `${name}.pg.password`),
    });
    expect(statSync(demo.passwordFile).mode & 0o777).toBe(0o600);
    const password = readFileSync(demo.passwordFile, "utf8").trim();
    expect(password).toMatch(/^[0-9a-f]{48}$/);

    const role = await query<{
      rolsuper: boolean;
      rolcreatedb: boolean;
      rolcreaterole: boolean;
      verifier: string;
    }>(
      "postgres",
      "SELECT rolsuper, rolcreatedb, rolcreaterole, rolpassword AS verifier FROM pg_authid WHERE rolname = $1",
      [name],
    );
    expect(role.rows[0]).toMatchObject({ rolsuper: false, rolcreatedb: false, rolcreaterole: false });
    expect(scramMatches(role.rows[0]?.verifier ?? "", password)).toBe(true);

    const me = await query<{ rolsuper: boolean; db: string }>(
      name,
      "SELECT rolsuper, current_database() AS db FROM pg_roles WHERE rolname = current_user",
      [],
      name,
    );
    expect(me.rows[0]).toEqual({ rolsuper: false, db: name });
    const users = await query<{ email: string }>(name, "SELECT email FROM users ORDER BY id", [], name);
    expect(users.rows.map((r) => r.email)).toContain("ada@example.com");
    const orders = await query<{ n: string }>(name, "SELECT count(*) AS n FROM orders", [], name);
    expect(Number(orders.rows[0]?.n)).toBeGreaterThan(0);
  });

  it("leaves the control plane's tables unreadable to the demo role", async () => {
    const state = await sqlState(query(sharedCp, `SELECT hash FROM "ApiKey"`, [], name));
    expect(state).toBe("42501");
    // Other roles on a shared server keep PUBLIC's default right to connect.
    const conn = await query<{ ok: number }>(sharedCp, "SELECT 1 AS ok", [], name);
    expect(conn.rows[0]?.ok).toBe(1);
  });

  it("closes the demo database to other roles", async () => {
    const other = `${name}_other`;
    created.roles.push(other);
    await query("postgres", `CREATE ROLE ${other} LOGIN`);
    expect(await sqlState(query(name, "SELECT 1", [], other))).toBe("42501");
  });

  it("is idempotent: same password, rows added once, privileges put back", async () => {
    const before = readFileSync(join(home, `${name}.pg.password`), "utf8");
    await query("postgres", `ALTER ROLE ${name} CREATEDB`);
    await ensureDemoPostgres({ adminUrl: adminUrl(sharedCp), home, name, privateServer: false });
    expect(readFileSync(join(home, `${name}.pg.password`), "utf8")).toBe(before);
    const users = await query<{ n: string }>(name, "SELECT count(*) AS n FROM users", [], name);
    expect(Number(users.rows[0]?.n)).toBe(4);
    const role = await query<{ rolcreatedb: boolean }>(
      "postgres",
      "SELECT rolcreatedb FROM pg_roles WHERE rolname = $1",
      [name],
    );
    expect(role.rows[0]?.rolcreatedb).toBe(false);
  });

  it("on Sluice's own server, keeps every other role out of the control plane's database", async () => {
    const own = `demo_own_${suffix}`;
    created.databases.push(own);
    created.roles.push(own);
    await ensureDemoPostgres({ adminUrl: adminUrl(privateCp), home, name: own, privateServer: true });
    expect(await sqlState(query(privateCp, "SELECT 1", [], own))).toBe("42501");
    const cp = await query<{ hash: string }>(privateCp, `SELECT hash FROM "ApiKey"`);
    expect(cp.rows[0]?.hash).toBe("secret");
  });

  it("refuses a name that is not a plain identifier", async () => {
    await expect(
      ensureDemoPostgres({ adminUrl: adminUrl(sharedCp), home, name: 'x"; DROP', privateServer: false }),
    ).rejects.toThrow(/plain identifier/);
  });
});
