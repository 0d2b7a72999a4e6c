import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import {
  createTestDatabase,
  dropStaleTestDatabases,
  ensureTemplateDatabase,
  type TestDatabase,
  testServerUrl,
} from "./db";

async function query<T extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

const created: TestDatabase[] = [];
afterAll(async () => {
  await Promise.all(created.map((d) => d.drop()));
});

describe("createTestDatabase", () => {
  it("creates separate, fully migrated databases from one template", async () => {
    const [a, b] = await Promise.all([createTestDatabase("kit a"), createTestDatabase("kit-b")]);
    created.push(a, b);
    expect(a.name).not.toBe(b.name);
    expect(a.name).toMatch(/^sluice_test_\d+_[0-9a-f]{8}_kit_a$/);

    const tables = await query<{ tablename: string }>(
      a.url,
      "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
    );
    expect(tables.map((t) => t.tablename)).toEqual(
      expect.arrayContaining(["users", "audit_events", "_prisma_migrations"]),
    );

    await query(
      a.url,
      "INSERT INTO groups (id, name, \"updatedAt\") VALUES (gen_random_uuid(), 'only-in-a', now())",
    );
    expect(await query(b.url, "SELECT 1 FROM groups")).toEqual([]);
  });

  it("drops the database even while connections are open", async () => {
    const db = await createTestDatabase();
    const client = new pg.Client({ connectionString: db.url });
    client.on("error", () => {});
    await client.connect();
    await db.drop();
    const left = await query(testServerUrl(), "SELECT 1 FROM pg_database WHERE datname = $1", [db.name]);
    expect(left).toEqual([]);
    await client.end().catch(() => {});
  });

  it("reuses one template per migrations hash", async () => {
    const first = await ensureTemplateDatabase();
    expect(first).toMatch(/^sluice_tpl_[0-9a-f]{16}$/);
    expect(await ensureTemplateDatabase()).toBe(first);
  });
});

describe("dropStaleTestDatabases", () => {
  it("drops test databases older than the cut-off and keeps fresh ones", async () => {
    const fresh = await createTestDatabase("fresh");
    created.push(fresh);
    const oldName = `sluice_test_${Math.floor(Date.now() / 1000) - 7200}_deadbeef_old`;
    await query(testServerUrl(), `CREATE DATABASE "${oldName}"`);

    const dropped = await dropStaleTestDatabases();
    expect(dropped).toContain(oldName);
    expect(dropped).not.toContain(fresh.name);
  });
});
