import { describe, expect, it } from "vitest";
import { startedSession } from "../tunnel-peer.testing";
import { GrantSource } from "./grant-source";

describe("GrantSource", () => {
  it("hands each grant to one tunnel only and starts a session for every further one", async () => {
    const now = 1_000_000;
    let started = 1;
    const session = (id: string) => ({
      ...startedSession({ host: "h", port: 1 }, { sessionId: id }),
      expiresAt: new Date(now + 100_000).toISOString(),
    });
    const grants = new GrantSource(
      async () => session(`s-${++started}`),
      () => now,
    );
    grants.use(session("s-1"));
    expect((await grants.get()).session.id).toBe("s-1");
    const [a, b] = await Promise.all([grants.get(), grants.get()]);
    expect(new Set([a.session.id, b.session.id]).size).toBe(2);
    expect(started).toBe(3);
  });

  it("does not hand out a spare grant past 80% of its lifetime", async () => {
    let now = 1_000_000;
    const grants = new GrantSource(
      async () => startedSession({ host: "h", port: 1 }, { sessionId: "fresh" }),
      () => now,
    );
    grants.use({
      ...startedSession({ host: "h", port: 1 }, { sessionId: "old" }),
      expiresAt: new Date(now + 100_000).toISOString(),
    });
    now += 81_000;
    expect((await grants.get()).session.id).toBe("fresh");
    grants.use({
      ...startedSession({ host: "h", port: 1 }, { sessionId: "old2" }),
      expiresAt: new Date(now + 100_000).toISOString(),
    });
    grants.invalidate();
    expect((await grants.get()).session.id).toBe("fresh");
  });

  it("retries after a failed start", async () => {
    let fail = true;
    const grants = new GrantSource(async () => {
      if (fail) throw new Error("down");
      return startedSession({ host: "h", port: 1 });
    });
    await expect(grants.get()).rejects.toThrow("down");
    fail = false;
    expect((await grants.get()).session.id).toBe("s-1");
  });
});
