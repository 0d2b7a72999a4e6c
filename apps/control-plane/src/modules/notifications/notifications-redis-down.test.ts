import { eventually } from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestControlPlane, type TestControlPlane } from "../../testing/control-plane.testing";
import {
  type AgentFixture,
  type CuttableProxy,
  recordingEvent,
  setUpAgentFixture,
  startCuttableProxy,
  startTestReceiver,
  type TestReceiver,
} from "./notifications.testing";

let proxy: CuttableProxy;
let cp: TestControlPlane | undefined;
let fx: AgentFixture;
let receiver: TestReceiver;

beforeAll(async () => {
  const redis = new URL(process.env.SLUICE_TEST_REDIS_URL ?? "redis://127.0.0.1:6379");
  proxy = await startCuttableProxy(Number(redis.port || 6379), redis.hostname);
  cp = await startTestControlPlane({
    REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
    SLUICE_NOTIFY_BACKOFF_MS: "50",
    SLUICE_NOTIFY_TIMEOUT_MS: "1000",
  });
  fx = await setUpAgentFixture(cp);
  receiver = await startTestReceiver();
  const res = await cp.api("/api/v1/notification-channels", {
    method: "POST",
    body: { name: "hook", kind: "webhook", url: receiver.url, events: ["guardrail.violated"] },
  });
  expect(res.status, res.text).toBe(201);
});
afterAll(async () => {
  fx?.close();
  await receiver?.close();
  await cp?.stop();
  await proxy?.close();
});

describe("notifications while Redis is unreachable", () => {
  it("never break the caller: recordings are acked, the notification is listed as failed, retry delivers it later", async () => {
    const api = (cp as TestControlPlane).api;
    const sid = await fx.startSession();
    await proxy.cut();
    const denied = { decision: "denied", rule: "no-drop", statement: "DROP TABLE users", statementHash: "x" };
    expect(await fx.upload([{ sessionId: sid, events: [recordingEvent(1, "policy", denied)] }])).toEqual([1]);

    const failed = await eventually(
      async () => (await api("/api/v1/notification-deliveries?status=failed&channel=hook")).body.items[0],
    );
    expect(failed).toMatchObject({ event: "guardrail.violated", attempts: 0, lastStatusCode: null });
    expect(failed.lastError).toMatch(/^not queued: the job queue \(Redis\) was unavailable/);
    expect((cp as TestControlPlane).logs()).toContain("notification deliveries could not be queued");
    const test = await api("/api/v1/notification-channels/hook/test", { method: "POST" });
    expect(test.status).toBe(503);
    expect(test.body.error.code).toBe("notification.queue_unavailable");

    await proxy.restore();
    await eventually(
      async () =>
        (await api(`/api/v1/notification-deliveries/${failed.id}/retry`, { method: "POST" })).status === 202,
      20_000,
      250,
    );
    await eventually(
      async () => (await api(`/api/v1/notification-deliveries/${failed.id}`)).body.status === "delivered",
    );
    expect(receiver.ofEvent("guardrail.violated").map((r) => r.json.data.statement)).toEqual([
      "DROP TABLE users",
    ]);
  });

  it("stopping the control plane closes the worker and quits every Redis connection", async () => {
    expect(proxy.connections()).toBeGreaterThanOrEqual(4);
    await cp?.stop();
    cp = undefined;
    await eventually(() => proxy.connections() === 0, 5000);
  });
});
