import { describe, expect, it } from "vitest";
import { runFanout } from "./fanout";

/**
 * 200 agents' links on one control plane, beating every second: the same heartbeat rate
 * as 1,000 agents at the default 5 s. The full-size run is tests/load/agents-fanout.ts.
 */
describe("many agents on one control plane", () => {
  it("gets every desired-state change to all of them within 5 s, and heartbeats stay cheap", async () => {
    const r = await runFanout({ agents: 200, heartbeatSeconds: 1, idleSeconds: 8, rounds: 4 });
    expect(r.rounds).toHaveLength(4);
    expect(r.fanout.max).toBeLessThan(5000);
    expect(r.cpu.withAgentsPercent).toBeLessThan(20);
  }, 90_000);
});
