import { readFileSync } from "node:fs";
import { type ClientDuplexStream, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import {
  type AgentMessage,
  AgentServiceClient,
  type AuthorizeSessionRequest,
  type AuthorizeSessionResponse,
  type ControlMessage,
} from "@sluice/proto";
import { eventually } from "@sluice/testkit";
import type { TestControlPlane } from "./control-plane.testing";

export interface FakeAgent {
  id: string;
  token: string;
  client: AgentServiceClient;
  metadata: Metadata;
  /** AuthorizeSession as this agent; rejects with the gRPC ServiceError. */
  authorize(req: Partial<AuthorizeSessionRequest>, deadlineMs?: number): Promise<AuthorizeSessionResponse>;
  close(): void;
}

/**
 * Registers an agent and holds its Link open with heartbeats, speaking the real gRPC
 * protocol, so the control plane brokers sessions to it (for tests of the agent-facing RPCs).
 */
export async function startFakeAgent(
  cp: TestControlPlane,
  name: string,
  endpoints: { protocol: string; host: string; port: number }[],
): Promise<FakeAgent> {
  const created = await cp.api("/api/v1/agents", { method: "POST", body: { name } });
  const token = created.body.enrollmentToken as string;
  const client = new AgentServiceClient(cp.grpcTarget, credentials.createSsl(readFileSync(cp.pki.caFile)));
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  const link: ClientDuplexStream<AgentMessage, ControlMessage> = client.link(metadata);
  link.on("error", () => undefined);
  link.on("data", () => undefined);
  link.write({
    body: {
      $case: "hello",
      value: {
        agentVersion: "test",
        capabilities: endpoints.map((e) => e.protocol),
        endpoints,
        resumeVersion: 0,
      },
    },
  });
  const beat = setInterval(() => {
    link.write({
      body: { $case: "heartbeat", value: { activeSessions: 0, stateVersion: 0, spoolBytes: 0 } },
    });
  }, 1000);
  await eventually(async () => (await cp.api(`/api/v1/agents/${name}`)).body.status === "online", 10_000);
  return {
    id: created.body.id as string,
    token,
    client,
    metadata,
    authorize(req, deadlineMs = 10_000) {
      const full: AuthorizeSessionRequest = {
        credential: "",
        connectionName: "",
        clientAddress: "127.0.0.1",
        protocol: "",
        sshPublicKey: "",
        sshCertificate: "",
        count: 0,
        ...req,
      };
      return new Promise((resolve, reject) =>
        client.authorizeSession(full, metadata, { deadline: Date.now() + deadlineMs }, (err, res) =>
          err ? reject(err as ServiceError) : resolve(res),
        ),
      );
    },
    close() {
      clearInterval(beat);
      link.end();
      client.close();
    },
  };
}

/**
 * A group `apps`, service identities in it (name → API key), a tcp connection `orders` they
 * may use, and a fake agent `edge` serving it: the world the admission tests share.
 */
export async function startAdmissionWorld(
  cp: TestControlPlane,
  services: string[],
): Promise<{ agent: FakeAgent; keys: Record<string, string> }> {
  await cp.api("/api/v1/groups", { method: "POST", body: { name: "apps" } });
  const keys: Record<string, string> = {};
  for (const name of services) {
    const u = await cp.api("/api/v1/users", {
      method: "POST",
      body: { name, email: `${name}@example.com`, role: "user", kind: "service", groups: ["apps"] },
    });
    keys[name] = (
      await cp.api(`/api/v1/users/${u.body.id}/api-keys`, { method: "POST", body: { name: "k" } })
    ).body.secret as string;
  }
  await cp.api("/api/v1/connections", {
    method: "POST",
    body: { name: "orders", type: "tcp", host: "127.0.0.1", port: 9, allowedGroups: ["apps"] },
  });
  const agent = await startFakeAgent(cp, "edge", [{ protocol: "tcp", host: "127.0.0.1", port: 1 }]);
  return { agent, keys };
}
