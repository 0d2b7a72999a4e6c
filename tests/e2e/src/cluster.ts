import { eventually } from "@sluice/testkit";
import {
  type AgentProcess,
  type ApiResult,
  apiRequest,
  type ControlPlaneProcess,
  type Stack,
  startStack,
} from "./stack";

/**
 * Several control-plane replicas over one PostgreSQL database and one Redis prefix, and
 * agents that know every replica: the deployment Sluice documents for high availability,
 * as processes. Replica `i` runs with SLUICE_REPLICA_ID `cp-<i+1>`.
 */
export interface Replica extends ControlPlaneProcess {
  id: string;
  alive: boolean;
}

export interface Cluster {
  /** The underlying stack: its `api` and `startAgent` use a live replica. */
  stack: Stack;
  replicas: Replica[];
  agents: AgentProcess[];
  /** A REST call to one replica (admin key unless told otherwise). */
  api(
    replica: number,
    path: string,
    init?: { method?: string; body?: unknown; key?: string | null },
  ): Promise<ApiResult>;
  /**
   * Starts an agent given every replica's address, `prefer` first and the others after
   * it in turn, so agents given different preferences spread over the replicas.
   */
  startAgent(name: string, opts?: { prefer?: number; env?: Record<string, string> }): Promise<AgentProcess>;
  /** The replica an agent's link is on, as the control plane records it. */
  linkedReplica(agent: string): Promise<string | null>;
  /** Waits until an agent is online on `replica` (after a failover, say). */
  waitLinked(agent: string, replica: number, timeoutMs?: number): Promise<void>;
  /** kill -9 of one replica; the stack's own calls move to a live one. */
  kill(replica: number): Promise<void>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  replicas: number;
  /** Agents named `agent-1`…, agent i preferring replica i mod N. */
  agents?: number;
  /** Settings for every replica. */
  env?: Record<string, string>;
  /** Settings for every agent. */
  agentEnv?: Record<string, string>;
}

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const stack = await startStack({ controlPlaneEnv: { SLUICE_REPLICA_ID: "cp-1", ...opts.env } });
  const replicas: Replica[] = [{ ...stack.cp, id: "cp-1", alive: true }];
  try {
    // The first replica bootstrapped the admin; the others join the same database.
    const more = await Promise.all(
      Array.from({ length: opts.replicas - 1 }, (_, i) =>
        stack.startControlPlane({ SLUICE_REPLICA_ID: `cp-${i + 2}` }),
      ),
    );
    for (const [i, cp] of more.entries()) replicas.push({ ...cp, id: `cp-${i + 2}`, alive: true });
  } catch (err) {
    await stack.stop();
    throw err;
  }

  const agents: AgentProcess[] = [];
  const cluster: Cluster = {
    stack,
    replicas,
    agents,
    api(replica, path, init = {}) {
      const r = replicas[replica];
      if (!r) throw new Error(`no replica ${replica}`);
      return apiRequest(r.apiUrl, init.key === undefined ? stack.adminKey : init.key, path, init);
    },
    async startAgent(name, agentOpts = {}) {
      const prefer = agentOpts.prefer ?? 0;
      const order = replicas.map((_, i) => replicas[(prefer + i) % replicas.length] as Replica);
      const agent = await stack.startAgent(name, {
        SLUICE_CONTROL_PLANE_GRPC: order.map((r) => `localhost:${r.grpcPort}`).join(","),
        ...opts.agentEnv,
        ...agentOpts.env,
      });
      agents.push(agent);
      return agent;
    },
    async linkedReplica(agent) {
      const res = await stack.api(`/api/v1/agents/${agent}`);
      return res.body?.status === "online" ? (res.body.connectedReplica as string | null) : null;
    },
    async waitLinked(agent, replica, timeoutMs = 20_000) {
      const id = replicas[replica]?.id;
      await eventually(async () => (await cluster.linkedReplica(agent)) === id, timeoutMs, 100);
    },
    async kill(replica) {
      const r = replicas[replica];
      if (!r) throw new Error(`no replica ${replica}`);
      await r.proc.stop("SIGKILL");
      r.alive = false;
      const live = replicas.find((x) => x.alive);
      if (live && stack.cp.apiUrl === r.apiUrl) stack.cp = live;
    },
    stop: () => stack.stop(),
  };
  try {
    for (let i = 0; i < (opts.agents ?? 0); i++) {
      await cluster.startAgent(`agent-${i + 1}`, { prefer: i % replicas.length });
    }
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return cluster;
}
