import { createDb } from "@sluice/db";
import { createLogger } from "@sluice/logger";
import { createTestDatabase, type TestDatabase } from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuditService } from "./audit.service";
import { verifyChain } from "./audit-verify";

let database: TestDatabase;
const dbs: ReturnType<typeof createDb>[] = [];
const logger = createLogger({ name: "audit-test", level: "silent" });

/** One audit service per "replica", each with its own pool, over the same database. */
function replica() {
  const db = createDb(database.url, { poolMax: 8 });
  dbs.push(db);
  return { prisma: db.prisma, audit: createAuditService({ prisma: db.prisma, logger }) };
}

beforeAll(async () => {
  database = await createTestDatabase("audit_chain");
});
afterAll(async () => {
  for (const db of dbs) await db.close();
  await database?.drop();
});

describe("audit chain under concurrent writers", () => {
  it("chains every entry from two replicas exactly once, verifiable, with cause before effect", async () => {
    const a = replica();
    const b = replica();
    const writers = 40;
    const perWriter = 25;
    // Each writer appends its entries one after another (each waits for the previous to
    // commit), so within a writer the order is causal and must survive in the chain.
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        const r = w % 2 === 0 ? a : b;
        for (let i = 0; i < perWriter; i++) {
          if (i % 3 === 0) {
            await r.audit.append({
              actorKind: "system",
              action: "test.append",
              outcome: "success",
              details: { w, i },
            });
          } else {
            await r.prisma.$transaction((tx) =>
              r.audit.appendIn(tx, {
                actorKind: "system",
                action: "test.append",
                outcome: "success",
                details: { w, i },
              }),
            );
            await r.audit.settle();
          }
        }
      }),
    );
    await Promise.all([a.audit.settle(), b.audit.settle()]);

    const rows = await a.prisma.auditEvent.findMany({ orderBy: { seq: "asc" } });
    expect(rows).toHaveLength(writers * perWriter);
    expect(await a.audit.backlog()).toBe(0);
    const seen = new Set<string>();
    const lastOf = new Map<number, number>();
    for (const r of rows) {
      const { w, i } = r.details as { w: number; i: number };
      const key = `${w}:${i}`;
      expect(seen.has(key)).toBe(false);
      seen.add(key);
      expect(i).toBe((lastOf.get(w) ?? -1) + 1);
      lastOf.set(w, i);
    }
    const verified = await verifyChain(a.prisma);
    expect(verified).toMatchObject({ ok: true, entries: writers * perWriter, problem: null });
  });

  it("keeps an entry whose transaction rolled back out of the chain, and one that committed in it", async () => {
    const r = replica();
    await expect(
      r.prisma.$transaction(async (tx) => {
        await r.audit.appendIn(tx, { actorKind: "system", action: "test.rolled_back", outcome: "success" });
        throw new Error("the change failed");
      }),
    ).rejects.toThrow("the change failed");
    await r.audit.append({ actorKind: "system", action: "test.committed", outcome: "success" });
    await r.audit.settle();
    const actions = (await r.prisma.auditEvent.findMany({ where: { action: { startsWith: "test.c" } } })).map(
      (e) => e.action,
    );
    expect(actions).toEqual(["test.committed"]);
    expect(await r.prisma.auditEvent.count({ where: { action: "test.rolled_back" } })).toBe(0);
  });

  it("chains entries a dead replica left in the outbox on the next replica's pass", async () => {
    const dead = replica();
    // Committed, never chained: the replica died between its commit and its chaining pass.
    await dead.prisma.auditOutbox.create({
      data: { actorKind: "system", action: "test.orphaned", outcome: "success", details: {} },
    });
    const survivor = replica();
    survivor.audit.start(50);
    try {
      await expect
        .poll(() => survivor.prisma.auditEvent.count({ where: { action: "test.orphaned" } }), {
          timeout: 5000,
        })
        .toBe(1);
    } finally {
      await survivor.audit.stop();
    }
    expect((await verifyChain(survivor.prisma)).ok).toBe(true);
  });
});
