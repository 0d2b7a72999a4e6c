import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  errorResponse,
  type FakeControlPlane,
  runAgainst,
  startFakeControlPlane,
} from "../fake-control-plane.testing";
import { formatDuration, parseDuration } from "./request";

let cp: FakeControlPlane;
beforeAll(async () => {
  cp = await startFakeControlPlane();
});
afterAll(() => cp.close());

const id = "0b9d7c1e-2f4a-4c55-9e1a-1234567890ab";

function review(overrides: Record<string, unknown> = {}) {
  return {
    id,
    kind: "access",
    status: "pending",
    requester: { id: "u1", name: "alice" },
    connection: { id: "c1", name: "prod-db", type: "postgres" },
    sessionId: null,
    reason: "incident 42",
    statement: null,
    statementHash: null,
    policyId: null,
    ruleName: null,
    durationSeconds: 3600,
    accessUntil: null,
    active: false,
    expiresAt: "2025-01-03T03:04:05.000Z",
    requiredGroups: ["dba"],
    minApprovals: 2,
    approvals: 0,
    decisions: [],
    canDecide: false,
    url: `https://sluice.example/api/v1/reviews/${id}`,
    decidedAt: null,
    consumedAt: null,
    revokedAt: null,
    createdAt: "2025-01-02T03:04:05.000Z",
    ...overrides,
  };
}

const bobApproved = {
  status: "approved",
  approvals: 2,
  accessUntil: "2025-01-02T04:10:00.000Z",
  active: true,
  decisions: [
    { userId: "u2", name: "bob", decision: "approve", comment: null, at: "2025-01-02T03:09:00.000Z" },
    { userId: "u3", name: "carol", decision: "approve", comment: "ok", at: "2025-01-02T03:10:00.000Z" },
  ],
};

