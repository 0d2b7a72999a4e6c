import { describe, expect, it } from "vitest";
import { ConnectLimiter } from "./connect-limiter";

const tick = () => new Promise((r) => setImmediate(r));

describe("ConnectLimiter", () => {
  it("runs at most the bound per target, in arrival order, and frees a slot on failure", async () => {
    const limiter = new ConnectLimiter(2);
    let inFlight = 0;
    let peak = 0;
    const order: number[] = [];
    const gates: (() => void)[] = [];
    const connect = (n: number, fail = false) =>
      limiter.run("db:5432", async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        order.push(n);
        await new Promise<void>((r) => gates.push(r));
        inFlight--;
        if (fail) throw new Error(`connect ${n} failed`);
        return n;
      });
    const other = limiter.run("other:5432", async () => "other");
    const results = [connect(1, true), connect(2), connect(3), connect(4)];
    await tick();
    expect(order).toEqual([1, 2]);
    expect(await other).toBe("other");
    gates.shift()?.();
    await expect(results[0]).rejects.toThrow("connect 1 failed");
    await tick();
    expect(order).toEqual([1, 2, 3]);
    while (gates.length > 0 || order.length < 4) {
      gates.shift()?.();
      await tick();
    }
    expect(await Promise.all(results.slice(1))).toEqual([2, 3, 4]);
    expect(peak).toBe(2);
  });
});
