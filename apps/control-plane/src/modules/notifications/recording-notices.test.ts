import { eventually } from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestControlPlane, type TestControlPlane } from "../../testing/control-plane.testing";
import {
  type AgentFixture,
  recordingEvent as ev,
  setUpAgentFixture,
  startTestReceiver,
  type TestReceiver,
} from "./notifications.testing";

let cp: TestControlPlane;
let fx: AgentFixture;
const receivers: TestReceiver[] = [];

async function channel(name: string, extra: Record<string, unknown> = {}): Promise<TestReceiver> {
  const r = await startTestReceiver();
  receivers.push(r);
  const res = await cp.api("/api/v1/notification-channels", {
    method: "POST",
    body: { name, kind: "webhook", url: r.url, ...extra },
  });
  expect(res.status, res.text).toBe(201);
  return r;
}

const denied = (statement: string) => ({
  decision: "denied",
  rule: "no-drop",
  policyId: "5b0c7c36-8f43-4c38-9d0c-8d86a0bfe1a5",
  policy: "prod-guard",
  statement,
  statementHash: "ab12",
});

beforeAll(async () => {
  cp = await startTestControlPlane({ SLUICE_NOTIFY_BACKOFF_MS: "50", SLUICE_NOTIFY_TIMEOUT_MS: "1000" });
  fx = await setUpAgentFixture(cp);
});
afterAll(async () => {
  fx?.close();
  await Promise.all(receivers.map((r) => r.close()));
  await cp?.stop();
});

describe("notifications from uploaded recordings", () => {
  it("publish session start and end and each guardrail denial once, to the channels whose filter matches", async () => {
    const all = await channel("everything");
    const guard = await channel("guardrails", { events: ["guardrail.violated"] });
    const ends = await channel("session-ends", { events: ["session.ended"] });
    const off = await channel("switched-off", { enabled: false });
    const sid = await fx.startSession();
    const first = {
      sessionId: sid,
      events: [
        ev(1, "session.start", { clientAddress: "127.0.0.1" }),
        ev(2, "pg.statement", { text: "select 1" }),
        ev(3, "policy", denied("DROP TABLE users")),
        ev(4, "policy", { decision: "held", rule: "review-updates", statement: "UPDATE t SET x = 1" }),
      ],
    };
    const second = {
      sessionId: sid,
      events: [
        ev(5, "policy", { decision: "masked", rule: "emails", statement: "select email from users" }),
        ev(6, "policy", denied("TRUNCATE audit")),
        ev(7, "session.end", { reason: "client closed", bytesIn: 1, bytesOut: 2 }),
      ],
    };
    // The first batch is sent again, as an agent does after a reconnect.
    await fx.upload([first, first, second]);
    await fx.upload([second]);

    await eventually(
      () => all.received.length >= 4 && guard.received.length >= 2 && ends.received.length >= 1,
    );
    await new Promise((r) => setTimeout(r, 500)); // nothing more arrives
    const events = (r: TestReceiver) => r.received.map((x) => String(x.headers["sluice-event"])).sort();
    expect(events(all)).toEqual([
      "guardrail.violated",
      "guardrail.violated",
      "session.ended",
      "session.started",
    ]);
    expect(events(guard)).toEqual(["guardrail.violated", "guardrail.violated"]);
    expect(events(ends)).toEqual(["session.ended"]);
    expect(off.received).toEqual([]);

    const base = { sessionId: sid, connection: "app-db", user: "Dana Dev" };
    const statements = guard.received.map((r) => r.json.data.statement).sort();
    expect(statements).toEqual(["DROP TABLE users", "TRUNCATE audit"]);
    expect(guard.received[0]?.json.data).toMatchObject({ ...base, rule: "no-drop", policy: "prod-guard" });
    expect(all.ofEvent("session.started")[0]?.json.data).toMatchObject({ ...base, protocol: "postgres" });
    expect(ends.received[0]?.json.data).toMatchObject({
      ...base,
      protocol: "postgres",
      reason: "client closed",
    });
  });

  it("send a readable Slack message for a guardrail violation", async () => {
    const slack = await startTestReceiver();
    receivers.push(slack);
    await cp.api("/api/v1/notification-channels", {
      method: "POST",
      body: {
        name: "slack",
        kind: "slack",
        url: `${slack.url}/services/T1/B1/tok`,
        events: ["guardrail.violated"],
      },
    });
    const sid = await fx.startSession();
    await fx.upload([{ sessionId: sid, events: [ev(1, "policy", denied("DROP TABLE <users> & `x`"))] }]);
    await eventually(() => slack.received.length === 1);
    const body = slack.received[0]?.json;
    expect(Object.keys(body).sort()).toEqual(["blocks", "text"]);
    expect(body.text).toBe(
      "Guardrail blocked a statement by Dana Dev on app-db: rule no-drop (policy prod-guard)",
    );
    expect(body.blocks[0].text.text).toContain(
      ":no_entry: *Guardrail blocked a statement* by Dana Dev on `app-db`",
    );
    expect(body.blocks[0].text.text).toContain("*Rule:* `no-drop` in policy `prod-guard`");
    expect(body.blocks[1]).toEqual({
      type: "section",
      text: { type: "mrkdwn", text: "```DROP TABLE &lt;users&gt; &amp; `x````" },
    });
  });
});
