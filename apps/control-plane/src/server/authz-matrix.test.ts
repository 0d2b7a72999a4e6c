import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectedStatus, matrix, reachesHandler, targetsOf } from "../testing/authz-matrix.testing";
import {
  type Caller,
  callers,
  type Person,
  recordingMarker,
  startWorld,
  type Target,
  type World,
} from "../testing/authz-world.testing";

/**
 * Every route of the OpenAPI document × every caller (admin, auditor, reviewer, member,
 * service identity, anonymous, revoked key) × its own resource, another member's and a
 * random id, each answered with exactly the status the table in authz-matrix.testing.ts
 * expects. Sluice has no tenants: the boundary a foreign id crosses is another member's
 * resource or a connection of a group the caller is not in, and it is always a 404.
 */

/**
 * Cells whose expectation is right but which the control plane does not answer correctly
 * yet, as `<caller> <METHOD> <path> <target>`, each with its bug. They are printed, not
 * failed; one that starts passing fails the run until it is removed from this list.
 */
const knownBugs: { cell: string; bug: string }[] = [];

let w: World;
let operations: string[] = [];

beforeAll(async () => {
  w = await startWorld();
  const doc = await w.cp.api("/api/v1/openapi.json", { key: null });
  operations = Object.entries(doc.body.paths as Record<string, object>).flatMap(([path, ops]) =>
    Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
  );
}, 60_000);
afterAll(async () => {
  await w?.stop();
});

/** Runs `fn` over `items`, at most `limit` at a time. */
async function pool<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return out;
}

interface Cell {
  op: string;
  caller: Caller;
  target: Target;
}

const owner = (c: Caller, target: Target): Person => (target === "foreign" ? "other" : w.ownerOf(c));
const label = (c: Cell) => `${c.caller} ${c.op} ${c.target}`;

/** Calls one cell: real path parameters (fresh ones where the call changes them), a minimal valid body. */
async function call(cell: Cell, opts: { live?: boolean } = {}) {
  const rule = matrix[cell.op];
  if (!rule) throw new Error(`no rule for ${cell.op}`);
  const [method, template] = cell.op.split(" ") as [string, string];
  const reaches = reachesHandler(rule, cell.caller, cell.target);
  const live = opts.live ?? (reaches && rule.fresh === true);
  const params =
    rule.kind && cell.target !== "missing"
      ? await w.params(rule.kind, owner(cell.caller, cell.target), cell.target, live)
      : {};
  const path = template.replace(/\{(\w+)\}/g, (_m, name: string) => params[name] ?? randomUUID());
  const body = rule.body ? await rule.body(w, cell.caller, reaches) : undefined;
  const res = await w.cp.api(path, { method, key: w.keyOf(cell.caller), body });
  return { ...res, path };
}

describe("authorization matrix", () => {
  it("has an expectation for every route in the OpenAPI document, and none for a route that is gone", () => {
    expect(operations.length).toBeGreaterThan(80);
    expect(operations.filter((op) => !(op in matrix))).toEqual([]);
    expect(Object.keys(matrix).filter((op) => !operations.includes(op))).toEqual([]);
  });

  it("documents why an allowed caller gets an error other than 404", () => {
    const undocumented = Object.entries(matrix).flatMap(([op, rule]) =>
      callers.flatMap((c) =>
        targetsOf(rule).flatMap((t) => {
          const want = expectedStatus(rule, c, t);
          const allowedError = reachesHandler(rule, c, t) && want >= 400 && want !== 404;
          return allowedError && !rule.why ? [`${c} ${op} ${t} → ${want}`] : [];
        }),
      ),
    );
    expect(undocumented).toEqual([]);
  });

  it("answers every route × caller × target with the expected status", { timeout: 60_000 }, async () => {
    const cells: Cell[] = operations
      .filter((op) => op in matrix)
      .flatMap((op) =>
        callers.flatMap((caller) =>
          targetsOf(matrix[op] as NonNullable<(typeof matrix)[string]>).map((target) => ({
            op,
            caller,
            target,
          })),
        ),
      );
    const answers = await pool(cells, 8, async (cell) => {
      const res = await call(cell);
      const want = expectedStatus(
        matrix[cell.op] as NonNullable<(typeof matrix)[string]>,
        cell.caller,
        cell.target,
      );
      return { cell: label(cell), want, got: res.status, detail: res.text.slice(0, 160) };
    });
    const bugs = new Set(knownBugs.map((b) => b.cell));
    const wrong = answers.filter((a) => a.got !== a.want && !bugs.has(a.cell));
    const fixed = answers.filter((a) => a.got === a.want && bugs.has(a.cell)).map((a) => a.cell);
    const routes = new Set(cells.map((c) => c.op)).size;
    console.info(
      `authorization matrix: ${routes} routes × ${callers.length} callers = ${cells.length} cells`,
    );
    for (const b of knownBugs) console.warn(`known authorization bug: ${b.cell}: ${b.bug}`);
    expect(wrong.map((a) => `${a.cell}: want ${a.want}, got ${a.got} ${a.detail}`)).toEqual([]);
    expect(fixed, "fixed: remove these from knownBugs").toEqual([]);
  });
});

