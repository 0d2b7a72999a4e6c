import { describe, expect, it } from "vitest";
import { startedSession } from "../tunnel-peer.testing";
import { GrantSource } from "./grant-source";

describe("GrantSource", () => {
  it("reuses a grant until 80% of its lifetime, then starts one new session for concurrent callers", async () => {
    let now = 1_000_000;
    let started = 0;
    const session = (id: string) => ({
      ...startedSession({ host: "h", port: 1 }, { sessionId: id }),
      expiresAt: new Date(now + 100_000).toISOString(),
    });
    const grants = new GrantSource(
      async () => session(`s-${++started + 1}`),
      () => now,
    );
    grants.use(session("s-1"));
    now += 79_000;
    expect((await grants.get()).session.id).toBe("s-1");
    now += 2_000;
    const [a, b] = await Promise.all([grants.get(), grants.get()]);
    expect([a.session.id, b.session.id, started]).toEqual(["s-2", "s-2", 1]);
    expect((await grants.get()).session.id).toBe("s-2");
    grants.invalidate();
    expect((await grants.get()).session.id).toBe("s-3");
  });

  it("retries after a failed refresh", async () => {
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
