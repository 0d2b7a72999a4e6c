import { readFileSync } from "node:fs";
import { startLinkSimulator } from "../../../apps/agent/src/link/link-simulator.testing";
import { type Stack, startStack } from "./stack";

/**
 * Many agents on one control plane: enrols N agents, links them all from this process
 * (the agent's real link client, one TLS connection each), then measures what an
 * operator would: how long a desired-state change takes to reach every agent, what the
 * control plane's CPU costs while the agents only send heartbeats, and its memory per link.
 */
export interface FanoutOptions {
  agents: number;
  heartbeatSeconds: number;
  /** Seconds over which idle CPU is measured, with and without the agents. */
  idleSeconds: number;
  /** Desired-state changes timed, alternately a new connection and a policy edit. */
  rounds: number;
  log?: (line: string) => void;
}

export interface Spread {
  p50: number;
  p99: number;
  max: number;
}

export interface FanoutResult {
  agents: number;
  heartbeatSeconds: number;
  enrolMs: number;
  connectMs: number;
  rounds: { change: string; ms: Spread }[];
  fanout: Spread;
  cpu: { withoutAgentsPercent: number; withAgentsPercent: number; windowSeconds: number };
  rss: { withoutAgentsMb: number; withAgentsMb: number; perLinkKb: number };
}

export function spread(values: number[]): Spread {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? 0;
  return { p50: at(0.5), p99: at(0.99), max: s.at(-1) ?? 0 };
}

/** User + system CPU seconds a process has used, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb) / 1024;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function cpuPercent(pid: number, seconds: number): Promise<number> {
  const before = cpuSeconds(pid);
  const started = Date.now();
  await sleep(seconds * 1000);
  return ((cpuSeconds(pid) - before) / ((Date.now() - started) / 1000)) * 100;
}

async function enrol(stack: Stack, n: number): Promise<{ name: string; token: string }[]> {
  const out: { name: string; token: string }[] = [];
  const names = Array.from({ length: n }, (_, i) => `sim-${String(i + 1).padStart(4, "0")}`);
  for (let i = 0; i < n; i += 16) {
    const batch = names.slice(i, i + 16);
    const made = await Promise.all(
      batch.map((name) => stack.api("/api/v1/agents", { method: "POST", body: { name } })),
    );
    for (const [j, res] of made.entries()) {
      if (res.status !== 201) throw new Error(`enrolling ${batch[j]}: ${res.text}`);
      out.push({ name: batch[j] as string, token: res.body.enrollmentToken });
    }
  }
  return out;
}

export async function runFanout(opts: FanoutOptions): Promise<FanoutResult> {
  const log = opts.log ?? (() => undefined);
  // The production default for the offline bound, so agents beating every 5 s stay online.
  const stack = await startStack({ controlPlaneEnv: { SLUICE_AGENT_OFFLINE_AFTER_SECONDS: "15" } });
  const pid = stack.cp.proc.child.pid as number;
  let sim: ReturnType<typeof startLinkSimulator> | undefined;
  try {
    await sleep(2000);
    const cpuWithout = await cpuPercent(pid, opts.idleSeconds);
    const rssWithout = rssMb(pid);
    log(`control plane idle without agents: ${cpuWithout.toFixed(1)}% CPU, ${rssWithout.toFixed(0)} MB`);

    let t = Date.now();
    const agents = await enrol(stack, opts.agents);
    const enrolMs = Date.now() - t;
    log(`enrolled ${agents.length} agents in ${enrolMs} ms`);

    t = Date.now();
    sim = startLinkSimulator({
      targets: [`localhost:${stack.cp.grpcPort}`],
      caFile: stack.pki.caFile,
      agents,
      heartbeatMs: opts.heartbeatSeconds * 1000,
    });
    await sim.connected(120_000);
    const connectMs = Date.now() - t;
    log(`${agents.length} links up (snapshot applied) in ${connectMs} ms`);

    // Let the connect burst settle into steady heartbeats before measuring.
    await sleep(Math.max(3, 2 * opts.heartbeatSeconds) * 1000);
    const cpuWith = await cpuPercent(pid, opts.idleSeconds);
    const rssWith = rssMb(pid);
    log(`with ${agents.length} agents beating every ${opts.heartbeatSeconds} s: ${cpuWith.toFixed(1)}% CPU`);

    const policy = await stack.api("/api/v1/policies", { method: "POST", body: { name: "fanout" } });
    if (policy.status !== 201) throw new Error(`policy: ${policy.text}`);
    const policyId = policy.body.id as string;
    await sim.reached((s) => s.state.policies.has(policyId), Date.now(), 30_000);
    const rounds: FanoutResult["rounds"] = [];
    const all: number[] = [];
    for (let r = 0; r < opts.rounds; r++) {
      const marker = `fanout-${r}`;
      const since = Date.now();
      let change: string;
      let ready: Parameters<typeof sim.reached>[0];
      if (r % 2 === 0) {
        change = "connection created";
        const res = await stack.api("/api/v1/connections", {
          method: "POST",
          body: { name: marker, type: "tcp", host: "127.0.0.1", port: 9 },
        });
        if (res.status !== 201) throw new Error(`connection: ${res.text}`);
        ready = (s) => s.connectionByName(marker) !== undefined;
      } else {
        change = "policy edited";
        const res = await stack.api(`/api/v1/policies/${policyId}`, {
          method: "PATCH",
          body: { guardrails: [{ name: marker, statementKinds: ["DROP"] }] },
        });
        if (res.status !== 200) throw new Error(`policy edit: ${res.text}`);
        ready = (s) => s.state.policies.get(policyId)?.guardrailsJson.includes(marker) === true;
      }
      const times = await sim.reached(ready, since, 30_000);
      all.push(...times);
      const ms = spread(times);
      rounds.push({ change, ms });
      log(`${change}: reached all in p50 ${ms.p50} / p99 ${ms.p99} / max ${ms.max} ms`);
      await sleep(500);
    }
    return {
      agents: agents.length,
      heartbeatSeconds: opts.heartbeatSeconds,
      enrolMs,
      connectMs,
      rounds,
      fanout: spread(all),
      cpu: { withoutAgentsPercent: cpuWithout, withAgentsPercent: cpuWith, windowSeconds: opts.idleSeconds },
      rss: {
        withoutAgentsMb: rssWithout,
        withAgentsMb: rssWith,
        perLinkKb: ((rssWith - rssWithout) * 1024) / agents.length,
      },
    };
  } finally {
    sim?.stop();
    await stack.stop();
  }
}
