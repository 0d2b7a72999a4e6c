import { createHash } from "node:crypto";
import { status } from "@grpc/grpc-js";
import type { RecordingAck, ReviewState } from "@sluice/proto";
import { eventually } from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  agentMetadata,
  createAppDb,
  createGroups,
  createUser,
  linkAgent,
  type ReviewsFixture,
  startReviewsFixture,
  type TestLink,
  type TestUser,
  unary,
} from "./reviews.testing";

let fx: ReviewsFixture;
let edge: TestLink;
let otherToken: string;
let alice: TestUser;
let bob: TestUser;
let guardedId: string;
let unattachedId: string;

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

function requestReview(
  sessionId: string,
  statement: string,
  opts: { rule?: string; policyId?: string; token?: string } = {},
) {
  return unary<unknown, ReviewState>(
    fx.grpc.requestStatementReview.bind(fx.grpc) as never,
    { sessionId, policyId: opts.policyId ?? guardedId, ruleName: opts.rule ?? "writes", statement },
    opts.token ?? edge.token,
  );
}

const getReview = (reviewId: string, token = edge.token) =>
  unary<unknown, ReviewState>(fx.grpc.getReview.bind(fx.grpc) as never, { reviewId }, token);

async function startSession(): Promise<string> {
  const res = await fx.cp.api("/api/v1/sessions", {
    method: "POST",
    key: alice.key,
    body: { connection: "app-db" },
  });
  expect(res.status, res.text).toBe(201);
  return res.body.session.id;
}

/** Ends a session the way the agent does: its recording carries session.start and session.end. */
async function endSession(sessionId: string): Promise<void> {
  const stream = fx.grpc.uploadRecording(agentMetadata(edge.token));
  const acks: RecordingAck[] = [];
  stream.on("data", (a: RecordingAck) => acks.push(a));
  const ev = (seq: number, kind: string, payload: object) => ({
    seq,
    atUnixMs: Date.now(),
    kind,
    payloadJson: JSON.stringify(payload),
  });
  stream.write({
    sessionId,
    events: [ev(1, "session.start", {}), ev(2, "session.end", { reason: "client closed" })],
  });
  await eventually(() => acks.length === 1);
  stream.end();
  await eventually(async () => (await fx.cp.api(`/api/v1/sessions/${sessionId}`)).body.status === "closed");
}

const decide = (who: TestUser, id: string, verb: "approve" | "deny", comment?: string) =>
  fx.cp.api(`/api/v1/reviews/${id}/${verb}`, {
    method: "POST",
    key: who.key,
    body: comment ? { comment } : {},
  });

/** The review states pushed to the edge agent's Link for one review. */
const pushed = (reviewId: string) =>
  edge.messages.flatMap((m) =>
    m.body?.$case === "review" && m.body.value.reviewId === reviewId ? [m.body.value] : [],
  );

beforeAll(async () => {
  fx = await startReviewsFixture();
  await createGroups(fx.cp, ["dev", "dba"]);
  alice = await createUser(fx.cp, "alice", ["dev"]);
  bob = await createUser(fx.cp, "bob", ["dba"]);
  const guarded = await fx.cp.api("/api/v1/policies", {
    method: "POST",
    body: {
      name: "guarded",
      reviewRules: [
        { name: "writes", statementKinds: ["UPDATE"], reviewerGroups: ["dba"], timeoutSeconds: 60 },
      ],
    },
  });
  guardedId = guarded.body.id;
  const unattached = await fx.cp.api("/api/v1/policies", {
    method: "POST",
    body: { name: "unattached", reviewRules: [{ name: "writes", reviewerGroups: ["dev"] }] },
  });
  unattachedId = unattached.body.id;
  await createAppDb(fx.cp, ["dev"], { policyIds: ["guarded"] });
  edge = await linkAgent(fx, "edge");
  otherToken = (
    await fx.cp.api("/api/v1/agents", { method: "POST", body: { name: "other", segment: "elsewhere" } })
  ).body.enrollmentToken;
});
afterAll(async () => {
  edge?.close();
  await fx?.stop();
});

