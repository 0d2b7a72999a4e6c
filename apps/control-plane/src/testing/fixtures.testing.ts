import type { Metadata as MetadataType, ServiceError } from "@grpc/grpc-js";
import { Metadata } from "@grpc/grpc-js";
import type { AgentServiceClient, ControlMessage } from "@sluice/proto";
import { eventually } from "@sluice/testkit";
import type { TestControlPlane } from "./control-plane.testing";

/** Users, groups and linked agents for control-plane tests, created through the real API and gRPC. */

export function agentMetadata(token: string): MetadataType {
  const m = new Metadata();
  m.set("authorization", `Bearer ${token}`);
  return m;
}

export interface TestUser {
  id: string;
  name: string;
  key: string;
}

export async function createUser(
  cp: TestControlPlane,
  name: string,
  groups: string[],
  role: "user" | "auditor" | "admin" = "user",
): Promise<TestUser> {
  const u = await cp.api("/api/v1/users", {
    method: "POST",
    body: { name, email: `${name}@example.test`, role, groups },
  });
  if (u.status !== 201) throw new Error(`create user ${name}: ${u.text}`);
  const k = await cp.api(`/api/v1/users/${u.body.id}/api-keys`, { method: "POST", body: { name: "k" } });
  return { id: u.body.id, name, key: k.body.secret };
}

export async function createGroups(cp: TestControlPlane, names: string[]): Promise<void> {
  for (const name of names) await cp.api("/api/v1/groups", { method: "POST", body: { name } });
}

/**
 * Creates the postgres connection `app-db` (127.0.0.1:5432, database and user `app`,
 * password from env:APP_PW) open to `groups`, plus any other fields; returns its id.
 */
export async function createAppDb(
  cp: TestControlPlane,
  groups: string[],
  extra: Record<string, unknown> = {},
): Promise<string> {
  const res = await cp.api("/api/v1/connections", {
    method: "POST",
    body: {
      name: "app-db",
      type: "postgres",
      host: "127.0.0.1",
      port: 5432,
      database: "app",
      username: "app",
      credentialRef: "env:APP_PW",
      allowedGroups: groups,
      ...extra,
    },
  });
  if (res.status !== 201) throw new Error(`create connection app-db: ${res.text}`);
  return res.body.id;
}

export interface TestLink {
  token: string;
  agentId: string;
  messages: ControlMessage[];
  close(): void;
}

/** Registers an agent and links it like a real agent would (Hello, then heartbeats). */
export async function linkAgent(
  fx: { cp: TestControlPlane; grpc: AgentServiceClient },
  name: string,
  segment = "default",
): Promise<TestLink> {
  const created = await fx.cp.api("/api/v1/agents", { method: "POST", body: { name, segment } });
  const token = created.body.enrollmentToken as string;
  const call = fx.grpc.link(agentMetadata(token));
  const messages: ControlMessage[] = [];
  call.on("data", (m: ControlMessage) => messages.push(m));
  call.on("error", () => undefined);
  call.write({
    body: {
      $case: "hello",
      value: {
        agentVersion: "test",
        capabilities: ["postgres"],
        endpoints: [{ protocol: "postgres", host: "127.0.0.1", port: 6432 }],
        resumeVersion: 0,
      },
    },
  });
  // Heartbeats keep the agent online, so sessions can be placed on it.
  const beat = setInterval(() => {
    call.write({
      body: { $case: "heartbeat", value: { activeSessions: 0, stateVersion: 0, spoolBytes: 0 } },
    });
  }, 500);
  const agent = await eventually(async () => {
    const a = await fx.cp.api(`/api/v1/agents/${name}`);
    return a.body.status === "online" ? a.body : undefined;
  });
  return {
    token,
    agentId: agent.id,
    messages,
    close: () => {
      clearInterval(beat);
      call.cancel();
    },
  };
}

/** The EndSession messages an agent's Link received, by session id. */
export function endedSessions(link: TestLink): string[] {
  return link.messages.flatMap((m) => (m.body?.$case === "endSession" ? [m.body.value.sessionId] : []));
}

/** Calls a unary RPC and resolves to its response or its error, whichever comes. */
export function unary<Req, Res>(
  fn: (req: Req, md: MetadataType, cb: (err: ServiceError | null, res: Res) => void) => unknown,
  req: Req,
  token: string,
): Promise<{ res?: Res; err?: ServiceError }> {
  return new Promise((resolve) => {
    fn(req, agentMetadata(token), (err, res) => resolve(err ? { err } : { res }));
  });
}
