import { eventually } from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestControlPlane, type TestControlPlane } from "../../testing/control-plane.testing";
import { startTestReceiver, type TestReceiver } from "./notifications.testing";
import { verifySignature } from "./signature";

let cp: TestControlPlane;
let userKey: string;
const receivers: TestReceiver[] = [];
const secrets: string[] = [];

async function receiver(): Promise<TestReceiver> {
  const r = await startTestReceiver();
  receivers.push(r);
  return r;
}

async function createChannel(body: Record<string, unknown>) {
  const res = await cp.api("/api/v1/notification-channels", {
    method: "POST",
    body: { kind: "webhook", ...body },
  });
  expect(res.status, res.text).toBe(201);
  if (res.body.secret) secrets.push(res.body.secret);
  return res.body as { channel: { id: string; name: string; url: string }; secret?: string };
}

async function sendTest(channel: string) {
  const res = await cp.api(`/api/v1/notification-channels/${channel}/test`, { method: "POST" });
  expect(res.status, res.text).toBe(202);
  return res.body.id as string;
}

async function settled(deliveryId: string, status: "delivered" | "failed") {
  return eventually(async () => {
    const d = (await cp.api(`/api/v1/notification-deliveries/${deliveryId}`)).body;
    return d.status === status ? d : undefined;
  });
}

beforeAll(async () => {
  cp = await startTestControlPlane({
    SLUICE_NOTIFY_MAX_ATTEMPTS: "3",
    SLUICE_NOTIFY_BACKOFF_MS: "50",
    SLUICE_NOTIFY_TIMEOUT_MS: "500",
  });
  const u = await cp.api("/api/v1/users", {
    method: "POST",
    body: { name: "plain", email: "plain@example.com" },
  });
  userKey = (await cp.api(`/api/v1/users/${u.body.id}/api-keys`, { method: "POST", body: { name: "k" } }))
    .body.secret;
});
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await cp?.stop();
});

