import { status } from "@grpc/grpc-js";
import type { AuthorizeSessionResponse } from "@sluice/proto";
import { eventually } from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestReceiver } from "../notifications/notifications.testing";
import {
  createGroups,
  createUser,
  endedSessions,
  hour,
  linkAgent,
  type ReviewsFixture,
  startReviewsFixture,
  type TestLink,
  type TestUser,
  unary,
} from "./reviews.testing";

let fx: ReviewsFixture;
let edge: TestLink;
const u = {} as Record<"alice" | "bob" | "carol" | "dave" | "auditor", TestUser>;

const api = (path: string, init?: { method?: string; body?: unknown; key?: string | null }) =>
  fx.cp.api(path, init);

async function createConnection(name: string, access?: Record<string, unknown>) {
  const res = await api("/api/v1/connections", {
    method: "POST",
    body: {
      name,
      type: "postgres",
      host: "127.0.0.1",
      port: 5432,
      database: "app",
      username: "app",
      credentialRef: "env:APP_PW",
      allowedGroups: ["dev", "dba"],
      ...(access ? { access } : {}),
    },
  });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

async function requestAccess(who: TestUser, connection: string, durationSeconds = hour) {
  const res = await api("/api/v1/reviews", {
    method: "POST",
    key: who.key,
    body: { connection, durationSeconds, reason: "incident 42: inspect stuck orders" },
  });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

const decide = (who: TestUser, id: string, verb: "approve" | "deny" | "revoke", comment?: string) =>
  api(`/api/v1/reviews/${id}/${verb}`, {
    method: "POST",
    key: who.key,
    body: comment ? { comment } : {},
  });

const startSession = (who: TestUser, connection: string) =>
  api("/api/v1/sessions", { method: "POST", key: who.key, body: { connection } });

beforeAll(async () => {
  fx = await startReviewsFixture();
  await createGroups(fx.cp, ["dev", "dba"]);
  u.alice = await createUser(fx.cp, "alice", ["dev"]);
  u.bob = await createUser(fx.cp, "bob", ["dba"]);
  u.carol = await createUser(fx.cp, "carol", ["dba"]);
  u.dave = await createUser(fx.cp, "dave", ["dev"]);
  u.auditor = await createUser(fx.cp, "audrey", [], "auditor");
  await createConnection("prod-db", {
    requireApproval: true,
    reviewerGroups: ["dba"],
    maxDurationSeconds: 4 * hour,
  });
  await createConnection("prod-two", { requireApproval: true, reviewerGroups: ["dba"], minApprovals: 2 });
  await createConnection("open-db");
  edge = await linkAgent(fx, "edge");
});
afterAll(async () => {
  edge?.close();
  await fx?.stop();
});

describe("just-in-time access", () => {
  it("refuses sessions without approval and says how to ask, over REST and gRPC", async () => {
    const res = await startSession(u.alice, "prod-db");
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("access.approval_required");
    expect(res.body.error.message).toContain('sluice request prod-db --for 1h --reason "…"');
    const native = await unary<unknown, AuthorizeSessionResponse>(
      fx.grpc.authorizeSession.bind(fx.grpc) as never,
      {
        credential: u.alice.key,
        connectionName: "prod-db",
        clientAddress: "10.0.0.9",
        protocol: "postgres",
        sshPublicKey: "",
        sshCertificate: "",
        count: 0,
      },
      edge.token,
    );
    expect(native.err?.code).toBe(status.PERMISSION_DENIED);
    expect(native.err?.details).toContain("sluice request prod-db");
    expect((await startSession(u.alice, "open-db")).status).toBe(201);
  });

  it("validates requests: reason, duration within the connection's maximum, only where approval is required", async () => {
    const noReason = await api("/api/v1/reviews", {
      method: "POST",
      key: u.alice.key,
      body: { connection: "prod-db", durationSeconds: hour },
    });
    expect(noReason.status).toBe(400);
    const tooLong = await api("/api/v1/reviews", {
      method: "POST",
      key: u.alice.key,
      body: { connection: "prod-db", durationSeconds: 5 * hour, reason: "x" },
    });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.message).toContain("at most 14400 seconds");
    const open = await api("/api/v1/reviews", {
      method: "POST",
      key: u.alice.key,
      body: { connection: "open-db", durationSeconds: hour, reason: "x" },
    });
    expect(open.body.error.code).toBe("access.not_required");
    const outsider = await createUser(fx.cp, "outsider", []);
    const hidden = await api("/api/v1/reviews", {
      method: "POST",
      key: outsider.key,
      body: { connection: "prod-db", durationSeconds: hour, reason: "x" },
    });
    expect(hidden.status).toBe(404);
  });

  it("refuses self-approval and non-members; one reviewer's approval opens the connection for the window", async () => {
    const review = await requestAccess(u.alice, "prod-db");
    expect(review).toMatchObject({
      kind: "access",
      status: "pending",
      requester: { name: "alice" },
      requiredGroups: ["dba"],
      minApprovals: 1,
      durationSeconds: hour,
      accessUntil: null,
      active: false,
      canDecide: false,
    });
    expect(review.url).toBe(`${fx.cp.apiUrl}/api/v1/reviews/${review.id}`);
    const again = await api("/api/v1/reviews", {
      method: "POST",
      key: u.alice.key,
      body: { connection: "prod-db", durationSeconds: hour, reason: "again" },
    });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain(review.id);
    const waiting = await startSession(u.alice, "prod-db");
    expect(waiting.body.error.message).toContain(`your request ${review.id} is waiting`);

    const self = await decide(u.alice, review.id, "approve");
    expect(self.status).toBe(403);
    expect(self.body.error.message).toContain("your own request");
    // dave cannot even see it; the auditor can, but is not a reviewer.
    expect((await decide(u.dave, review.id, "approve")).status).toBe(404);
    const auditor = await decide(u.auditor, review.id, "approve");
    expect(auditor.status).toBe(403);
    expect(auditor.body.error.message).toContain("only members of dba");
    const admin = await api(`/api/v1/reviews/${review.id}/approve`, { method: "POST", body: {} });
    expect(admin.status).toBe(403);

    const asBob = await api(`/api/v1/reviews/${review.id}`, { key: u.bob.key });
    expect(asBob.body.canDecide).toBe(true);
    const before = Date.now();
    const approved = await decide(u.bob, review.id, "approve", "ok for the incident");
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({
      status: "approved",
      approvals: 1,
      active: true,
      durationSeconds: hour,
    });
    expect(approved.body.decisions).toEqual([
      expect.objectContaining({ name: "bob", decision: "approve", comment: "ok for the incident" }),
    ]);
    const until = Date.parse(approved.body.accessUntil);
    expect(until).toBeGreaterThanOrEqual(before + hour * 1000 - 1000);
    expect(until).toBeLessThanOrEqual(Date.now() + hour * 1000 + 1000);

    expect((await startSession(u.alice, "prod-db")).status).toBe(201);
    // The approval is alice's, not dave's.
    expect((await startSession(u.dave, "prod-db")).status).toBe(403);
    const late = await decide(u.carol, review.id, "deny");
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe("review.not_pending");
  });

  it("needs two different reviewers when the connection asks for two approvals", async () => {
    const review = await requestAccess(u.alice, "prod-two");
    const first = await decide(u.bob, review.id, "approve");
    expect(first.body).toMatchObject({ status: "pending", approvals: 1 });
    expect((await startSession(u.alice, "prod-two")).status).toBe(403);
    const twice = await decide(u.bob, review.id, "approve");
    expect(twice.status).toBe(409);
    expect(twice.body.error.code).toBe("review.already_decided");
    const second = await decide(u.carol, review.id, "approve");
    expect(second.body).toMatchObject({ status: "approved", approvals: 2, active: true });
    expect((await startSession(u.alice, "prod-two")).status).toBe(201);
    await decide(u.alice, review.id, "revoke");
  });

  it("counts both approvals when two reviewers approve at the same moment", async () => {
    const review = await requestAccess(u.dave, "prod-two");
    const [b, c] = await Promise.all([
      decide(u.bob, review.id, "approve"),
      decide(u.carol, review.id, "approve"),
    ]);
    expect([b.status, c.status]).toEqual([200, 200]);
    const after = await api(`/api/v1/reviews/${review.id}`, { key: u.dave.key });
    expect(after.body).toMatchObject({ status: "approved", approvals: 2 });
    await decide(u.dave, review.id, "revoke");
  });

  it("lets one denial decide, even after an approval", async () => {
    const review = await requestAccess(u.dave, "prod-two");
    await decide(u.bob, review.id, "approve");
    const denied = await decide(u.carol, review.id, "deny", "use the replica");
    expect(denied.body).toMatchObject({ status: "denied", approvals: 1, active: false, accessUntil: null });
    expect((await startSession(u.dave, "prod-two")).status).toBe(403);
  });

  it("expires a pending request nobody decided", async () => {
    const review = await requestAccess(u.dave, "prod-db");
    await fx.db.review.update({ where: { id: review.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const expired = await eventually(async () => {
      const r = await api(`/api/v1/reviews/${review.id}`, { key: u.dave.key });
      return r.body.status === "expired" ? r.body : undefined;
    });
    expect(expired.decidedAt).not.toBeNull();
    const tooLate = await decide(u.bob, review.id, "approve");
    expect(tooLate.status).toBe(409);
    expect(tooLate.body.error.message).toContain("expired");
  });

  it("revocation ends the requester's live sessions on the connection and refuses new ones", async () => {
    const review = await requestAccess(u.dave, "prod-db");
    await decide(u.bob, review.id, "approve");
    const session = await startSession(u.dave, "prod-db");
    expect(session.status).toBe(201);
    const other = await startSession(u.dave, "open-db");
    expect((await decide(u.alice, review.id, "revoke")).status).toBe(404);
    const revoked = await decide(u.carol, review.id, "revoke", "incident closed");
    expect(revoked.body).toMatchObject({ status: "revoked", active: false });
    expect(revoked.body.revokedAt).not.toBeNull();
    await eventually(() => endedSessions(edge).includes(session.body.session.id));
    expect(endedSessions(edge)).not.toContain(other.body.session.id);
    expect((await startSession(u.dave, "prod-db")).status).toBe(403);
    const again = await decide(u.dave, review.id, "revoke");
    expect(again.status).toBe(409);
  });

  it("ends live sessions when the access window closes", async () => {
    const review = await requestAccess(u.dave, "prod-db", 600);
    await decide(u.bob, review.id, "approve");
    const session = await startSession(u.dave, "prod-db");
    expect(session.status).toBe(201);
    await fx.db.review.update({
      where: { id: review.id },
      data: { accessUntil: new Date(Date.now() - 1000) },
    });
    await eventually(() => endedSessions(edge).includes(session.body.session.id));
    const after = await api(`/api/v1/reviews/${review.id}`, { key: u.dave.key });
    expect(after.body).toMatchObject({ status: "approved", active: false });
    expect((await startSession(u.dave, "prod-db")).status).toBe(403);
  });

  it("ends live sessions nobody approved once a connection starts requiring approval", async () => {
    await createConnection("late-guard");
    const session = await startSession(u.dave, "late-guard");
    expect(session.status).toBe(201);
    const patched = await api("/api/v1/connections/late-guard", {
      method: "PATCH",
      body: { access: { requireApproval: true, reviewerGroups: ["dba"] } },
    });
    expect(patched.body.access).toMatchObject({
      requireApproval: true,
      minApprovals: 1,
      maxDurationSeconds: 8 * hour,
    });
    await eventually(() => endedSessions(edge).includes(session.body.session.id));
  });

  it("writes every request and decision to the audit log", async () => {
    const review = await requestAccess(u.alice, "prod-two");
    await decide(u.alice, review.id, "approve");
    await decide(u.bob, review.id, "deny", "not today");
    const audit = await api("/api/v1/audit?action=review.*&limit=200");
    const mine = audit.body.items.filter((e: { targetId: string }) => e.targetId === review.id);
    expect(mine.map((e: { action: string; outcome: string }) => `${e.action}:${e.outcome}`).sort()).toEqual([
      "review.approve:denied",
      "review.deny:success",
      "review.request:success",
    ]);
    const verify = await api("/api/v1/audit/verify");
    expect(verify.body.ok).toBe(true);
  });
});

describe("notifications", () => {
  it("sends each request and decision to the notification channels", async () => {
    const receiver = await startTestReceiver();
    try {
      const channel = await api("/api/v1/notification-channels", {
        method: "POST",
        body: {
          name: "reviews-hook",
          kind: "webhook",
          url: receiver.url,
          events: ["review.requested", "review.approval_added", "review.decided"],
        },
      });
      expect(channel.status, channel.text).toBe(201);
      const review = await requestAccess(u.alice, "prod-two");
      await decide(u.bob, review.id, "deny", "use the replica");
      const requested = await eventually(() =>
        receiver.ofEvent("review.requested").find((r) => r.json?.data?.reviewId === review.id),
      );
      expect(requested.json.data).toMatchObject({
        kind: "access",
        connection: "prod-two",
        requester: "alice",
        reason: "incident 42: inspect stuck orders",
        reviewerGroups: ["dba"],
        url: review.url,
      });
      const decided = await eventually(() =>
        receiver.ofEvent("review.decided").find((r) => r.json?.data?.reviewId === review.id),
      );
      expect(decided.json.data).toMatchObject({
        status: "denied",
        decidedBy: "bob",
        comment: "use the replica",
        url: review.url,
      });
      // prod-two needs two approvals: the first one is announced, the second decides
      const second = await requestAccess(u.alice, "prod-two");
      await decide(u.bob, second.id, "approve", "ok from me");
      const partial = await eventually(() =>
        receiver.ofEvent("review.approval_added").find((r) => r.json?.data?.reviewId === second.id),
      );
      expect(partial.json.data).toMatchObject({
        approvedBy: "bob",
        approvals: 1,
        minApprovals: 2,
        comment: "ok from me",
      });
      await decide(u.carol, second.id, "approve");
      const approved = await eventually(() =>
        receiver.ofEvent("review.decided").find((r) => r.json?.data?.reviewId === second.id),
      );
      expect(approved.json.data).toMatchObject({ status: "approved", decidedBy: "carol" });
      expect(
        receiver.ofEvent("review.approval_added").filter((r) => r.json?.data?.reviewId === second.id),
      ).toHaveLength(1);
      await api(`/api/v1/notification-channels/${channel.body.channel.id}`, { method: "DELETE" });
    } finally {
      await receiver.close();
    }
  });
});

describe("who sees which review", () => {
  it("shows a review to its requester, eligible reviewers, admins and auditors only", async () => {
    const review = await requestAccess(u.alice, "prod-db");
    for (const who of [u.alice, u.bob, u.auditor]) {
      expect((await api(`/api/v1/reviews/${review.id}`, { key: who.key })).status).toBe(200);
    }
    expect((await api(`/api/v1/reviews/${review.id}`)).status).toBe(200);
    expect((await api(`/api/v1/reviews/${review.id}`, { key: u.dave.key })).status).toBe(404);
    const daves = await api("/api/v1/reviews?limit=500", { key: u.dave.key });
    expect(daves.body.items.every((r: { requester: { name: string } }) => r.requester.name === "dave")).toBe(
      true,
    );
    await decide(u.alice, review.id, "revoke");
  });

  it("filters: mine, to review (pending, not mine, not yet decided by me), status, kind, connection", async () => {
    const a = await requestAccess(u.alice, "prod-two");
    const d = await requestAccess(u.dave, "prod-two");
    await decide(u.bob, a.id, "approve");
    const bobToReview = await api("/api/v1/reviews?toReview=true", { key: u.bob.key });
    const ids = bobToReview.body.items.map((r: { id: string }) => r.id);
    expect(ids).toContain(d.id);
    expect(ids).not.toContain(a.id);
    const carolToReview = await api("/api/v1/reviews?toReview=true", { key: u.carol.key });
    expect(carolToReview.body.items.map((r: { id: string }) => r.id)).toEqual(
      expect.arrayContaining([a.id, d.id]),
    );
    const aliceToReview = await api("/api/v1/reviews?toReview=true", { key: u.alice.key });
    expect(aliceToReview.body.items).toEqual([]);
    const mine = await api("/api/v1/reviews?mine=true&status=pending&kind=access&connection=prod-two", {
      key: u.alice.key,
    });
    expect(mine.body.items.map((r: { id: string }) => r.id)).toEqual([a.id]);
    const none = await api("/api/v1/reviews?kind=statement", { key: u.alice.key });
    expect(none.body.items).toEqual([]);
    await decide(u.alice, a.id, "revoke");
    await decide(u.dave, d.id, "revoke");
  });
});
