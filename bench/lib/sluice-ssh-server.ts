/**
 * The agent's SSH protocol handler (apps/agent/src/protocols/ssh/ssh-handler.ts: listener,
 * authentication hooks, ssh2 bridge, guardrail hook, recorder) behind the session broker,
 * on its own listener, in its own process,
 * so the SSH bench can measure its CPU apart from the clients:
 *   node --import tsx bench/lib/sluice-ssh-server.ts --port N --target-port M \
 *     --target-user U --state-dir DIR [--spool-dir DIR]
 * Clients log in with the public key in BENCH_CLIENT_PUBLIC_KEY (user name = the
 * connection, `bench-web`); the agent reaches the target with the private key in
 * BENCH_TARGET_KEY and pins the target's host key BENCH_TARGET_HOSTKEY (SHA256:…).
 * With --spool-dir every session event goes through the agent's durable spool
 * (written and fsync'd, not uploaded); without it recording is off (events dropped).
 * Prints one JSON line: {"ready":true,...} or {"ready":false,"reason":"..."}.
 */
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { AuthorizedSession } from "../../apps/agent/src/core/authorizer";
import { createSessionBroker } from "../../apps/agent/src/core/broker";
import type { EventSink } from "../../apps/agent/src/core/event-sink";
import { createPolicyCompiler } from "../../apps/agent/src/core/policy-compiler";
import { createSessionRegistry } from "../../apps/agent/src/core/session-registry";
import { createSshHandler } from "../../apps/agent/src/protocols/ssh/ssh-handler";
import { createLogger } from "../../packages/logger/src/index";
import { createSpool } from "../../packages/recording/src/index";
import { createEnvProvider, createSecretResolver } from "../../packages/secrets/src/index";
import { repoRoot } from "./proc";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    "target-port": { type: "string" },
    "target-user": { type: "string" },
    "state-dir": { type: "string" },
    "spool-dir": { type: "string" },
  },
});

function say(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

/** Whether ssh2 loaded its native crypto binding and cpu-features, as the agent process sees it. */
export function sshCrypto(): Record<string, unknown> {
  const fromProxy = createRequire(join(repoRoot, "packages/ssh-proxy/package.json"));
  const ssh2Main = fromProxy.resolve("ssh2");
  const fromSsh2 = createRequire(ssh2Main);
  const crypto = fromSsh2("./protocol/crypto.js") as { bindingAvailable: boolean };
  let cpu: { flags?: Record<string, boolean> } | undefined;
  try {
    cpu = (fromSsh2("cpu-features") as () => { flags?: Record<string, boolean> })();
  } catch {
    cpu = undefined;
  }
  const constants = fromSsh2("./protocol/constants.js") as { DEFAULT_CIPHER?: string[] };
  return {
    nativeBinding: crypto.bindingAvailable,
    cpuFeatures: cpu !== undefined,
    aesNi: cpu?.flags?.aes === true,
    preferredCipher: constants.DEFAULT_CIPHER?.[0],
  };
}

const clientKey = (process.env.BENCH_CLIENT_PUBLIC_KEY ?? "").split(" ").slice(0, 2).join(" ");
const connection = {
  id: "00000000-0000-4000-8000-000000000001",
  name: "bench-web",
  type: "ssh",
  host: "127.0.0.1",
  port: Number(values["target-port"]),
  database: "",
  username: values["target-user"] ?? "",
  credentialRef: "env:BENCH_TARGET_KEY",
  tls: undefined,
  recordRowsLimit: 0,
  offlineGraceSeconds: 0,
  policyIds: [],
  optionsJson: "",
  settings: {
    $case: "ssh" as const,
    value: {
      hostKey: process.env.BENCH_TARGET_HOSTKEY ?? "",
      trustOnFirstUse: false,
      allowPortForwarding: false,
    },
  },
};

let sessions = 0;
let events = 0;
const spoolDir = values["spool-dir"];
const spool = spoolDir
  ? await createSpool({ dir: spoolDir, onError: (err) => process.stderr.write(`spool: ${String(err)}\n`) })
  : undefined;
const sink: EventSink = spool
  ? {
      append: (sid, kind, payload) => {
        events += 1;
        void spool.append(sid, kind, payload);
      },
      commit: () => spool.writeSync(),
      endSession: (sid) => void spool.endSession(sid).catch(() => undefined),
    }
  : { append: () => undefined, commit: () => undefined, endSession: () => undefined };

const logger = createLogger({ name: "sluice-bench-ssh", level: "warn" });
const broker = createSessionBroker({
  policies: createPolicyCompiler({ hashKey: Buffer.alloc(32, 7) }),
  store: { state: { policies: new Map() } } as never,
  reviews: { request: async () => ({ approved: false, reason: "no control plane in the bench" }) },
  secrets: createSecretResolver([createEnvProvider(process.env)]),
  sink,
  registry: createSessionRegistry(),
  spool: { hasRoom: async () => true },
  floorBytes: 0,
  logger,
});
const ssh = createSshHandler({
  config: {
    SLUICE_SSH_LISTEN: `127.0.0.1:${values.port}`,
    SLUICE_AGENT_STATE_DIR: values["state-dir"] ?? "/tmp/sluice-bench-ssh",
  },
  authorizer: {
    async authorize(req): Promise<AuthorizedSession> {
      if (!req.ssh || req.ssh.sshPublicKey !== clientKey) throw new Error("invalid credentials");
      sessions += 1;
      const claims = {
        sid: randomUUID(),
        sub: "bench",
        name: "bench",
        kind: "human" as const,
        conn: connection.id,
        cname: connection.name,
        agent: "bench",
        proto: "ssh",
        exp: Math.floor(Date.now() / 1000) + 300,
      };
      return { claims, connection, via: "credential" };
    },
  },
  broker,
  logger,
  failureDelayMs: 10,
});

try {
  const port = await ssh.listener?.listen();
  say({
    ready: true,
    port,
    hostKey: ssh.hostKey.publicKey,
    recording: spool ? "spool" : "off",
    crypto: sshCrypto(),
  });
} catch (e) {
  say({ ready: false, reason: e instanceof Error ? e.message : String(e) });
  process.exit(3);
}

process.on("SIGUSR2", () => {
  say({
    stats: {
      sessions,
      events,
      spoolBytes: spool?.spoolBytes() ?? 0,
      heapUsed: process.memoryUsage().heapUsed,
    },
  });
});
const quit = () => {
  ssh.listener?.close();
  void (spool?.close() ?? Promise.resolve()).finally(() => {
    say({ stats: { sessions, events } });
    process.exit(0);
  });
};
process.on("SIGTERM", quit);
process.on("SIGINT", quit);
