import { readFileSync } from "node:fs";
import { credentials } from "@grpc/grpc-js";
import { createLogger } from "@sluice/logger";
import { type AgentLink, createAgentLink } from "./agent-link";
import { StateStore } from "./state-store";

/**
 * Many agents' control links in one process, for scale tests: each is the agent's own
 * link client (Hello, snapshot and change stream, heartbeats, reconnects) over its own
 * TLS connection, with an in-memory state store and no listeners behind it.
 */
export interface SimulatedAgent {
  name: string;
  store: StateStore;
  link: AgentLink;
}

export interface SimulatorOptions {
  /** Control-plane gRPC addresses, as SLUICE_CONTROL_PLANE_GRPC lists them. */
  targets: string[];
  caFile: string;
  agents: { name: string; token: string }[];
  heartbeatMs: number;
}

export interface LinkSimulator {
  agents: SimulatedAgent[];
  /** Resolves once every agent has applied a snapshot. */
  connected(timeoutMs: number): Promise<void>;
  /**
   * Resolves with each agent's time (ms since `since`) to hold a state for which
   * `ready` is true, once all have it; rejects after `timeoutMs` naming how many did.
   */
  reached(ready: (store: StateStore) => boolean, since: number, timeoutMs: number): Promise<number[]>;
  stop(): void;
}

export function startLinkSimulator(opts: SimulatorOptions): LinkSimulator {
  const creds = credentials.createSsl(readFileSync(opts.caFile));
  const logger = createLogger({ name: "simulated-agent", level: "silent" });
  const agents = opts.agents.map((a, i): SimulatedAgent => {
    const store = new StateStore(undefined);
    store.setMaxListeners(0);
    const link = createAgentLink({
      targets: opts.targets,
      credentials: creds,
      // One connection per agent, as separate agent processes would have.
      channelOptions: { "grpc.use_local_subchannel_pool": 1 },
      token: a.token,
      store,
      logger,
      heartbeatMs: opts.heartbeatMs,
      activeSessions: () => 0,
      hello: () => ({
        agentVersion: "0.1.0-simulated",
        capabilities: ["postgres", "tunnel"],
        endpoints: [{ protocol: "postgres", host: "127.0.0.1", port: 20_000 + i }],
      }),
    });
    link.start();
    return { name: a.name, store, link };
  });

  function reached(ready: (s: StateStore) => boolean, since: number, timeoutMs: number): Promise<number[]> {
    return new Promise((resolve, reject) => {
      const times = new Array<number>(agents.length).fill(-1);
      let left = agents.length;
      const cleanups: (() => void)[] = [];
      const finish = (err?: Error) => {
        clearTimeout(timer);
        for (const c of cleanups) c();
        if (err) reject(err);
        else resolve(times);
      };
      const timer = setTimeout(
        () => finish(new Error(`${agents.length - left} of ${agents.length} agents within ${timeoutMs} ms`)),
        timeoutMs,
      );
      agents.forEach((a, i) => {
        const check = () => {
          if (times[i] !== -1 || !ready(a.store)) return;
          times[i] = Date.now() - since;
          left -= 1;
          if (left === 0) finish();
        };
        a.store.on("change", check);
        cleanups.push(() => a.store.off("change", check));
        check();
      });
    });
  }

  return {
    agents,
    async connected(timeoutMs) {
      await reached((s) => s.state.syncedAt > 0, Date.now(), timeoutMs);
    },
    reached,
    stop() {
      for (const a of agents) a.link.stop();
    },
  };
}