describe("webhook channels", () => {
  it("deliver signed notifications the receiver verifies with the secret shown once", async () => {
    const r = await receiver();
    const { channel, secret } = await createChannel({ name: "signed", url: `${r.url}/hooks/sluice` });
    expect(secret).toMatch(/^whsec_/);
    const id = await sendTest("signed");
    const done = await settled(id, "delivered");
    expect(done).toMatchObject({
      attempts: 1,
      lastStatusCode: 200,
      lastError: null,
      event: "notification.test",
    });
    expect(done.channel).toEqual({ id: channel.id, name: "signed" });

    const [got] = r.received;
    expect(got?.path).toBe("/hooks/sluice");
    expect(got?.headers["sluice-event"]).toBe("notification.test");
    expect(got?.headers["sluice-delivery"]).toBe(id);
    expect(got?.json).toMatchObject({ id, event: "notification.test", data: { channel: "signed" } });
    const header = String(got?.headers["sluice-signature"]);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifySignature(secret as string, header, got?.body ?? "")).toBe(true);
    expect(verifySignature("whsec_wrong", header, got?.body ?? "")).toBe(false);
    expect(verifySignature(secret as string, header, `${got?.body} `)).toBe(false);

    // A rotated secret signs from now on; the old one no longer verifies.
    const rotated = await cp.api("/api/v1/notification-channels/signed/rotate-secret", { method: "POST" });
    secrets.push(rotated.body.secret);
    await settled(await sendTest("signed"), "delivered");
    const last = r.received.at(-1);
    const sig = String(last?.headers["sluice-signature"]);
    expect(verifySignature(rotated.body.secret, sig, last?.body ?? "")).toBe(true);
    expect(verifySignature(secret as string, sig, last?.body ?? "")).toBe(false);
  });

  it("keep a token in the URL's query sealed: shown hidden, sent in full, scrubbed from errors", async () => {
    const r = await receiver();
    const token = "qtok-0123456789-abcdef";
    const { channel } = await createChannel({ name: "query-token", url: `${r.url}/in?token=${token}&v=2` });
    secrets.push(token);
    expect(channel.url).toBe(`${r.url}/in?****`);
    expect((await cp.api("/api/v1/notification-channels/query-token")).body.url).toBe(`${r.url}/in?****`);
    await settled(await sendTest("query-token"), "delivered");
    expect(r.received.at(-1)?.path).toBe(`/in?token=${token}&v=2`);

    r.answer((req) => ({ status: 400, body: `bad token ${token} at ${req.path}` }));
    const failed = await settled(await sendTest("query-token"), "failed");
    expect(failed.lastError).not.toContain(token);
    expect(failed.lastError).toContain("[redacted]");
  });

  it("retries a receiver that fails twice, then marks the delivery delivered", async () => {
    const r = await receiver();
    r.answer((_, n) => (n < 2 ? { status: 500, body: "try later" } : { status: 204 }));
    const { secret } = await createChannel({ name: "flaky", url: r.url });
    const id = await sendTest("flaky");
    const done = await settled(id, "delivered");
    expect(done).toMatchObject({ attempts: 3, lastStatusCode: 204 });
    expect(r.received).toHaveLength(3);
    for (const got of r.received) {
      expect(got.headers["sluice-delivery"]).toBe(id);
      expect(verifySignature(secret as string, String(got.headers["sluice-signature"]), got.body)).toBe(true);
    }
  });

  it("lists a receiver that always fails as failed after every attempt, and retry delivers once it recovers", async () => {
    const r = await receiver();
    let up = false;
    r.answer(() => (up ? { status: 200 } : { status: 503, body: "upstream broke" }));
    await createChannel({ name: "down", url: r.url });
    const id = await sendTest("down");
    const failed = await settled(id, "failed");
    expect(failed).toMatchObject({ attempts: 3, lastStatusCode: 503, lastError: "HTTP 503: upstream broke" });
    const list = await cp.api("/api/v1/notification-deliveries?status=failed&channel=down");
    expect(list.body.items.map((d: { id: string }) => d.id)).toEqual([id]);
    const none = await cp.api("/api/v1/notification-deliveries?status=delivered&channel=down");
    expect(none.body.items).toEqual([]);

    up = true;
    const retried = await cp.api(`/api/v1/notification-deliveries/${id}/retry`, { method: "POST" });
    expect(retried.status).toBe(202);
    const done = await settled(id, "delivered");
    expect(done).toMatchObject({ attempts: 4, lastStatusCode: 200 });
    expect(r.received).toHaveLength(4);
    const again = await cp.api(`/api/v1/notification-deliveries/${id}/retry`, { method: "POST" });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("notification_delivery.not_failed");
  });

  it("fails fast on a 4xx and counts a timeout as a failure", async () => {
    const gone = await receiver();
    gone.answer(() => ({ status: 404, body: "no such hook" }));
    await createChannel({ name: "gone", url: gone.url });
    expect(await settled(await sendTest("gone"), "failed")).toMatchObject({
      attempts: 1,
      lastStatusCode: 404,
      lastError: "HTTP 404: no such hook",
    });

    const slow = await receiver();
    slow.answer(() => ({ status: 200, delayMs: 1500 }));
    await createChannel({ name: "slow", url: slow.url });
    expect(await settled(await sendTest("slow"), "failed")).toMatchObject({
      attempts: 3,
      lastStatusCode: null,
      lastError: "timed out after 500 ms",
    });
  });
});

describe("slack channels", () => {
  it("send a Slack-compatible body, hide the URL's token and never store it in an error", async () => {
    const r = await receiver();
    const token = "xoxb-T01-secret-token-0123456789";
    const url = `${r.url}/services/T01/B02/${token}`;
    const { channel, secret } = await createChannel({ name: "slack", kind: "slack", url });
    secrets.push(token);
    expect(secret).toBeUndefined();
    expect(channel.url).toBe(`${r.url}/services/T01/B02/****`);
    const done = await settled(await sendTest("slack"), "delivered");
    expect(done.attempts).toBe(1);
    const [got] = r.received;
    expect(got?.path).toBe(`/services/T01/B02/${token}`);
    expect(got?.headers["sluice-signature"]).toBeUndefined();
    expect(got?.json.text).toBe("Test notification from Sluice for channel slack");
    expect(got?.json.blocks[0]).toEqual({
      type: "section",
      text: { type: "mrkdwn", text: expect.stringContaining("*Test notification* from Sluice") },
    });
    expect(got?.json.blocks.at(-1)).toEqual({
      type: "context",
      elements: [{ type: "mrkdwn", text: "Sluice · notification.test" }],
    });

    r.answer((req) => ({ status: 400, body: `invalid_token: ${req.path}` }));
    const failed = await settled(await sendTest("slack"), "failed");
    expect(failed.lastError).toBe("HTTP 400: invalid_token: /services/T01/B02/[redacted]");
  });
});

