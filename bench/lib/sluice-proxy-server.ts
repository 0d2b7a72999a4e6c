/**
 * The agent's Postgres proxy on its own listener, in its own process, so the bench can
 * measure its CPU and RSS apart from the load generator:
 *   node --import tsx bench/lib/sluice-proxy-server.ts --port N --upstream-port M \
 *     --upstream-user bench --upstream-db bench --spool-dir DIR [--policy none|guard|mask]
 * The upstream password and the client token come from the environment
 * (BENCH_UPSTREAM_PASSWORD, BENCH_TOKEN) so they never show in `ps`.
 * `--policy` attaches the bench policy (sluice-target.ts benchPolicies) to every session.
 * Prints one JSON line: {"ready":true,...} or {"ready":false,"reason":"..."}.
 */
import { createServer, type Socket } from "node:net";
import { parseArgs } from "node:util";
import { type BenchPolicyKind, benchPolicyKinds, loadSluiceProxy } from "./sluice-target";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    "upstream-host": { type: "string", default: "127.0.0.1" },
    "upstream-port": { type: "string" },
    "upstream-user": { type: "string", default: "bench" },
    "upstream-db": { type: "string", default: "bench" },
    "record-rows-limit": { type: "string", default: "100" },
    "spool-dir": { type: "string" },
    policy: { type: "string", default: "none" },
  },
});

function say(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

const port = Number(values.port);
let proxy: Awaited<ReturnType<typeof loadSluiceProxy>>;
try {
  const policy = values.policy as BenchPolicyKind;
  if (!benchPolicyKinds.includes(policy))
    throw new Error(`--policy must be one of ${benchPolicyKinds.join(", ")}, not ${values.policy}`);
  proxy = await loadSluiceProxy({
    upstream: {
      host: values["upstream-host"] ?? "127.0.0.1",
      port: Number(values["upstream-port"]),
      user: values["upstream-user"] ?? "bench",
      database: values["upstream-db"] ?? "bench",
      password: process.env.BENCH_UPSTREAM_PASSWORD ?? "",
    },
    token: process.env.BENCH_TOKEN ?? "",
    recordRowsLimit: Number(values["record-rows-limit"]),
    spoolDir: values["spool-dir"] ?? "/tmp/sluice-bench-spool",
    policy,
  });
} catch (e) {
  say({ ready: false, reason: (e instanceof Error ? e.message : String(e)).split("\n")[0] });
  process.exit(3);
}

const sockets = new Set<Socket>();
const server = createServer({ noDelay: true }, (socket) => {
  sockets.add(socket);
  socket.once("close", () => sockets.delete(socket));
  proxy.handle(socket);
});
server.on("error", (e) => {
  say({ ready: false, reason: e.message });
  process.exit(3);
});
server.listen(port, "127.0.0.1", () => {
  say({
    ready: true,
    port,
    recorder: proxy.recorder,
    recorderDetail: proxy.recorderDetail,
    policyDetail: proxy.policyDetail,
  });
});

process.on("SIGUSR2", () => {
  (globalThis as { gc?: () => void }).gc?.();
  say({ stats: { ...proxy.stats(), heapUsed: process.memoryUsage().heapUsed } });
});

let quitting = false;
const quit = () => {
  if (quitting) return;
  quitting = true;
  server.close();
  for (const s of sockets) s.destroy();
  const hard = setTimeout(() => process.exit(0), 3000);
  hard.unref();
  void proxy
    .close()
    .catch(() => undefined)
    .finally(() => {
      say({ stats: proxy.stats() });
      process.exit(0);
    });
};
process.on("SIGTERM", quit);
process.on("SIGINT", quit);
