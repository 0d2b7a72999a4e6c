/**
 * The agent's HTTP protocol handler (apps/agent/src/protocols/http/http-handler.ts) behind
 * the session broker, on its own native listener, in its own process:
 *   node --import tsx bench/lib/http-sluice-server.ts --port N --upstream-port M \
 *     --spool-dir DIR [--policy none|guard|guard-mask] [--recording spool|off]
 * Plain HTTP on loopback (SLUICE_HTTP_PLAINTEXT=true), so TLS is not part of the figures.
 * Callers send `Authorization: Bearer $BENCH_TOKEN` and address `/bench-http/<path>`; the
 * stub authorizer accepts that one token for the one connection. The agent injects
 * BENCH_API_TOKEN (credentialRef env:) upstream. Every exchange is recorded through the
 * agent's durable spool (written per exchange, fsync'd in batches, not uploaded); with
 * `--recording off` events are counted and dropped (a diagnostic of the recording's cost).
 * Prints one JSON line: {"ready":true,...} or {"ready":false,"reason":"..."}.
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import type { AuthorizedSession } from "../../apps/agent/src/core/authorizer";
import { createSessionBroker } from "../../apps/agent/src/core/broker";
import type { EventSink } from "../../apps/agent/src/core/event-sink";
import { createPolicyCompiler } from "../../apps/agent/src/core/policy-compiler";
import { createSessionRegistry } from "../../apps/agent/src/core/session-registry";
import { createHttpHandler } from "../../apps/agent/src/protocols/http/http-handler";
import { createLogger } from "../../packages/logger/src/index";
import { createSpool } from "../../packages/recording/src/index";
import { createEnvProvider, createSecretResolver } from "../../packages/secrets/src/index";
import { type HttpBenchPolicy, httpBenchPolicies } from "./http-policy-spec";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    "upstream-port": { type: "string" },
    "spool-dir": { type: "string" },
    policy: { type: "string", default: "none" },
    recording: { type: "string", default: "spool" },
  },
});

function say(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

const policy: HttpBenchPolicy =
  values.policy === "guard" || values.policy === "guard-mask" ? values.policy : "none";
const specs = httpBenchPolicies(policy);
const connection = {
  id: "00000000-0000-4000-8000-000000000004",
  name: "bench-http",
  type: "http",
  host: "127.0.0.1",
  port: Number(values["upstream-port"]),
  database: "",
  username: "",
  credentialRef: "env:BENCH_API_TOKEN",
  tls: { mode: "disable", caPem: "", serverName: "" },
  recordRowsLimit: 0,
  offlineGraceSeconds: 0,
  policyIds: specs.map((p) => p.id),
  optionsJson: "",
  settings: {
    $case: "http" as const,
    value: {
      basePath: "",
      inject: "bearer",
      injectName: "",
      clientCertificateRef: "",
      recordBodyBytes: 4096,
      passUnmaskableContent: false,
    },
  },
};

let sessions = 0;
let refused = 0;
let events = 0;
let commits = 0;
let appendErrors = 0;
const kinds: Record<string, number> = {};
const spool = await createSpool({
  dir: values["spool-dir"] ?? "/tmp/sluice-bench-http-spool",
  onError: (err) => process.stderr.write(`spool: ${String(err)}\n`),
});
const recording = values.recording === "off" ? "off" : "spool";
const sink: EventSink = {
  append: (sid, kind, payload) => {
    events += 1;
    kinds[kind] = (kinds[kind] ?? 0) + 1;
    if (recording === "off") return;
    try {
      spool.append(sid, kind, payload);
    } catch {
      appendErrors += 1;
    }
  },
  commit: () => {
    commits += 1;
    if (recording === "spool") spool.writeSync();
  },
  endSession: (sid) => {
    if (recording === "spool") void spool.endSession(sid).catch(() => undefined);
  },
};
const token = process.env.BENCH_TOKEN ?? "";
const logger = createLogger({ name: "sluice-bench-http", level: "warn" });
const secrets = createSecretResolver([createEnvProvider(process.env)]);
const broker = createSessionBroker({
  policies: createPolicyCompiler({ hashKey: Buffer.alloc(32, 7) }),
  store: { state: { policies: new Map(specs.map((p) => [p.id, p])) } } as never,
  reviews: { request: async () => ({ approved: false, reason: "no control plane in the bench" }) },
  secrets,
  sink,
  registry: createSessionRegistry(),
  spool: { hasRoom: async () => true },
  floorBytes: 0,
  logger,
});
const handler = createHttpHandler({
  config: {
    SLUICE_HTTP_LISTEN: `127.0.0.1:${values.port}`,
    SLUICE_HTTP_PLAINTEXT: true,
    SLUICE_HTTP_ROUTE_DOMAIN: undefined,
  },
  authorizer: {
    async authorize(req): Promise<AuthorizedSession> {
      if (token.length < 16 || req.credential !== token || req.connectionName !== connection.name) {
        refused += 1;
        throw new Error("invalid credentials");
      }
      sessions += 1;
      const claims = {
        sid: randomUUID(),
        sub: "bench",
        name: "bench",
        kind: "human" as const,
        conn: connection.id,
        cname: connection.name,
        agent: "bench",
        proto: "http",
        exp: Math.floor(Date.now() / 1000) + 3600,
      };
      return { claims, connection, via: "credential" };
    },
  },
  broker,
  tls: () => undefined,
  secrets,
  logger,
});

try {
  const port = await handler.listener?.listen();
  say({ ready: true, port, recording, policy });
} catch (e) {
  say({ ready: false, reason: e instanceof Error ? e.message : String(e) });
  process.exit(3);
}

const stats = () => ({
  sessions,
  refused,
  events,
  commits,
  appendErrors,
  kinds,
  spoolBytes: spool.spoolBytes(),
});
process.on("SIGUSR2", () => say({ stats: stats() }));
const quit = () => {
  handler.listener?.close();
  setTimeout(() => process.exit(0), 3000).unref();
  void spool.close().finally(() => {
    say({ stats: stats() });
    process.exit(0);
  });
};
process.on("SIGTERM", quit);
process.on("SIGINT", quit);