describe("reviews", () => {
  it("refuses a reviewer deciding their own request, records the refusal, and lets another reviewer decide", async () => {
    const id = await w.fresh.review("reviewer");
    for (const verb of ["approve", "deny"]) {
      const res = await w.cp.api(`/api/v1/reviews/${id}/${verb}`, {
        method: "POST",
        key: w.who.reviewer.key,
        body: {},
      });
      expect(res.status).toBe(403);
      expect(res.body.error).toMatchObject({
        code: "review.forbidden",
        message: expect.stringMatching(/own request/),
      });
    }
    const seen = await w.cp.api(`/api/v1/reviews/${id}`, { key: w.who.reviewer.key });
    expect(seen.body).toMatchObject({ status: "pending", approvals: 0, decisions: [], canDecide: false });
    const audit = await w.cp.api(`/api/v1/audit?targetId=${id}&outcome=denied`);
    expect(audit.body.items.map((e: { action: string }) => e.action).sort()).toEqual([
      "review.approve",
      "review.deny",
    ]);

    const theirs = await w.fresh.review("member");
    const member = await w.cp.api(`/api/v1/reviews/${theirs}/approve`, {
      method: "POST",
      key: w.who.member.key,
      body: {},
    });
    expect(member.status).toBe(403);
    const approved = await w.cp.api(`/api/v1/reviews/${theirs}/approve`, {
      method: "POST",
      key: w.who.reviewer.key,
      body: {},
    });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ status: "approved", approvals: 1, active: true });
  });
});

