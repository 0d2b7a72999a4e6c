import { createDb } from "@sluice/db";
import { createTestDatabase, type TestDatabase } from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStateService } from "./state.service";

let db: TestDatabase;
let a: ReturnType<typeof createDb>;
let b: ReturnType<typeof createDb>;

beforeAll(async () => {
  db = await createTestDatabase("state");
  // Two clients with their own pools, like two control-plane replicas.
  a = createDb(db.url);
  b = createDb(db.url);
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await db?.drop();
});

const noRedis = { publish: async () => 0 };

describe("desired-state versions", () => {
  it("become visible in version order when two replicas commit out of order", async () => {
    const first = createStateService({ prisma: a.prisma, redis: noRedis, channel: "x" });
    const second = createStateService({ prisma: b.prisma, redis: noRedis, channel: "x" });
    let releaseFirst: () => void = () => undefined;
    let firstVersion = 0n;
    const slow = a.prisma.$transaction(async (tx) => {
      firstVersion = await first.recordIn(tx, "connection.upsert", "slow");
      await new Promise<void>((r) => {
        releaseFirst = r;
      });
    });
    while (firstVersion === 0n) await new Promise((r) => setTimeout(r, 10));
    let secondVersion = 0n;
    const fast = b.prisma.$transaction(async (tx) => {
      secondVersion = await second.recordIn(tx, "connection.upsert", "fast");
    });
    // An agent following the log now must not see a version it would later have to go back for.
    await new Promise((r) => setTimeout(r, 300));
    const seen = (await second.changesSince(0n)).map((c) => c.entityId);
    expect(seen).not.toContain("fast");
    releaseFirst();
    await Promise.all([slow, fast]);
    expect(secondVersion).toBeGreaterThan(firstVersion);
    expect((await first.changesSince(0n)).map((c) => c.entityId)).toEqual(["slow", "fast"]);
    expect(await second.currentVersion()).toBe(secondVersion);
  });
});
