import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  errorResponse,
  type FakeControlPlane,
  runAgainst,
  startFakeControlPlane,
} from "../fake-control-plane.testing";

const channel = {
  id: "c1",
  name: "ops",
  kind: "webhook",
  url: "https://hooks.example.com/sluice",
  events: [],
  enabled: true,
  signing: "hmac-sha256",
  createdAt: "2026-11-23T10:00:00.000Z",
  updatedAt: "2026-11-23T10:00:00.000Z",
};
const secret = "whsec_0123456789abcdefghijklmnopqrstuvwxyzABCDE";
const delivery = {
  id: "d1",
  channel: { id: "c1", name: "ops" },
  event: "guardrail.violated",
  status: "failed",
  attempts: 6,
  lastStatusCode: 503,
  lastError: "HTTP 503: upstream broke",
  payload: {},
  createdAt: "2026-11-23T10:00:00.000Z",
  updatedAt: "2026-11-23T10:01:00.000Z",
  deliveredAt: null,
};

let cp: FakeControlPlane;
beforeAll(async () => {
  cp = await startFakeControlPlane();
});
afterAll(() => cp.close());

describe("sluice notifications channels", () => {
  it("create sends the flags and prints the signing secret once, with how to verify it", async () => {
    cp.route("POST /notification-channels", { status: 201, body: { channel, secret } });
    const res = await runAgainst(cp, [
      "notifications",
      "channels",
      "create",
      "ops",
      "--url",
      channel.url,
      "--event",
      "guardrail.violated,session.started",
      "--event",
      "review.requested",
    ]);
    expect(res.code, res.err).toBe(0);
    expect(cp.requests.at(-1)?.body).toEqual({
      name: "ops",
      kind: "webhook",
      url: channel.url,
      events: ["guardrail.violated", "session.started", "review.requested"],
    });
    expect(res.out).toContain("created notification channel ops (c1)");
    expect(res.out).toContain(`  signing secret: ${secret}`);
    expect(res.out).toContain("shown only once");
    expect(res.out).toContain("Sluice-Signature: t=<unix seconds>,v1=");
  });

  it("create --kind slack --disable, and -o json prints the raw response", async () => {
    const slack = { ...channel, kind: "slack", signing: null, enabled: false };
    cp.route("POST /notification-channels", { status: 201, body: { channel: slack } });
    const res = await runAgainst(cp, [
      "notifications",
      "channels",
      "create",
      "chat",
      "--kind",
      "slack",
      "--url",
      "https://hooks.slack.com/services/T/B/x",
      "--disable",
      "-o",
      "json",
    ]);
    expect(res.code, res.err).toBe(0);
    expect(cp.requests.at(-1)?.body).toMatchObject({ kind: "slack", enabled: false });
    expect(JSON.parse(res.out)).toEqual({ channel: slack });
  });

  it("refuses an unknown event before calling the control plane", async () => {
    const before = cp.requests.length;
    const res = await runAgainst(cp, [
      "notifications",
      "channels",
      "create",
      "x",
      "--url",
      "https://a",
      "--event",
      "nope",
    ]);
    expect(res.code).toBe(2);
    expect(res.err).toContain("unknown event nope");
    expect(cp.requests.length).toBe(before);
  });

  it("list shows 'all' for an empty event filter; update and test call the right routes", async () => {
    cp.route("GET /notification-channels", { status: 200, body: { items: [channel] } });
    const list = await runAgainst(cp, ["notifications", "channels", "list"]);
    expect(list.out.split("\n")[0]).toMatch(/^NAME\s+KIND\s+ENABLED\s+EVENTS\s+URL\s+ID$/);
    expect(list.out).toMatch(/ops\s+webhook\s+true\s+all\s+https:\/\/hooks\.example\.com\/sluice\s+c1/);

    cp.route("PATCH /notification-channels/ops", (req) => ({
      status: 200,
      body: { ...channel, ...(req.body as object) },
    }));
    const upd = await runAgainst(cp, [
      "notifications",
      "channels",
      "update",
      "ops",
      "--disable",
      "--all-events",
    ]);
    expect(upd.code, upd.err).toBe(0);
    expect(cp.requests.at(-1)?.body).toEqual({ events: [], enabled: false });

    cp.route("POST /notification-channels/ops/test", {
      status: 202,
      body: { ...delivery, status: "pending" },
    });
    const test = await runAgainst(cp, ["notifications", "channels", "test", "ops"]);
    expect(test.out).toContain("queued test notification d1 to ops");
  });
});

describe("sluice notifications deliveries", () => {
  it("--failed lists the failed deliveries with their last error", async () => {
    cp.route("GET /notification-deliveries?status=failed&channel=ops", {
      status: 200,
      body: { items: [delivery] },
    });
    const res = await runAgainst(cp, ["notifications", "deliveries", "--failed", "--channel", "ops"]);
    expect(res.code, res.err).toBe(0);
    expect(res.out).toMatch(/d1\s+failed\s+guardrail\.violated\s+ops\s+6\s+503\s+HTTP 503: upstream broke/);
  });

  it("retry re-queues a delivery and reports a refusal with exit code 1", async () => {
    cp.route("POST /notification-deliveries/d1/retry", {
      status: 202,
      body: { ...delivery, status: "pending" },
    });
    expect((await runAgainst(cp, ["notifications", "deliveries", "retry", "d1"])).out).toBe(
      "queued delivery d1 again\n",
    );
    cp.route(
      "POST /notification-deliveries/d1/retry",
      errorResponse(409, "notification_delivery.not_failed", "the delivery is delivered, not failed"),
    );
    const refused = await runAgainst(cp, ["notifications", "deliveries", "retry", "d1"]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("the delivery is delivered, not failed");
  });
});