describe("sluice request", () => {
  it("asks for access and says how reviewers approve", async () => {
    cp.route("POST /reviews", { status: 201, body: review() });
    const res = await runAgainst(cp, ["request", "prod-db", "--for", "1h", "--reason", "incident 42"]);
    expect(res.code).toBe(0);
    expect(cp.requests.at(-1)?.body).toEqual({
      connection: "prod-db",
      durationSeconds: 3600,
      reason: "incident 42",
    });
    expect(res.out).toContain(`requested access to prod-db for 1h: review ${id} (pending)`);
    expect(res.out).toContain("reviewers: members of dba (2 approvals needed, never the requester)");
    expect(res.out).toContain(`they approve with: sluice reviews approve ${id}`);
  });

  it("rejects a malformed duration and a missing reason before calling the control plane", async () => {
    const before = cp.requests.length;
    const bad = await runAgainst(cp, ["request", "prod-db", "--for", "an hour", "--reason", "x"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("use a duration such as 30m, 1h");
    const noReason = await runAgainst(cp, ["request", "prod-db", "--for", "30m"]);
    expect(noReason.code).toBe(2);
    expect(noReason.err).toContain("--reason");
    expect(cp.requests.length).toBe(before);
  });

  it("with --wait, polls until approved and exits 0", async () => {
    cp.route("POST /reviews", { status: 201, body: review() });
    let polls = 0;
    cp.route(`GET /reviews/${id}`, () => {
      polls++;
      return { status: 200, body: polls < 3 ? review({ approvals: polls - 1 }) : review(bobApproved) };
    });
    const res = await runAgainst(cp, [
      "request",
      "prod-db",
      "--for",
      "1h",
      "--reason",
      "incident 42",
      "--wait",
      "--poll-ms",
      "50",
    ]);
    expect(res.code).toBe(0);
    expect(polls).toBe(3);
    expect(res.err).toContain("waiting for a decision");
    expect(res.out).toContain(
      `review ${id} approved by carol: ok; you may use prod-db until 2025-01-02 04:10:00Z`,
    );
  });

  it("with --wait, exits 1 with the reviewer's reason when denied", async () => {
    cp.route("POST /reviews", { status: 201, body: review() });
    cp.route(`GET /reviews/${id}`, {
      status: 200,
      body: review({
        status: "denied",
        decisions: [
          {
            userId: "u3",
            name: "carol",
            decision: "deny",
            comment: "use the replica",
            at: "2025-01-02T03:10:00.000Z",
          },
        ],
      }),
    });
    const res = await runAgainst(cp, [
      "request",
      "prod-db",
      "--for",
      "1h",
      "--reason",
      "x",
      "--wait",
      "--poll-ms",
      "50",
    ]);
    expect(res.code).toBe(1);
    expect(res.err).toContain(`error: review ${id} denied by carol: use the replica`);
  });

  it("shows the control plane's refusal", async () => {
    cp.route(
      "POST /reviews",
      errorResponse(400, "review.invalid", "prod-db grants access for at most 14400 seconds; ask for less"),
    );
    const res = await runAgainst(cp, ["request", "prod-db", "--for", "1d", "--reason", "x"]);
    expect(res.code).toBe(1);
    expect(res.err).toBe(
      "error: prod-db grants access for at most 14400 seconds; ask for less (review.invalid)\n",
    );
  });

  it("parses and prints durations", () => {
    expect(parseDuration("30m")).toBe(1800);
    expect(parseDuration("1h30m")).toBe(5400);
    expect(parseDuration("2d")).toBe(172_800);
    expect(() => parseDuration("30s")).toThrow("at least 1m");
    expect(formatDuration(5400)).toBe("1h30m");
  });
});

describe("sluice reviews", () => {
  it("lists reviews with filters", async () => {
    cp.route("GET /reviews?status=pending&toReview=true", {
      status: 200,
      body: {
        items: [
          review({ approvals: 1 }),
          review({
            id: "r-2",
            kind: "statement",
            durationSeconds: null,
            statement: "UPDATE orders\nSET status = 'x'",
            minApprovals: 1,
          }),
        ],
      },
    });
    const res = await runAgainst(cp, ["reviews", "list", "--status", "pending", "--to-review"]);
    expect(res.code).toBe(0);
    const [header, first, second] = res.out.split("\n");
    expect(header).toMatch(
      /^ID\s+KIND\s+STATUS\s+CONNECTION\s+REQUESTER\s+APPROVALS\s+WHAT\s+EXPIRES\s+CREATED$/,
    );
    expect(first).toMatch(
      new RegExp(
        `^${id}\\s+access\\s+pending\\s+prod-db\\s+alice\\s+1/2\\s+access for 1h\\s+2025-01-03 03:04:05Z`,
      ),
    );
    expect(second).toMatch(
      /^r-2\s+statement\s+pending\s+prod-db\s+alice\s+0\/1\s+UPDATE orders SET status = 'x'/,
    );
  });

  it("shows a statement review with its decisions and the full statement", async () => {
    cp.route(`GET /reviews/${id}`, {
      status: 200,
      body: review({
        kind: "statement",
        statement: "UPDATE orders\n   SET status = 'x'\n WHERE id = 7",
        statementHash: "ab".repeat(32),
        sessionId: "s-1",
        ruleName: "writes",
        durationSeconds: null,
        approvals: 1,
        canDecide: true,
        decisions: [
          { userId: "u2", name: "bob", decision: "approve", comment: "fine", at: "2025-01-02T03:09:00.000Z" },
        ],
      }),
    });
    const res = await runAgainst(cp, ["reviews", "show", id]);
    expect(res.code).toBe(0);
    expect(res.out).toContain("rule:           writes\n");
    expect(res.out).toContain("approvals:      1 of 2\n");
    expect(res.out).toContain("decisions:\n  2025-01-02 03:09:00Z  bob approve: fine\n");
    expect(res.out).toContain("statement:\n  UPDATE orders\n     SET status = 'x'\n   WHERE id = 7\n");
    expect(res.out).toContain(`you may decide: sluice reviews approve ${id}`);
    const json = await runAgainst(cp, ["reviews", "show", id, "-o", "json"]);
    expect(JSON.parse(json.out)).toMatchObject({ id, ruleName: "writes" });
  });

  it("approves with a comment and says when more approvals are needed", async () => {
    cp.route(`POST /reviews/${id}/approve`, { status: 200, body: review({ approvals: 1 }) });
    const res = await runAgainst(cp, ["reviews", "approve", id, "--comment", "looks right"]);
    expect(res.code).toBe(0);
    expect(cp.requests.at(-1)?.body).toEqual({ comment: "looks right" });
    expect(res.out).toBe(`approved review ${id}: 1 of 2 approvals, it waits for more\n`);
    cp.route(`POST /reviews/${id}/approve`, { status: 200, body: review(bobApproved) });
    const done = await runAgainst(cp, ["reviews", "approve", id]);
    expect(cp.requests.at(-1)?.body).toEqual({});
    expect(done.out).toContain(`review ${id} approved by carol: ok; you may use prod-db until`);
  });

  it("denies, revokes, and reports a refused self-approval", async () => {
    cp.route(`POST /reviews/${id}/deny`, {
      status: 200,
      body: review({
        status: "denied",
        decisions: [
          { userId: "u2", name: "bob", decision: "deny", comment: "no", at: "2025-01-02T03:09:00.000Z" },
        ],
      }),
    });
    expect((await runAgainst(cp, ["reviews", "deny", id, "--comment", "no"])).out).toBe(
      `review ${id} denied by bob: no\n`,
    );
    cp.route(`POST /reviews/${id}/revoke`, { status: 200, body: review({ status: "revoked" }) });
    expect((await runAgainst(cp, ["reviews", "revoke", id])).out).toBe(
      `revoked review ${id}; alice's live sessions on prod-db are being ended\n`,
    );
    cp.route(
      `POST /reviews/${id}/approve`,
      errorResponse(
        403,
        "review.forbidden",
        "you cannot approve or deny your own request; another reviewer must",
      ),
    );
    const self = await runAgainst(cp, ["reviews", "approve", id]);
    expect(self.code).toBe(1);
    expect(self.err).toContain("error: you cannot approve or deny your own request");
  });
});
