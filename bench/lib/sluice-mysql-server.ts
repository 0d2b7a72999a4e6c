/**
 * The agent's MySQL protocol handler (apps/agent/src/protocols/mysql/mysql-handler.ts)
 * behind the session broker, on its own listener, in its own process:
 *   node --import tsx bench/lib/sluice-mysql-server.ts --port N --upstream-port M \
 *     --upstream-user U --upstream-db D --spool-dir DIR [--policy none|guard-mask]
 * Clients log in with BENCH_TOKEN as their password (mysql_clear_password over loopback
 * plaintext) and the connection name `bench-mysql` as their database; the agent reaches
 * MariaDB with BENCH_MYSQL_PASSWORD (credentialRef env:). Every session is recorded
 * through the agent's durable spool (written and fsync'd, not uploaded).
 * Prints one JSON line: {"ready":true,...} or {"ready":false,"reason":"..."}.
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import type { AuthorizedSession } from "../../apps/agent/src/core/authorizer";
import { createSessionBroker } from "../../apps/agent/src/core/broker";
import type { EventSink } from "../../apps/agent/src/core/event-sink";
import { createPolicyCompiler } from "../../apps/agent/src/core/policy-compiler";
import { createSessionRegistry } from "../../apps/agent/src/core/session-registry";
import { createMysqlHandler } from "../../apps/agent/src/protocols/mysql/mysql-handler";
import { createLogger } from "../../packages/logger/src/index";
import { initSqlParser } from "../../packages/policy/src/index";
import { createSpool } from "../../packages/recording/src/index";
import { createEnvProvider, createSecretResolver } from "../../packages/secrets/src/index";
import { mysqlBenchPolicies } from "./mysql-policy-spec";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    "upstream-port": { type: "string" },
    "upstream-user": { type: "string" },
    "upstream-db": { type: "string" },
    "spool-dir": { type: "string" },
    policy: { type: "string", default: "none" },
  },
});

function say(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

const policy = values.policy === "guard-mask" ? "guard-mask" : "none";
const specs = mysqlBenchPolicies(policy);
const connection = {
  id: "00000000-0000-4000-8000-000000000003",
  name: "bench-mysql",
  type: "mysql",
  host: "127.0.0.1",
  port: Number(values["upstream-port"]),
  database: values["upstream-db"] ?? "",
  username: values["upstream-user"] ?? "",
  credentialRef: "env:BENCH_MYSQL_PASSWORD",
  tls: undefined,
  recordRowsLimit: 100,
  offlineGraceSeconds: 0,
  policyIds: specs.map((p) => p.id),
  optionsJson: "",
  settings: { $case: "mysql" as const, value: { allowLocalInfile: false, serverPublicKeyPem: "" } },
};

let sessions = 0;
let refused = 0;
let events = 0;
let appendErrors = 0;
await initSqlParser();
const spool = await createSpool({
  dir: values["spool-dir"] ?? "/tmp/sluice-bench-mysql-spool",
  onError: (err) => process.stderr.write(`spool: ${String(err)}\n`),
});
const sink: EventSink = {
  append: (sid, kind, payload) => {
    events += 1;
    try {
      spool.append(sid, kind, payload);
    } catch {
      appendErrors += 1;
    }
  },
  commit: () => spool.writeSync(),
  endSession: (sid) => void spool.endSession(sid).catch(() => undefined),
};
const token = process.env.BENCH_TOKEN ?? "";
const logger = createLogger({ name: "sluice-bench-mysql", level: "warn" });
const broker = createSessionBroker({
  policies: createPolicyCompiler({ hashKey: Buffer.alloc(32, 7) }),
  store: { state: { policies: new Map(specs.map((p) => [p.id, p])) } } as never,
  reviews: { request: async () => ({ approved: false, reason: "no control plane in the bench" }) },
  secrets: createSecretResolver([createEnvProvider(process.env)]),
  sink,
  registry: createSessionRegistry(),
  spool: { hasRoom: async () => true },
  floorBytes: 0,
  logger,
});
const handler = createMysqlHandler({
  config: {
    SLUICE_MYSQL_LISTEN: `127.0.0.1:${values.port}`,
    SLUICE_MYSQL_LOOPBACK_PLAINTEXT: true,
    SLUICE_MAX_FRAME_BYTES: 64 * 1024 * 1024,
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
        proto: "mysql",
        exp: Math.floor(Date.now() / 1000) + 3600,
      };
      return { claims, connection, via: "credential" };
    },
  },
  broker,
  tls: () => undefined,
  logger,
});

try {
  const port = await handler.listener?.listen();
  say({ ready: true, port, recording: "spool", policy });
} catch (e) {
  say({ ready: false, reason: e instanceof Error ? e.message : String(e) });
  process.exit(3);
}

const stats = () => ({ sessions, refused, events, appendErrors, spoolBytes: spool.spoolBytes() });
process.on("SIGUSR2", () => {
  (globalThis as { gc?: () => void }).gc?.();
  say({ stats: { ...stats(), heapUsed: process.memoryUsage().heapUsed } });
});
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
