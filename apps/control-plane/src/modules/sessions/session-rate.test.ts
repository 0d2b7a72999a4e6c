import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestControlPlane, type TestControlPlane } from "../../testing/control-plane.testing";
import { type FakeAgent, startAdmissionWorld } from "../../testing/fake-agent.testing";

let cp: TestControlPlane;
let agent: FakeAgent;
const keys: Record<string, string> = {};

beforeAll(async () => {
  cp = await startTestControlPlane({
    SLUICE_SESSIONS_PER_MINUTE_PER_IDENTITY: "3",
    SLUICE_SESSIONS_PER_MINUTE_PER_CONNECTION: "5",
  });
  const world = await startAdmissionWorld(cp, ["bot-a", "bot-b"]);
  agent = world.agent;
  Object.assign(keys, world.keys);
}, 60_000);

afterAll(async () => {
  agent?.close();
  await cp?.stop();
});

describe("session rate limits", () => {
  it("limits sessions per identity and per connection, on REST and through agents, saying which", async () => {
    // The limits count per clock minute: start well inside one.
    const toNextMinute = 60_000 - (Date.now() % 60_000);
    if (toNextMinute < 5000) await new Promise((r) => setTimeout(r, toNextMinute + 100));
    const open = (who: string) =>
      agent.authorize({ credential: keys[who], connectionName: "orders", protocol: "tcp" });
    for (let i = 0; i < 3; i++)
      await expect(open("bot-a")).resolves.toMatchObject({ sessionId: expect.any(String) });
    await expect(open("bot-a")).rejects.toMatchObject({
      code: status.RESOURCE_EXHAUSTED,
      details: expect.stringMatching(/^bot-a may open 3 sessions a minute; retry in \d+ s$/),
    });
    const rest = await cp.api("/api/v1/sessions", {
      method: "POST",
      body: { connection: "orders" },
      key: keys["bot-a"],
    });
    expect(rest.status).toBe(429);
    expect(rest.body.error.code).toBe("request.rate_limited");
    // Another identity still gets in, until the connection's own limit (5 a minute) is reached.
    await expect(open("bot-b")).resolves.toMatchObject({ sessionId: expect.any(String) });
    await expect(open("bot-b")).resolves.toMatchObject({ sessionId: expect.any(String) });
    await expect(open("bot-b")).rejects.toMatchObject({
      code: status.RESOURCE_EXHAUSTED,
      details: expect.stringMatching(/^orders accepts 5 new sessions a minute/),
    });
    const metrics = await cp.api("/metrics");
    expect(metrics.text).toMatch(/sluice_admission_refusals_total\{reason="rate_limited"\} [1-9]/);
  });
});
