import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeControlPlane, runAgainst, startFakeControlPlane } from "../../fake-control-plane.testing";
import { agentStartHint } from "../../hints";
import { agentCreateBody, agentUpdateBody } from "./agents";

const agent = { id: "ag_1", name: "eu-1", segment: "eu", labels: { tier: "prod" }, status: "pending" };
const token = "sat_0123456789abcdefghijklmnop";

let cp: FakeControlPlane;
beforeAll(async () => {
  cp = await startFakeControlPlane();
});
afterAll(() => cp.close());

describe("agent bodies", () => {
  it("maps flags to the create and update bodies", () => {
    expect(agentCreateBody("eu-1", { segment: "eu", label: { tier: "prod", zone: "a" } })).toEqual({
      name: "eu-1",
      segment: "eu",
      labels: { tier: "prod", zone: "a" },
    });
    expect(agentCreateBody(undefined, {}, { name: "from-file" })).toEqual({ name: "from-file" });
    expect(() => agentCreateBody(undefined, {})).toThrow("missing <name>");
    expect(agentUpdateBody({ label: { tier: "dev" } })).toEqual({ labels: { tier: "dev" } });
    expect(() => agentUpdateBody({})).toThrow("nothing to update");
  });
});

describe("sluice admin agents", () => {
  it("create prints the one-time token and how to start an agent", async () => {
    cp.route("POST /agents", { status: 201, body: { agent, enrollmentToken: token } });
    const res = await runAgainst(cp, [
      "admin",
      "agents",
      "create",
      "eu-1",
      "--segment",
      "eu",
      "--label",
      "tier=prod",
    ]);
    expect(res.code).toBe(0);
    expect(cp.requests.at(-1)?.body).toEqual({ name: "eu-1", segment: "eu", labels: { tier: "prod" } });
    expect(res.out).toContain("created agent eu-1 (ag_1), status pending");
    expect(res.out).toContain(`  enrollment token: ${token}`);
    expect(res.out).toContain("shown only once");
    expect(res.out).toContain(agentStartHint(token));
  });

  it("create -o json prints the raw response", async () => {
    cp.route("POST /agents", { status: 201, body: { agent, enrollmentToken: token } });
    const res = await runAgainst(cp, ["admin", "agents", "create", "eu-1", "-o", "json"]);
    expect(JSON.parse(res.out)).toEqual({ agent, enrollmentToken: token });
  });

  it("rotate-token prints the new token; revoke prints the agent", async () => {
    cp.route("POST /agents/eu-1/rotate-token", { status: 200, body: { agent, enrollmentToken: token } });
    const rotated = await runAgainst(cp, ["admin", "agents", "rotate-token", "eu-1"]);
    expect(rotated.out).toContain("issued a new token for agent eu-1 (ag_1)");
    expect(rotated.out).toContain(token);

    cp.route("POST /agents/eu-1/revoke", { status: 200, body: { ...agent, status: "revoked" } });
    expect(await runAgainst(cp, ["admin", "agents", "revoke", "eu-1"])).toEqual({
      code: 0,
      out: "revoked agent eu-1 (ag_1)\n",
      err: "",
    });
  });

  it("update sends only the given fields", async () => {
    cp.route("PATCH /agents/eu-1", (req) => ({ status: 200, body: { ...agent, ...(req.body as object) } }));
    const res = await runAgainst(cp, ["admin", "agents", "update", "eu-1", "--segment", "us"]);
    expect(cp.requests.at(-1)?.body).toEqual({ segment: "us" });
    expect(res.out).toContain("updated agent eu-1 (ag_1)");
    expect(res.out).toContain("segment:  us");
  });
});
