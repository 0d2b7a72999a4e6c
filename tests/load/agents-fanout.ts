/**
 * Load scenario: many agents linked to one control plane.
 *
 *   node --import tsx tests/load/agents-fanout.ts --agents 1000 [--heartbeat-seconds 5]
 *        [--idle-seconds 20] [--rounds 6] [--json]
 *
 * Needs the local PostgreSQL and Redis the e2e suite uses. Prints the figures as a
 * Markdown table (or JSON with --json).
 */
import { parseArgs } from "node:util";
import { type FanoutResult, runFanout } from "../e2e/src/fanout";

const { values } = parseArgs({
  options: {
    agents: { type: "string", default: "1000" },
    "heartbeat-seconds": { type: "string", default: "5" },
    "idle-seconds": { type: "string", default: "20" },
    rounds: { type: "string", default: "6" },
    json: { type: "boolean", default: false },
  },
});

function table(r: FanoutResult): string {
  const ms = (s: { p50: number; p99: number; max: number }) => `${s.p50} / ${s.p99} / ${s.max}`;
  return [
    `| measure (${r.agents} agents, heartbeat every ${r.heartbeatSeconds} s) | value |`,
    "| --- | --- |",
    `| enrol ${r.agents} agents through the API (16 at a time) | ${(r.enrolMs / 1000).toFixed(1)} s |`,
    `| all links up, snapshot applied (connect storm) | ${(r.connectMs / 1000).toFixed(1)} s |`,
    ...r.rounds.map(
      (x, i) => `| change ${i + 1}, ${x.change}: reached all, p50 / p99 / max | ${ms(x.ms)} ms |`,
    ),
    `| every change, all agents: p50 / p99 / max | ${ms(r.fanout)} ms |`,
    `| control-plane CPU, idle, no agents (${r.cpu.windowSeconds} s) | ${r.cpu.withoutAgentsPercent.toFixed(1)} % of one core |`,
    `| control-plane CPU, idle, ${r.agents} agents heartbeating | ${r.cpu.withAgentsPercent.toFixed(1)} % of one core |`,
    `| control-plane RSS without / with the links | ${r.rss.withoutAgentsMb.toFixed(0)} / ${r.rss.withAgentsMb.toFixed(0)} MB |`,
    `| control-plane RSS per agent link | ${r.rss.perLinkKb.toFixed(0)} KB |`,
  ].join("\n");
}

const result = await runFanout({
  agents: Number(values.agents),
  heartbeatSeconds: Number(values["heartbeat-seconds"]),
  idleSeconds: Number(values["idle-seconds"]),
  rounds: Number(values.rounds),
  log: (line) => process.stderr.write(`${line}\n`),
});
process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : `${table(result)}\n`);
process.exit(0);
