import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeControlPlane, runAgainst, startFakeControlPlane } from "../fake-control-plane.testing";

let cp: FakeControlPlane;
beforeAll(async () => {
  cp = await startFakeControlPlane();
});
afterAll(() => cp.close());

const session = {
  id: "s-1",
  user: { id: "u1", name: "ada", kind: "human" },
  connection: { id: "c1", name: "pg-prod", type: "postgres" },
  agent: { id: "a1", name: "eu-1" },
  protocol: "postgres",
  status: "closed",
  clientAddress: "10.0.0.5",
  reason: "ticket 7",
  endReason: "client closed",
  bytesIn: 120,
  bytesOut: 3400,
  startedAt: "2025-01-02T03:04:05.000Z",
  endedAt: "2025-01-02T03:04:09.000Z",
};

const at = (s: number) => new Date(Date.UTC(2025, 0, 2, 3, 4, 5) + s * 1000).toISOString();
const events = [
  {
    seq: 1,
    at: at(0),
    kind: "session.start",
    payload: {
      connection: "pg-prod",
      database: "app",
      user: "app_ro",
      clientAddress: "10.0.0.5",
      identity: "ada",
    },
  },
  {
    seq: 2,
    at: at(0.1),
    kind: "pg.statement",
    payload: { kind: "query", text: "select id, email from users" },
  },
  {
    seq: 3,
    at: at(0.2),
    kind: "pg.result",
    payload: {
      columns: [
        { name: "id", typeOid: 23 },
        { name: "email", typeOid: 25 },
      ],
      rows: [
        ["1", "a***@x.io"],
        ["2", null],
      ],
      rowCount: 250,
      truncated: true,
      command: "SELECT 250",
      durationMs: 3.456,
    },
  },
  { seq: 4, at: at(1), kind: "ssh.output", payload: { data: "ignored" } },
  {
    seq: 5,
    at: at(1.5),
    kind: "pg.statement",
    payload: { kind: "execute", text: "update t set x = $1", params: ["5"], statementName: "s1" },
  },
  {
    seq: 6,
    at: at(1.6),
    kind: "pg.result",
    payload: { rows: [], rowCount: 3, truncated: false, command: "UPDATE 3", durationMs: 12 },
  },
  { seq: 7, at: at(2), kind: "pg.statement", payload: { kind: "query", text: "select *\nfrom nope" } },
  {
    seq: 8,
    at: at(2.1),
    kind: "pg.result",
    payload: {
      rows: [],
      rowCount: 0,
      truncated: false,
      durationMs: 1,
      error: { code: "42P01", message: 'relation "nope" does not exist' },
    },
  },
  { seq: 9, at: at(2.2), kind: "pg.notice", payload: { message: "hello" } },
  {
    seq: 10,
    at: at(4),
    kind: "session.end",
    payload: { reason: "client closed", bytesIn: 120, bytesOut: 3400 },
  },
];

function routeEvents(pageSize: number) {
  cp.route("GET /sessions/s-1", { status: 200, body: session });
  for (let after = 0; after < events.length; after += pageSize) {
    const items = events.slice(after, after + pageSize);
    const next = after + pageSize < events.length ? after + pageSize : null;
    const key =
      after === 0
        ? "GET /sessions/s-1/events?limit=500"
        : `GET /sessions/s-1/events?limit=500&after=${after}`;
    cp.route(key, { status: 200, body: { items, nextAfter: next } });
  }
}

describe("sluice sessions", () => {
  it("lists sessions with filters", async () => {
    cp.route("GET /sessions?connection=pg-prod&status=closed&limit=5", {
      status: 200,
      body: { items: [session] },
    });
    const res = await runAgainst(cp, [
      "sessions",
      "list",
      "--connection",
      "pg-prod",
      "--status",
      "closed",
      "--limit",
      "5",
    ]);
    expect(res.err).toBe("");
    expect(res.out.split("\n")[0]).toMatch(/^ID\s+STATUS\s+CONNECTION\s+USER\s+AGENT\s+PROTOCOL\s+STARTED/);
    expect(res.out.split("\n")[1]).toMatch(
      /^s-1\s+closed\s+pg-prod\s+ada\s+eu-1\s+postgres\s+2025-01-02 03:04:05Z\s+2025-01-02 03:04:09Z\s+120\s+3400\s+ticket 7$/,
    );
  });

  it("shows which MCP client started a session once any session names one", async () => {
    const viaMcp = { ...session, id: "s-2", client: { via: "mcp", name: "claude-code", version: "2.1.0" } };
    cp.route("GET /sessions", { status: 200, body: { items: [viaMcp, { ...session, client: null }] } });
    const res = await runAgainst(cp, ["sessions", "list"]);
    expect(res.err).toBe("");
    const [header, first, second] = res.out.split("\n");
    expect(header).toMatch(/\sPROTOCOL\s+VIA\s+STARTED\s/);
    expect(first).toMatch(/\spostgres\s+mcp \(claude-code 2\.1\.0\)\s+2025-01-02/);
    expect(second).toMatch(/\spostgres\s+-\s+2025-01-02/);
  });

  it("shows a session with its event count, following every page", async () => {
    routeEvents(4);
    const res = await runAgainst(cp, ["sessions", "show", "s-1"]);
    expect(res.out).toContain("connection:     pg-prod\n");
    expect(res.out).toContain("user:           ada\n");
    expect(res.out).toContain("events:         10\n");
    const json = await runAgainst(cp, ["sessions", "show", "s-1", "-o", "json"]);
    expect(JSON.parse(json.out)).toMatchObject({ id: "s-1", eventCount: 10, user: { name: "ada" } });
  });

  it("replays statements and results in order, skipping kinds it cannot show", async () => {
    routeEvents(3);
    const res = await runAgainst(cp, ["sessions", "replay", "s-1", "--no-timing"]);
    expect(res.code).toBe(0);
    expect(res.out).toBe(
      [
        "session s-1: ada on pg-prod via eu-1 (postgres, closed), started 2025-01-02 03:04:05Z, 10 events",
        "[03:04:05.000] session started: ada on pg-prod/app from 10.0.0.5",
        "[03:04:05.100] query: select id, email from users",
        " id | email",
        "----+-----------",
        " 1  | a***@x.io",
        " 2  |",
        "(truncated: 2 of 250 rows recorded)",
        "(250 rows, 3.46 ms)",
        "[03:04:06.500] execute s1: update t set x = $1",
        '  params: ["5"]',
        "UPDATE 3 (12 ms)",
        "[03:04:07.000] query:",
        "  select *",
        "  from nope",
        'ERROR: relation "nope" does not exist (SQLSTATE 42P01) [1 ms]',
        "[03:04:07.200] NOTICE: hello",
        "[03:04:09.000] session ended: client closed, bytes in 120, out 3400",
        "",
      ].join("\n"),
    );
    expect(res.err).toBe("skipped events this CLI cannot show: ssh.output ×1\n");
  });

  it("waits the recorded gaps divided by --speed", async () => {
    routeEvents(500);
    const started = Date.now();
    const res = await runAgainst(cp, ["sessions", "replay", "s-1", "--speed", "4"]);
    const elapsed = Date.now() - started;
    expect(res.code).toBe(0);
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(3000);
  });

  it("prints the raw events with -o json and rejects a bad --speed", async () => {
    routeEvents(500);
    const res = await runAgainst(cp, ["-o", "json", "sessions", "replay", "s-1"]);
    expect(JSON.parse(res.out)).toEqual(events);
    const bad = await runAgainst(cp, ["sessions", "replay", "s-1", "--speed", "0"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("must be a number above 0");
  });
});
