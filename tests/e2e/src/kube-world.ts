import { type FakeKube, startFakeKubeApiServer } from "@sluice/testkit";
import { expect } from "vitest";
import { type AgentProcess, type Stack, startStack } from "./stack";

export interface KubeWorld {
  stack: Stack;
  fake: FakeKube;
  agent: AgentProcess;
  /** An API key of dev@example.com (group eng, allowed on the connection). */
  devKey: string;
  /** The CA of the agent's listener certificate. */
  agentCa: string;
}

/**
 * A control plane, a fake API server (`seed` fills it before anything connects), a
 * kubernetes connection to it whose credential only the agent holds, the given policy on
 * it, and an agent serving it: the world the Kubernetes end-to-end suites share.
 */
export async function startKubeWorld(opts: {
  connection: string;
  policy: Record<string, unknown>;
  seed: (fake: FakeKube) => void;
  groups?: string[];
}): Promise<KubeWorld> {
  const fake = await startFakeKubeApiServer();
  opts.seed(fake);
  const stack = await startStack();
  for (const name of ["eng", ...(opts.groups ?? [])]) {
    await stack.api("/api/v1/groups", { method: "POST", body: { name } });
  }
  const devKey = await stack.userKey("dev@example.com", ["eng"]);
  const policy = await stack.api("/api/v1/policies", { method: "POST", body: opts.policy });
  expect(policy.status, policy.text).toBe(201);
  const conn = await stack.api("/api/v1/connections", {
    method: "POST",
    body: {
      name: opts.connection,
      type: "kubernetes",
      host: "127.0.0.1",
      port: fake.port,
      credentialRef: "env:E2E_KUBE_TOKEN",
      tls: { mode: "verify-full", caPem: fake.caPem },
      allowedGroups: ["eng"],
      policyIds: [policy.body.id],
    },
  });
  expect(conn.status, conn.text).toBe(201);
  const agentCa = (await stack.api("/api/v1/ca")).body.caPem as string;
  const agent = await stack.startAgent("kube-edge", { E2E_KUBE_TOKEN: fake.token });
  await agent.proc.waitForOutput(/kubernetes listener ready/, 30_000);
  return { stack, fake, agent, devKey, agentCa };
}
