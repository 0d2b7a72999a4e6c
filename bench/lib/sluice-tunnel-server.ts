/**
 * The agent side of the `sluice-tunnel` target, in its own process: the agent's real
 * tunnel listener (`createTunnelServer`) in front of its real Postgres protocol handler
 * (`createPgHandler(...)` behind the session broker), wired as apps/agent/src/agent.ts wires them:
 * - desired state in a `StateStore` (one postgres connection to the bench cluster whose
 *   credentialRef is env:BENCH_PG_PASSWORD, one Ed25519 verification key);
 * - `createAuthorizer` + `createGrantVerifier`: every tunnel's grant is verified with
 *   jose against that key (the control-plane client is a stub that refuses, since the
 *   grant path never exchanges credentials);
 * - `createSecretResolver([createEnvProvider(...)])` resolves the upstream password;
 * - a durable `createSpool()` behind the same EventSink as the agent's, and a session
 *   registry. Nothing is uploaded; the spool stays on disk until the bench removes it.
 * There is no control-plane link, so the state's freshness is renewed every 5 s as the
 * link's heartbeat acknowledgements would.
 *
 *   node --import tsx bench/lib/sluice-tunnel-server.ts --port N --fixture FILE \
 *     --upstream-port M --upstream-user bench --upstream-db bench --spool-dir DIR
 * BENCH_PG_PASSWORD comes from the environment. Prints {"ready":true,...} or
 * {"ready":false,"reason":"..."} as one JSON line; SIGUSR2 collects garbage and prints stats.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import type { Socket } from "node:net";
import { join } from "node:path";
import type tls from "node:tls";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { repoRoot } from "./proc";

type AgentConfigMod = typeof import("../../apps/agent/src/config");
type StateStoreMod = typeof import("../../apps/agent/src/link/state-store");
type PgHandlerMod = typeof import("../../apps/agent/src/protocols/postgres/pg-handler");
type BrokerMod = typeof import("../../apps/agent/src/core/broker");
type SessionPolicyMod = typeof import("../../apps/agent/src/core/policy-compiler");
type TunnelListenerMod = typeof import("../../apps/agent/src/core/tunnel-listener");
type AuthorizerMod = typeof import("../../apps/agent/src/core/authorizer");
type GrantVerifierMod = typeof import("../../apps/agent/src/core/grant-verifier");
type RegistryMod = typeof import("../../apps/agent/src/core/session-registry");
type SecretsMod = typeof import("../../packages/secrets/src/index");
type RecordingMod = typeof import("../../packages/recording/src/index");
type LoggerMod = typeof import("../../packages/logger/src/index");
type EventSink = import("../../apps/agent/src/core/event-sink").EventSink;
type ConnectionSpec = Parameters<
  InstanceType<StateStoreMod["StateStore"]>["applySnapshot"]
>[0]["connections"][number];

export interface TunnelServerFixture {
  certFile: string;
  keyFile: string;
  agent: { id: string; name: string; segment: string };
  connection: { id: string; name: string };
  key: { kid: string; publicKeyPem: string };
}

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    fixture: { type: "string" },
    "upstream-host": { type: "string", default: "127.0.0.1" },
    "upstream-port": { type: "string" },
    "upstream-user": { type: "string", default: "bench" },
    "upstream-db": { type: "string", default: "bench" },
    "record-rows-limit": { type: "string", default: "100" },
    "spool-dir": { type: "string" },
  },
});

function say(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

async function load<T>(rel: string): Promise<T> {
  return (await import(pathToFileURL(join(repoRoot, rel)).href)) as T;
}

async function start() {
  const [
    { configSchema },
    { StateStore },
    { createPgHandler },
    { createSessionBroker },
    { createTunnelServer },
    { createAuthorizer },
    { createGrantVerifier },
    { createSessionRegistry },
    secrets,
    { createSpool },
    { createLogger },
    { createPolicyCompiler },
  ] = await Promise.all([
    load<AgentConfigMod>("apps/agent/src/config.ts"),
    load<StateStoreMod>("apps/agent/src/link/state-store.ts"),
    load<PgHandlerMod>("apps/agent/src/protocols/postgres/pg-handler.ts"),
    load<BrokerMod>("apps/agent/src/core/broker.ts"),
    load<TunnelListenerMod>("apps/agent/src/core/tunnel-listener.ts"),
    load<AuthorizerMod>("apps/agent/src/core/authorizer.ts"),
    load<GrantVerifierMod>("apps/agent/src/core/grant-verifier.ts"),
    load<RegistryMod>("apps/agent/src/core/session-registry.ts"),
    load<SecretsMod>("packages/secrets/src/index.ts"),
    load<RecordingMod>("packages/recording/src/index.ts"),
    load<LoggerMod>("packages/logger/src/index.ts"),
    load<SessionPolicyMod>("apps/agent/src/core/policy-compiler.ts"),
  ]);

  const fixture = JSON.parse(readFileSync(String(values.fixture), "utf8")) as TunnelServerFixture;
  // The agent's own defaults (spool floor, frame limit, staleness, TLS off on the native port).
  const config = configSchema.parse({
    SLUICE_AGENT_TOKEN: randomBytes(24).toString("hex"),
    SLUICE_GRPC_INSECURE: "true",
    LOG_LEVEL: "warn",
  });
  const logger = createLogger({ name: "sluice-bench-agent", level: "warn", destination: process.stderr });

  const store = new StateStore(undefined);
  const connection: ConnectionSpec = {
    id: fixture.connection.id,
    name: fixture.connection.name,
    type: "postgres",
    host: values["upstream-host"] ?? "127.0.0.1",
    port: Number(values["upstream-port"]),
    database: values["upstream-db"] ?? "bench",
    username: values["upstream-user"] ?? "bench",
    credentialRef: "env:BENCH_PG_PASSWORD",
    tls: undefined,
    recordRowsLimit: Number(values["record-rows-limit"]),
    offlineGraceSeconds: 0,
    policyIds: [],
    optionsJson: "",
    settings: { $case: "postgres", value: {} },
  };
  store.applySnapshot({
    version: 1,
    agent: fixture.agent,
    connections: [connection],
    policies: [],
    keys: [
      {
        kid: fixture.key.kid,
        algorithm: "EdDSA",
        publicKeyPem: fixture.key.publicKeyPem,
        notAfterUnixMs: 0,
      },
    ],
  });
  const heartbeat = setInterval(() => store.markSynced(), config.SLUICE_HEARTBEAT_SECONDS * 1000);
  heartbeat.unref();

  const resolver = secrets.createSecretResolver([
    secrets.createEnvProvider({ BENCH_PG_PASSWORD: process.env.BENCH_PG_PASSWORD }),
  ]);
  const registry = createSessionRegistry();
  const spoolDir = String(values["spool-dir"]);
  mkdirSync(spoolDir, { recursive: true });
  let flushErrors = 0;
  let appendErrors = 0;
  let endFailures = 0;
  let firstAppendError: string | undefined;
  const spool = await createSpool({
    dir: spoolDir,
    onError: (err) => {
      flushErrors++;
      logger.error({ err }, "recording spool flush failed");
    },
  });
  // agent.ts's sink, plus counters: an append the spool refuses still throws into the proxy.
  const sink: EventSink = {
    append: (sid, kind, payload) => {
      try {
        void spool.append(sid, kind, payload);
      } catch (err) {
        appendErrors++;
        firstAppendError ??= err instanceof Error ? err.message : String(err);
        throw err;
      }
    },
    commit: () => spool.writeSync(),
    endSession: (sid) =>
      void spool.endSession(sid).catch((err: unknown) => {
        endFailures++;
        logger.warn({ err }, "spool end failed");
      }),
  };

  const refuse = (_req: unknown, _md: unknown, _opts: unknown, cb: (err: Error) => void) => {
    cb(Object.assign(new Error("no control plane in the bench"), { code: 14, details: "unavailable" }));
  };
  const authorizer = createAuthorizer({
    store,
    verifier: createGrantVerifier(() => store.state.keys),
    client: { authorizeSession: refuse } as unknown as Parameters<typeof createAuthorizer>[0]["client"],
    agentToken: config.SLUICE_AGENT_TOKEN,
    stalenessMs: config.SLUICE_STALENESS_SECONDS * 1000,
  });
  let granted = 0;
  let refused = 0;
  const counted: Pick<typeof authorizer, "authorize"> = {
    authorize: (req) =>
      authorizer.authorize(req).then(
        (s) => {
          granted++;
          return s;
        },
        (err: unknown) => {
          refused++;
          throw err;
        },
      ),
  };

  const broker = createSessionBroker({
    // The bench connection has no policy; a review could not be decided without a control plane.
    policies: createPolicyCompiler({ hashKey: Buffer.alloc(32, 7) }),
    store,
    reviews: { request: async () => ({ approved: false, reason: "no control plane in the bench" }) },
    secrets: resolver,
    sink,
    registry,
    spool,
    floorBytes: config.SLUICE_SPOOL_FLOOR_MB * 1024 * 1024,
    logger,
  });
  const pg = createPgHandler({
    config,
    authorizer: counted,
    broker,
    tls: () => undefined,
    logger: logger.child({ component: "postgres" }),
  });
  const server: tls.Server = createTunnelServer({
    tls: { cert: readFileSync(fixture.certFile, "utf8"), key: readFileSync(fixture.keyFile, "utf8") },
    authorizer: counted,
    handlers: [pg],
    logger: logger.child({ component: "tunnel" }),
  });

  return {
    server,
    stats: () => ({
      tunnelsGranted: granted,
      tunnelsRefused: refused,
      liveSessions: registry.count(),
      spoolBytes: spool.spoolBytes(),
      appendErrors,
      ...(firstAppendError ? { firstAppendError } : {}),
      flushErrors,
      endFailures,
    }),
    close: async () => {
      clearInterval(heartbeat);
      registry.terminateAll("bench stopping");
      await spool.close();
      await resolver.close();
    },
  };
}

let agent: Awaited<ReturnType<typeof start>>;
try {
  agent = await start();
} catch (e) {
  say({ ready: false, reason: (e instanceof Error ? e.message : String(e)).split("\n")[0] });
  process.exit(3);
}

const sockets = new Set<Socket>();
agent.server.on("connection", (socket: Socket) => {
  sockets.add(socket);
  socket.once("close", () => sockets.delete(socket));
});
agent.server.on("error", (e) => {
  say({ ready: false, reason: e.message });
  process.exit(3);
});
const port = Number(values.port);
agent.server.listen(port, "127.0.0.1", () => {
  say({ ready: true, port });
});

process.on("SIGUSR2", () => {
  (globalThis as { gc?: () => void }).gc?.();
  say({ stats: { ...agent.stats(), heapUsed: process.memoryUsage().heapUsed } });
});

let quitting = false;
const quit = () => {
  if (quitting) return;
  quitting = true;
  agent.server.close();
  for (const s of sockets) s.destroy();
  const hard = setTimeout(() => process.exit(0), 3000);
  hard.unref();
  void agent
    .close()
    .catch(() => undefined)
    .finally(() => {
      say({ stats: agent.stats() });
      process.exit(0);
    });
};
process.on("SIGTERM", quit);
process.on("SIGINT", quit);