describe("statement reviews over gRPC", () => {
  it("holds a statement for the rule's reviewers, and pushes the approval to the agent's Link", async () => {
    const sid = await startSession();
    const sql = "UPDATE orders SET status = 'shipped' WHERE id = 7";
    const before = Date.now();
    const { res: held } = await requestReview(sid, sql);
    expect(held).toMatchObject({ sessionId: sid, status: "pending", statementHash: sha256(sql), reason: "" });
    expect(held?.url).toBe(`${fx.cp.apiUrl}/api/v1/reviews/${held?.reviewId}`);
    expect(held?.expiresAtUnixMs).toBeGreaterThanOrEqual(before + 59_000);
    expect(held?.expiresAtUnixMs).toBeLessThanOrEqual(Date.now() + 61_000);
    const id = held?.reviewId as string;
    // Asking again for the same held statement (a retry) gives the same review.
    expect((await requestReview(sid, sql)).res?.reviewId).toBe(id);
    expect((await getReview(id)).res?.status).toBe("pending");

    const shown = await fx.cp.api(`/api/v1/reviews/${id}`, { key: bob.key });
    expect(shown.body).toMatchObject({
      kind: "statement",
      status: "pending",
      statement: sql,
      statementHash: sha256(sql),
      sessionId: sid,
      ruleName: "writes",
      policyId: guardedId,
      requester: { name: "alice" },
      requiredGroups: ["dba"],
      canDecide: true,
    });
    expect((await decide(alice, id, "approve")).status).toBe(403);

    await decide(bob, id, "approve", "go ahead");
    const state = await eventually(() => pushed(id).at(-1));
    expect(state).toMatchObject({
      reviewId: id,
      sessionId: sid,
      status: "approved",
      statementHash: sha256(sql),
      reason: "go ahead",
    });
    expect((await getReview(id)).res?.status).toBe("approved");
    // The held statement ran at the decision: the approval is used up.
    const after = await fx.cp.api(`/api/v1/reviews/${id}`, { key: alice.key });
    expect(after.body.consumedAt).not.toBeNull();
    const next = await requestReview(sid, sql);
    expect(next.res?.status).toBe("pending");
    expect(next.res?.reviewId).not.toBe(id);
  });

  it("pushes a denial with the reviewer's comment, and a timeout as expired", async () => {
    const sid = await startSession();
    const denied = (await requestReview(sid, "UPDATE accounts SET balance = 0")).res as ReviewState;
    await decide(bob, denied.reviewId, "deny", "not during business hours");
    const d = await eventually(() => pushed(denied.reviewId).at(-1));
    expect(d.status).toBe("denied");
    expect(d.reason).toBe("denied by bob: not during business hours");

    const timed = (await requestReview(sid, "UPDATE accounts SET balance = 1")).res as ReviewState;
    await fx.db.review.update({
      where: { id: timed.reviewId },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    const e = await eventually(() => pushed(timed.reviewId).at(-1));
    expect(e.status).toBe("expired");
    expect(e.reason).toContain("timed out");
    expect((await getReview(timed.reviewId)).res?.status).toBe("expired");
  });

  it("answers a poll with expired once the time is up, even before the sweep", async () => {
    const sid = await startSession();
    const held = (await requestReview(sid, "UPDATE t SET x = 2")).res as ReviewState;
    await fx.db.review.update({
      where: { id: held.reviewId },
      data: { expiresAt: new Date(Date.now() - 1) },
    });
    expect((await getReview(held.reviewId)).res?.status).toBe("expired");
  });

  it("keeps an approval given after the session ended for one later run of the same statement", async () => {
    const sql = "UPDATE invoices SET paid = true WHERE id = 99";
    const first = await startSession();
    const held = (await requestReview(first, sql)).res as ReviewState;
    await endSession(first);
    await decide(bob, held.reviewId, "approve");
    const approved = await fx.cp.api(`/api/v1/reviews/${held.reviewId}`, { key: alice.key });
    expect(approved.body).toMatchObject({ status: "approved", consumedAt: null });

    const ended = await requestReview(first, sql);
    expect(ended.err?.code).toBe(status.FAILED_PRECONDITION);

    const second = await startSession();
    const rerun = await requestReview(second, sql);
    expect(rerun.res).toMatchObject({
      reviewId: held.reviewId,
      status: "approved",
      statementHash: sha256(sql),
    });
    const used = await fx.cp.api(`/api/v1/reviews/${held.reviewId}`, { key: alice.key });
    expect(used.body.consumedAt).not.toBeNull();
    // Once: the next run of the same statement needs a new review.
    const third = await requestReview(second, sql);
    expect(third.res?.status).toBe("pending");
    expect(third.res?.reviewId).not.toBe(held.reviewId);
    // A different statement never rides on that approval.
    expect((await requestReview(second, `${sql} `)).res?.status).toBe("pending");
  });

  it("does not carry an approval over to a policy changed since it was given", async () => {
    const sql = "UPDATE invoices SET paid = true WHERE id = 101";
    const first = await startSession();
    const held = (await requestReview(first, sql)).res as ReviewState;
    await endSession(first);
    await decide(bob, held.reviewId, "approve");
    // The policy is edited after the approval (here only its description).
    await new Promise((r) => setTimeout(r, 20));
    const edited = await fx.cp.api(`/api/v1/policies/${guardedId}`, {
      method: "PATCH",
      body: { description: "edited after the approval" },
    });
    expect(edited.status).toBe(200);
    const later = await startSession();
    const rerun = (await requestReview(later, sql)).res as ReviewState;
    expect(rerun.status).toBe("pending");
    expect(rerun.reviewId).not.toBe(held.reviewId);
    const unused = await fx.cp.api(`/api/v1/reviews/${held.reviewId}`, { key: alice.key });
    expect(unused.body.consumedAt).toBeNull();
  });

  it("does not run a statement on an approval older than its time to live", async () => {
    const sql = "UPDATE invoices SET paid = true WHERE id = 100";
    const first = await startSession();
    const held = (await requestReview(first, sql)).res as ReviewState;
    await endSession(first);
    await decide(bob, held.reviewId, "approve");
    // decided two hours ago: past the default one-hour time to live
    await fx.db.review.update({
      where: { id: held.reviewId },
      data: { decidedAt: new Date(Date.now() - 2 * 3600_000) },
    });
    const later = await startSession();
    const rerun = (await requestReview(later, sql)).res as ReviewState;
    expect(rerun.status).toBe("pending");
    expect(rerun.reviewId).not.toBe(held.reviewId);
    const stale = await fx.cp.api(`/api/v1/reviews/${held.reviewId}`, { key: alice.key });
    expect(stale.body.consumedAt).toBeNull();
  });

  it("lets only the session's own agent ask about it", async () => {
    const sid = await startSession();
    const held = (await requestReview(sid, "UPDATE t SET y = 1")).res as ReviewState;
    const foreign = await requestReview(sid, "UPDATE t SET y = 1", { token: otherToken });
    expect(foreign.err?.code).toBe(status.NOT_FOUND);
    expect((await getReview(held.reviewId, otherToken)).err?.code).toBe(status.NOT_FOUND);
    const nobody = await requestReview(sid, "UPDATE t SET y = 1", { token: "sat_not-a-real-token" });
    expect(nobody.err?.code).toBe(status.UNAUTHENTICATED);
    // Access reviews are never an agent's business.
    const { connectionId } = await fx.db.session.findUniqueOrThrow({ where: { id: sid } });
    const access = await fx.db.review.create({
      data: { kind: "access", requesterId: alice.id, connectionId, expiresAt: new Date(Date.now() + 60_000) },
    });
    expect((await getReview(access.id)).err?.code).toBe(status.NOT_FOUND);
  });

  it("fails closed on a rule the connection's policies do not hold, and bounds the statement", async () => {
    const sid = await startSession();
    const unknownRule = await requestReview(sid, "UPDATE t SET z = 1", { rule: "nope" });
    expect(unknownRule.err?.code).toBe(status.INVALID_ARGUMENT);
    const notAttached = await requestReview(sid, "UPDATE t SET z = 1", { policyId: unattachedId });
    expect(notAttached.err?.code).toBe(status.INVALID_ARGUMENT);
    const huge = await requestReview(sid, `UPDATE t SET z = '${"x".repeat(64 * 1024)}'`);
    expect(huge.err?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect((await requestReview(sid, "")).err?.code).toBe(status.INVALID_ARGUMENT);
  });

  it("audits each request and decision with the statement hash", async () => {
    const sid = await startSession();
    const sql = "UPDATE audit_me SET n = n + 1";
    const held = (await requestReview(sid, sql)).res as ReviewState;
    await decide(bob, held.reviewId, "approve");
    const audit = await fx.cp.api("/api/v1/audit?action=review.*&limit=500");
    const entries = audit.body.items.filter((e: { targetId: string }) => e.targetId === held.reviewId);
    const request = entries.find((e: { action: string }) => e.action === "review.request");
    expect(request).toMatchObject({ actorKind: "agent", actorId: edge.agentId });
    expect(request.details).toMatchObject({
      statementHash: sha256(sql),
      statement: sql,
      rule: "writes",
      session: sid,
    });
    const approve = entries.find((e: { action: string }) => e.action === "review.approve");
    expect(approve.details).toMatchObject({ statementHash: sha256(sql), status: "approved" });
  });
});
