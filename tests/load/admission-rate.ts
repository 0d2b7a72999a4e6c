/**
 * Session admission rate of one control plane (a separate process, as deployed): an agent's
 * AuthorizeSession calls with an API key as the credential, `--concurrency` in flight, for
 * `--total` calls. Prints authorizations per second, latency percentiles, the control
 * plane's CPU per authorization and what it refused.
 *
 *   node --import tsx tests/load/admission-rate.ts --total 5000 --concurrency 64
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { credentials, Metadata } from "@grpc/grpc-js";
import { AgentServiceClient } from "@sluice/proto";
import { eventually } from "@sluice/testkit";
import { startStack } from "../e2e/src/stack";

const { values } = parseArgs({
  options: {
    total: { type: "string", default: "3000" },
    concurrency: { type: "string", default: "64" },
    /** Distinct API keys the calls rotate through (1: every call presents the same key). */
    keys: { type: "string", default: "1" },
  },
});
const total = Number(values.total);
const concurrency = Number(values.concurrency);
const keyCount = Number(values.keys);

function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

async function main(): Promise<void> {
  const stack = await startStack();
  try {
    await stack.api("/api/v1/groups", { method: "POST", body: { name: "apps" } });
    const svc = (
      await stack.api("/api/v1/users", {
        method: "POST",
        body: { name: "svc", email: "svc@example.com", role: "user", kind: "service", groups: ["apps"] },
      })
    ).body.id as string;
    const keys: string[] = [];
    for (let i = 0; i < keyCount; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(20, keyCount - i) }, (_, j) =>
          stack.api(`/api/v1/users/${svc}/api-keys`, { method: "POST", body: { name: `k${i + j}` } }),
        ),
      );
      keys.push(...batch.map((r) => r.body.secret as string));
    }
    await stack.api("/api/v1/connections", {
      method: "POST",
      body: { name: "orders", type: "tcp", host: "127.0.0.1", port: 9, allowedGroups: ["apps"] },
    });
    const token = (await stack.api("/api/v1/agents", { method: "POST", body: { name: "load" } })).body
      .enrollmentToken as string;
    const client = new AgentServiceClient(
      `127.0.0.1:${stack.cp.grpcPort}`,
      credentials.createSsl(readFileSync(stack.pki.caFile)),
    );
    const md = new Metadata();
    md.set("authorization", `Bearer ${token}`);
    const link = client.link(md);
    link.on("error", () => undefined);
    link.on("data", () => undefined);
    link.write({
      body: {
        $case: "hello",
        value: {
          agentVersion: "load",
          capabilities: ["tcp"],
          endpoints: [{ protocol: "tcp", host: "127.0.0.1", port: 1 }],
          resumeVersion: 0,
        },
      },
    });
    const beat = setInterval(() => {
      link.write({
        body: { $case: "heartbeat", value: { activeSessions: 0, stateVersion: 0, spoolBytes: 0 } },
      });
    }, 1000);
    await eventually(async () => (await stack.api("/api/v1/agents/load")).body.status === "online", 10_000);

    let turn = 0;
    const authorize = (key = keys[turn++ % keys.length] as string) =>
      new Promise<void>((resolve, reject) => {
        client.authorizeSession(
          {
            credential: key,
            connectionName: "orders",
            clientAddress: "127.0.0.1",
            protocol: "tcp",
            sshPublicKey: "",
            sshCertificate: "",
            count: 0,
          },
          md,
          { deadline: Date.now() + 30_000 },
          (err) => (err ? reject(err) : resolve()),
        );
      });
    for (let i = 0; i < 50; i++) await authorize(); // warm up

    const pid = stack.cp.proc.child.pid as number;
    const cpu0 = cpuMs(pid);
    const began = performance.now();
    const latencies: number[] = [];
    const refused = new Map<string, number>();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          next += 1;
          const t = performance.now();
          try {
            await authorize();
            latencies.push(performance.now() - t);
          } catch (err) {
            const msg = (err as Error).message.slice(0, 80);
            refused.set(msg, (refused.get(msg) ?? 0) + 1);
          }
        }
      }),
    );
    const seconds = (performance.now() - began) / 1000;
    const cpu = cpuMs(pid) - cpu0;
    latencies.sort((a, b) => a - b);
    console.log(
      JSON.stringify(
        {
          total,
          concurrency,
          keys: keyCount,
          ok: latencies.length,
          perSecond: Math.round(latencies.length / seconds),
          p50ms: +pct(latencies, 0.5).toFixed(1),
          p99ms: +pct(latencies, 0.99).toFixed(1),
          cpMsPerAuthorization: +(cpu / Math.max(1, latencies.length)).toFixed(2),
          refused: Object.fromEntries(refused),
        },
        null,
        2,
      ),
    );
    clearInterval(beat);
    link.end();
    client.close();
  } finally {
    await stack.stop();
  }
}

await main();