describe("channel management", () => {
  it("validates URLs, event names and unique names", async () => {
    const bad = async (body: Record<string, unknown>) =>
      (await cp.api("/api/v1/notification-channels", { method: "POST", body: { kind: "webhook", ...body } }))
        .status;
    expect(await bad({ name: "x1", url: "ftp://example.com/hook" })).toBe(400);
    expect(await bad({ name: "x2", url: "https://user:pw@example.com/hook" })).toBe(400);
    expect(await bad({ name: "x3", url: `https://example.com/${"a".repeat(2001)}` })).toBe(400);
    expect(await bad({ name: "x4", url: "https://example.com/hook", events: ["session.exploded"] })).toBe(
      400,
    );
    expect(await bad({ name: "x5", url: "https://example.com/hook", kind: "email" })).toBe(400);
    await createChannel({ name: "once", url: "https://example.com/hook" });
    const dup = await cp.api("/api/v1/notification-channels", {
      method: "POST",
      body: { name: "once", kind: "webhook", url: "https://example.com/other" },
    });
    expect(dup.status).toBe(409);
  });

  it("updates, disables and deletes a channel; retry refuses a disabled channel", async () => {
    const r = await receiver();
    r.answer(() => ({ status: 500 }));
    await createChannel({ name: "editable", url: r.url });
    const id = await sendTest("editable");
    await settled(id, "failed");
    const patched = await cp.api("/api/v1/notification-channels/editable", {
      method: "PATCH",
      body: { enabled: false, events: ["session.ended", "session.ended"] },
    });
    expect(patched.body).toMatchObject({ enabled: false, events: ["session.ended"], signing: "hmac-sha256" });
    const refused = await cp.api(`/api/v1/notification-deliveries/${id}/retry`, { method: "POST" });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("notification_channel.disabled");
    expect((await cp.api("/api/v1/notification-channels/editable", { method: "DELETE" })).status).toBe(204);
    expect((await cp.api("/api/v1/notification-channels/editable")).status).toBe(404);
    expect((await cp.api(`/api/v1/notification-deliveries/${id}`)).status).toBe(404);
  });

  it("is admin-only", async () => {
    const calls: [string, string][] = [
      ["GET", "/api/v1/notification-channels"],
      ["POST", "/api/v1/notification-channels"],
      ["GET", "/api/v1/notification-channels/signed"],
      ["PATCH", "/api/v1/notification-channels/signed"],
      ["DELETE", "/api/v1/notification-channels/signed"],
      ["POST", "/api/v1/notification-channels/signed/test"],
      ["POST", "/api/v1/notification-channels/signed/rotate-secret"],
      ["GET", "/api/v1/notification-deliveries?status=failed"],
      ["POST", "/api/v1/notification-deliveries/00000000-0000-0000-0000-000000000000/retry"],
    ];
    for (const [method, path] of calls) {
      const body = method === "POST" || method === "PATCH" ? {} : undefined;
      const res = await cp.api(path, { method, key: userKey, body });
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    expect((await cp.api("/api/v1/notification-channels", { key: null })).status).toBe(401);
  });

  it("never shows a secret again: not in lists, reads, the audit log or the logs", async () => {
    expect(secrets.length).toBeGreaterThanOrEqual(4);
    const texts = [
      (await cp.api("/api/v1/notification-channels")).text,
      (await cp.api("/api/v1/notification-channels/signed")).text,
      (await cp.api("/api/v1/notification-channels/slack")).text,
      (await cp.api("/api/v1/notification-deliveries?limit=500")).text,
      (await cp.api("/api/v1/audit?limit=500")).text,
      cp.logs(),
    ];
    expect(texts[0]).toContain('"name":"signed"');
    expect(cp.logs()).toContain("notification delivery attempt failed; will retry");
    for (const text of texts) for (const secret of secrets) expect(text).not.toContain(secret);
  });
});
