import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentStatus, ConnectionType, createDb, type Db, migrateDeploy, Prisma } from "./index";

const serverUrl = process.env.SLUICE_TEST_PG_URL || "postgres://postgres@127.0.0.1:5432/postgres";
const dbName = `sluice_test_${Math.floor(Date.now() / 1000)}_${randomBytes(4).toString("hex")}_dbpkg`;
const dbUrl = (() => {
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  return url.toString();
})();

async function admin<T>(fn: (client: pg.Client) => Promise<T>, url = serverUrl): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

let db: Db;

beforeAll(async () => {
  await admin((c) => c.query(`CREATE DATABASE "${dbName}"`));
  await migrateDeploy(dbUrl);
  db = createDb(dbUrl, { poolMax: 4 });
});

afterAll(async () => {
  await db?.close();
  await admin((c) => c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`));
});

function auditRow(n: number) {
  return {
    actorKind: "system",
    action: "test.event",
    outcome: "success",
    details: { n },
    prevHash: n === 0 ? "genesis" : `h${n - 1}`,
    hash: `h${n}`,
  };
}

describe("@sluice/db", () => {
  it("applies every committed migration to a fresh database", async () => {
    const applied = await admin(
      (c) =>
        c.query("SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL ORDER BY 1"),
      dbUrl,
    );
    const names = applied.rows.map((r: { migration_name: string }) => r.migration_name);
    expect(names.some((n) => n.endsWith("_init"))).toBe(true);
    expect(names.some((n) => n.endsWith("_audit_append_only"))).toBe(true);
  });

  it("round-trips BigInt, Json, String[] and enum fields", async () => {
    const agent = await db.prisma.agent.create({
      data: {
        name: "agent-1",
        enrollmentTokenHash: "tok-hash",
        labels: { zone: "eu-1", tier: 2 },
        capabilities: ["postgres", "ssh"],
        stateVersion: 9_007_199_254_740_993n,
        status: AgentStatus.online,
      },
    });
    const read = await db.prisma.agent.findUniqueOrThrow({ where: { id: agent.id } });
    expect(read.stateVersion).toBe(9_007_199_254_740_993n);
    expect(read.labels).toEqual({ zone: "eu-1", tier: 2 });
    expect(read.capabilities).toEqual(["postgres", "ssh"]);
    expect(read.status).toBe("online");
    expect(read.endpoints).toEqual([]);

    const user = await db.prisma.user.create({ data: { name: "Ada", email: "ada@example.test" } });
    const conn = await db.prisma.connection.create({
      data: { name: "orders-db", type: ConnectionType.postgres, host: "10.0.0.5", port: 5432 },
    });
    const session = await db.prisma.session.create({
      data: {
        userId: user.id,
        connectionId: conn.id,
        agentId: agent.id,
        protocol: "postgres",
        bytesIn: 5_000_000_000n,
      },
      include: { user: true, connection: true },
    });
    expect(session.bytesIn).toBe(5_000_000_000n);
    expect(session.bytesOut).toBe(0n);
    expect(session.status).toBe("pending");
    expect(session.user.role).toBe("user");
    expect(session.connection.allowedGroups).toEqual([]);

    await db.prisma.recordingChunk.createMany({
      data: [0n, 1n].map((seq) => ({
        sessionId: session.id,
        seq,
        kind: "statement",
        at: new Date(),
        payload: { seq: Number(seq) },
      })),
    });
    const chunks = await db.prisma.recordingChunk.findMany({
      where: { sessionId: session.id },
      orderBy: { seq: "asc" },
    });
    expect(chunks.map((c) => c.seq)).toEqual([0n, 1n]);
  });

  it('runs raw queries that read catalog columns of type name and "char"', async () => {
    const rows = await db.prisma.$queryRaw<{ relname: string; relkind: string }[]>(
      Prisma.sql`SELECT relname, relkind FROM pg_class WHERE relname = 'audit_events'`,
    );
    expect(rows).toEqual([{ relname: "audit_events", relkind: "r" }]);
  });

  it("keeps the audit log append-only", async () => {
    const first = await db.prisma.auditEvent.create({ data: auditRow(0) });
    await db.prisma.auditEvent.create({ data: auditRow(1) });
    expect(typeof first.seq).toBe("bigint");

    await expect(
      db.prisma.auditEvent.update({ where: { seq: first.seq }, data: { outcome: "denied" } }),
    ).rejects.toThrow(/append-only/);
    await expect(db.prisma.auditEvent.delete({ where: { seq: first.seq } })).rejects.toThrow(/append-only/);
    await expect(db.prisma.$executeRawUnsafe(`TRUNCATE "audit_events"`)).rejects.toThrow(/append-only/);
    expect(await db.prisma.auditEvent.count()).toBe(2);

    // A superuser can switch the guard off by its name, as tamper-detection tests do.
    await admin(async (c) => {
      await c.query('ALTER TABLE audit_events DISABLE TRIGGER "audit_events_append_only"');
      await c.query("UPDATE audit_events SET outcome = 'denied' WHERE seq = $1", [String(first.seq)]);
      await c.query('ALTER TABLE audit_events ENABLE TRIGGER "audit_events_append_only"');
    }, dbUrl);
    const tampered = await db.prisma.auditEvent.findUniqueOrThrow({ where: { seq: first.seq } });
    expect(tampered.outcome).toBe("denied");
  });

  it("treats migrateDeploy on an up-to-date database as a no-op", async () => {
    const before = await admin(
      (c) => c.query("SELECT id, finished_at FROM _prisma_migrations ORDER BY id"),
      dbUrl,
    );
    await migrateDeploy(dbUrl);
    const after = await admin(
      (c) => c.query("SELECT id, finished_at FROM _prisma_migrations ORDER BY id"),
      dbUrl,
    );
    expect(after.rows).toEqual(before.rows);
    expect(await db.prisma.agent.count()).toBe(1);
  });
});
