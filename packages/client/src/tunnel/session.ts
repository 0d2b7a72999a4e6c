import { z } from "zod";
import type { ApiClient } from "../api-client";
import { CliError } from "../errors";
import { expectShape } from "../shape";
import { type OpenedTunnel, openTunnel } from "./open-tunnel";

const endpointSchema = z.looseObject({
  protocol: z.string(),
  host: z.string(),
  port: z.number().int(),
});

const startedSchema = z.looseObject({
  session: z.looseObject({
    id: z.string(),
    user: z.looseObject({ name: z.string() }).nullish(),
  }),
  grant: z.string().min(1),
  expiresAt: z.string(),
  agent: z.looseObject({
    id: z.string(),
    name: z.string(),
    endpoints: z.array(endpointSchema),
  }),
  connection: z.looseObject({
    name: z.string(),
    type: z.string(),
    database: z.string().nullish(),
  }),
});

export type StartedSession = z.infer<typeof startedSchema>;
export type AgentEndpoint = z.infer<typeof endpointSchema>;

/** The program starting a session, recorded with it (`via: "mcp"` for `sluice mcp`). */
export interface SessionClient {
  via: string;
  name?: string;
  version?: string;
}

/** Asks the control plane for a session on `connection`: an agent to reach and a grant for it. */
export async function startSession(
  client: ApiClient,
  connection: string,
  reason?: string,
  via?: SessionClient,
): Promise<StartedSession> {
  const body = { connection, ...(reason ? { reason } : {}), ...(via ? { client: via } : {}) };
  return expectShape(startedSchema, await client.post("/sessions", body), "a session with a grant");
}

/** The PEM of the CA that issues agents' TLS certificates. */
export async function fetchAgentCa(client: ApiClient): Promise<string> {
  const ca = expectShape(z.looseObject({ caPem: z.string().min(1) }), await client.get("/ca"), "a CA");
  return ca.caPem;
}

/** The agent's tunnel endpoint; an agent without one cannot be reached by `connect`/`exec`. */
export function tunnelEndpoint(started: StartedSession): AgentEndpoint {
  const endpoint = started.agent.endpoints.find((e) => e.protocol === "tunnel");
  if (!endpoint) {
    throw new CliError(`agent ${started.agent.name} has no tunnel endpoint; it cannot carry this session`);
  }
  return endpoint;
}

/** A user name for the Postgres StartupMessage; the agent ignores it and uses the grant's identity. */
export function startupUser(started: StartedSession): string {
  const name = started.session.user?.name ?? "";
  return /^[\w.@-]+$/.test(name) ? name : "sluice";
}

/** One TLS tunnel to the session's agent, opened with the session's grant. */
export function openSessionTunnel(started: StartedSession, caPem: string): Promise<OpenedTunnel> {
  const endpoint = tunnelEndpoint(started);
  return openTunnel({
    agentName: started.agent.name,
    host: endpoint.host,
    port: endpoint.port,
    caPem,
    connection: started.connection.name,
    grant: started.grant,
  });
}