describe("another member's resources", () => {
  it("are a 404 to a member, with nothing of them in the answer, while their owner reads them", async () => {
    const s = w.shared;
    const theirs = [
      `/api/v1/sessions/${s.sessions.other}`,
      `/api/v1/sessions/${s.sessions.other}/events`,
      `/api/v1/sessions/${s.sessions.other}/cast`,
      `/api/v1/reviews/${s.reviews.other}`,
      `/api/v1/users/${w.who.other.id}/api-keys`,
    ];
    for (const path of theirs) {
      for (const p of ["member", "service"] as const) {
        const res = await w.cp.api(path, { key: w.who[p].key });
        expect(res.status, `${p} GET ${path}`).toBe(404);
        expect(res.text).not.toContain(recordingMarker("other"));
        expect(res.body.error.code).toMatch(/not_found$/);
        expect(res.text).not.toContain("other@example.test");
      }
      expect((await w.cp.api(path, { key: w.who.other.key })).status, `owner GET ${path}`).toBe(200);
    }
    const events = await w.cp.api(`/api/v1/sessions/${s.sessions.other}/events`, { key: w.who.other.key });
    expect(JSON.stringify(events.body.items)).toContain(recordingMarker("other"));
    const cast = await w.cp.api(`/api/v1/sessions/${s.sessions.other}/cast`, { key: w.who.other.key });
    expect(cast.text).toContain(recordingMarker("other"));

    const lists = ["/api/v1/sessions", "/api/v1/reviews", "/api/v1/ssh-keys"];
    for (const path of lists) {
      const mine = await w.cp.api(path, { key: w.who.member.key });
      expect(mine.status).toBe(200);
      expect(mine.body.items.length, path).toBeGreaterThan(0);
      expect(
        mine.body.items.every(
          (i: { user?: { id: string }; requester?: { id: string }; userId?: string }) =>
            (i.user?.id ?? i.requester?.id ?? i.userId) === w.who.member.id,
        ),
        path,
      ).toBe(true);
    }
    const keysOfOther = await w.cp.api(`/api/v1/ssh-keys?user=${w.who.other.id}`, { key: w.who.member.key });
    expect(keysOfOther.status).toBe(404);
    const revoke = await w.cp.api(`/api/v1/users/${w.who.member.id}/api-keys/${s.apiKeys.other}`, {
      method: "DELETE",
      key: w.who.member.key,
    });
    expect(revoke.status, "another member's key under one's own user").toBe(404);
    const stillThere = await w.cp.api(`/api/v1/users/${w.who.other.id}/api-keys`);
    expect(stillThere.body.items.find((k: { id: string }) => k.id === s.apiKeys.other)?.revokedAt).toBeNull();
  });

  it("answer a foreign id exactly as a missing one: same status, code and message", async () => {
    const normalize = (text: string) =>
      text
        .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, "<id>")
        .replace(/\S+@example\.test/g, "<ref>");
    const owned = Object.entries(matrix)
      .filter(([, r]) => r.foreign !== undefined)
      .map(([op]) => op);
    const differ: string[] = [];
    for (const op of owned) {
      for (const caller of ["member", "service"] as const) {
        const rule = matrix[op];
        if (!rule || expectedStatus(rule, caller, "foreign") !== 404) continue;
        const foreign = await call({ op, caller, target: "foreign" }, { live: false });
        const missing = await call({ op, caller, target: "missing" });
        if (foreign.status !== 404 || normalize(foreign.text) !== normalize(missing.text))
          differ.push(
            `${caller} ${op}: foreign ${foreign.status} ${foreign.text} / missing ${missing.status} ${missing.text}`,
          );
      }
    }
    const byEmail = (email: string) => w.cp.api(`/api/v1/users/${email}/api-keys`, { key: w.who.member.key });
    const [known, unknown] = [await byEmail("other@example.test"), await byEmail("nobody@example.test")];
    if (normalize(known.text) !== normalize(unknown.text) || known.status !== 404)
      differ.push(
        `member GET /users/<email>/api-keys: ${known.status} ${known.text} / ${unknown.status} ${unknown.text}`,
      );
    expect(differ).toEqual([]);
  });
});

describe("a connection of a group the caller is not in", () => {
  it("does not exist for members wherever they name it, and is refused (not hidden) for an auditor", async () => {
    const m = w.who.member.key;
    const get = await w.cp.api("/api/v1/connections/finance-db", { key: m });
    const byId = await w.cp.api(`/api/v1/connections/${w.shared.financeDb}`, { key: m });
    const session = await w.cp.api("/api/v1/sessions", {
      method: "POST",
      key: m,
      body: { connection: "finance-db" },
    });
    const review = await w.cp.api("/api/v1/reviews", {
      method: "POST",
      key: m,
      body: { connection: "finance-db", durationSeconds: 3600, reason: "curious" },
    });
    const nowhere = await w.cp.api("/api/v1/sessions", {
      method: "POST",
      key: m,
      body: { connection: "no-such-db" },
    });
    for (const res of [get, byId, session, review]) {
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe("connection.not_found");
    }
    expect(session.body.error.message.replace("finance-db", "x")).toBe(
      nowhere.body.error.message.replace("no-such-db", "x"),
    );
    const listed = await w.cp.api("/api/v1/connections", { key: m });
    expect(listed.body.items.map((c: { name: string }) => c.name)).not.toContain("finance-db");
    const sessions = await w.cp.api("/api/v1/sessions?connection=finance-db", { key: m });
    expect(sessions.body.items).toEqual([]);

    const auditor = await w.cp.api("/api/v1/sessions", {
      method: "POST",
      key: w.who.auditor.key,
      body: { connection: "finance-db" },
    });
    expect(auditor.status).toBe(403);
    expect(auditor.body.error.code).toBe("session.forbidden");
  });
});
