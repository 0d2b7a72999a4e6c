import { readFileSync } from "node:fs";
import { join } from "node:path";
import { eventually } from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, type Stack, startStack } from "./stack";

let stack: Stack;
let agent: AgentProcess;

function cachedConnectionNames(a: AgentProcess): string[] {
  try {
    const state = JSON.parse(readFileSync(join(a.stateDir, "desired-state.json"), "utf8"));
    return state.connections.map((c: { name: string }) => c.name).sort();
  } catch {
    return [];
  }
}

const tcpConn = (name: string) => ({ name, type: "tcp", host: "127.0.0.1", port: 9 });

beforeAll(async () => {
  stack = await startStack();
  agent = await stack.startAgent("edge");
}, 90_000);
afterAll(async () => {
  await stack?.stop();
});

describe("agent link across processes", () => {
  it("delivers a connection created through the API to the running agent within a second", async () => {
    const started = Date.now();
    expect((await stack.api("/api/v1/connections", { method: "POST", body: tcpConn("first") })).status).toBe(
      201,
    );
    await eventually(() => cachedConnectionNames(agent).includes("first"), 5000, 20);
    expect(Date.now() - started).toBeLessThan(1000);
    const listed = await stack.api("/api/v1/agents/edge");
    expect(listed.body).toMatchObject({
      status: "online",
      version: "0.1.0",
      capabilities: expect.arrayContaining(["postgres"]),
      // The agent listens on port 0 here and announces the port the system gave it.
      endpoints: expect.arrayContaining([{ protocol: "postgres", host: "127.0.0.1", port: agent.pgPort }]),
    });
    expect(agent.pgPort).toBeGreaterThan(0);
  });

  it("reconnects after a control-plane restart and receives the changes made meanwhile", async () => {
    const ports = {
      SLUICE_API_PORT: stack.cp.env.SLUICE_API_PORT as string,
      SLUICE_GRPC_PORT: String(stack.cp.grpcPort),
    };
    await stack.cp.proc.stop("SIGKILL");
    // Another replica on the same database takes a change while the agent's replica is down.
    const other = await stack.startControlPlane();
    const res = await fetch(`${other.apiUrl}/api/v1/connections`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": "application/json" },
      body: JSON.stringify(tcpConn("made-while-down")),
    });
    expect(res.status).toBe(201);
    await other.proc.stop();
    // The agent keeps serving from its cached state meanwhile.
    expect(cachedConnectionNames(agent)).toEqual(["first"]);

    stack.cp = await stack.startControlPlane(ports);
    await eventually(() => cachedConnectionNames(agent).includes("made-while-down"), 30_000, 100);
    expect(stack.cp.proc.output()).toMatch(/"mode":"delta"/);
    expect(cachedConnectionNames(agent)).toEqual(["first", "made-while-down"]);
  }, 90_000);

  it("disconnects a revoked agent at once and the agent stops", async () => {
    const revoked = await stack.api("/api/v1/agents/edge/revoke", { method: "POST" });
    expect(revoked.body.status).toBe("revoked");
    const code = await Promise.race([
      agent.proc.exited,
      new Promise((r) => setTimeout(() => r("timeout"), 5000)),
    ]);
    expect(code).toBe(3);
    expect(agent.proc.output()).toMatch(/agent credential revoked/);
  }, 30_000);
});
