import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type tls from "node:tls";
import { credentials as grpcCredentials, Metadata } from "@grpc/grpc-js";
import type { Logger } from "@sluice/logger";
import { initSqlParser } from "@sluice/policy";
import { createSpool, createUploader, type Spool } from "@sluice/recording";
import {
  createEnvProvider,
  createFileProvider,
  createSecretResolver,
  createVaultProvider,
  type SecretResolver,
} from "@sluice/secrets";
import { type AgentConfig, splitHostPort, vaultOptions } from "./config";
import { createAuthorizer } from "./core/authorizer";
import { createSessionBroker } from "./core/broker";
import type { EventSink } from "./core/event-sink";
import { createGrantVerifier } from "./core/grant-verifier";
import { listen } from "./core/listen";
import { createPolicyCompiler } from "./core/policy-compiler";
import { createReviewClient } from "./core/review-client";
import { createSessionRegistry } from "./core/session-registry";
import { createTunnelServer } from "./core/tunnel-listener";
import { type AgentLink, createAgentLink } from "./link/agent-link";
import { StateStore } from "./link/state-store";
import { createProtocolHandlers } from "./protocols/index";
import { createAgentCertificate } from "./tls/agent-certificate";

export const AGENT_VERSION = "0.1.0";

export interface RunningAgent {
  store: StateStore;
  link: AgentLink;
  secrets: SecretResolver;
  spool: Spool;
  /** Bound ports by endpoint (`postgres`, `ssh`, `tunnel`, …); -1 for a listener that failed to start. */
  ports: Record<string, number>;
  sshHostKey: { publicKey: string; fingerprint: string };
  stop(): Promise<void>;
}

/**
 * Closes sessions a previous process left open: their clients are gone with it. Nothing
 * proves the recording is complete up to the moment that process died (events it had not
 * handed to the kernel, the session's own end), so each gets an explicit `gap` before its
 * `session.end`. A torn segment tail already got its own gap when the spool opened.
 */
async function closeOrphans(spool: Spool, logger: Logger): Promise<void> {
  for (const r of spool.recovered()) {
    if (r.tornBytes > 0)
      logger.warn(
        { sessionId: r.sessionId, bytes: r.tornBytes },
        "recording had a torn tail; marked as a gap",
      );
    if (r.ended) continue;
    try {
      spool.appendGap(r.sessionId, "agent_restart");
      spool.append(r.sessionId, "session.end", {
        reason: "agent restarted",
        bytesIn: 0,
        bytesOut: 0,
        error: "agent restarted",
      });
      await spool.endSession(r.sessionId);
    } catch (err) {
      logger.error(
        { err, sessionId: r.sessionId },
        "could not close a session left open by the previous agent",
      );
    }
  }
}

/** The configured masking hash key, or one generated once and kept in the state directory. */
async function maskHashKey(config: AgentConfig, stateDir: string): Promise<Buffer> {
  if (config.SLUICE_MASK_HASH_KEY) return Buffer.from(config.SLUICE_MASK_HASH_KEY, "hex");
  const file = join(stateDir, "mask-hash.key");
  try {
    const existing = Buffer.from((await readFile(file, "utf8")).trim(), "hex");
    if (existing.length >= 32) return existing;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const key = randomBytes(32);
  await mkdir(stateDir, { recursive: true });
  await writeFile(file, `${key.toString("hex")}\n`, { mode: 0o600 });
  return key;
}

/** Logs spool failures once, then at most every 10 s with how many happened (a full disk repeats). */
function spoolErrorLog(logger: Logger): (err: unknown) => void {
  let last = 0;
  let suppressed = 0;
  return (err) => {
    const now = Date.now();
    if (now - last < 10_000) {
      suppressed += 1;
      return;
    }
    logger.error({ err, repeated: suppressed }, "recording spool flush failed; retrying");
    last = now;
    suppressed = 0;
  };
}

export async function startAgent(
  config: AgentConfig,
  env: Readonly<Record<string, string | undefined>>,
  logger: Logger,
): Promise<RunningAgent> {
  const stateDir = config.SLUICE_AGENT_STATE_DIR;
  // Guardrails parse SQL with PostgreSQL's parser; load it before any session can start.
  await initSqlParser();
  const store = new StateStore(join(stateDir, "desired-state.json"));
  const vault = vaultOptions(config);
  const secrets = createSecretResolver([
    createEnvProvider(env),
    createFileProvider(),
    ...(vault ? [createVaultProvider({ ...vault, logger: logger.child({ component: "vault" }) })] : []),
  ]);
  const registry = createSessionRegistry();
  const spool = await createSpool({
    dir: join(stateDir, "spool"),
    onError: spoolErrorLog(logger),
  });
  await closeOrphans(spool, logger);
  const sink: EventSink = {
    append: (sid, kind, payload) => void spool.append(sid, kind, payload),
    commit: () => spool.writeSync(),
    endSession: (sid) =>
      void spool.endSession(sid).catch((err: unknown) => logger.warn({ err }, "spool end failed")),
  };
  const channelCredentials = config.SLUICE_GRPC_INSECURE
    ? grpcCredentials.createInsecure()
    : grpcCredentials.createSsl(readFileSync(config.SLUICE_CA_FILE as string));
  const tunnelAddr = splitHostPort(config.SLUICE_TUNNEL_LISTEN);
  const publicHost = config.SLUICE_PUBLIC_HOST;
  const certHost = publicHost ?? splitHostPort(config.SLUICE_PG_LISTEN).host;
  const link = createAgentLink({
    targets: config.SLUICE_CONTROL_PLANE_GRPC,
    credentials: channelCredentials,
    channelOptions: config.SLUICE_GRPC_SERVER_NAME
      ? { "grpc.ssl_target_name_override": config.SLUICE_GRPC_SERVER_NAME }
      : {},
    token: config.SLUICE_AGENT_TOKEN,
    store,
    logger: logger.child({ component: "link" }),
    heartbeatMs: config.SLUICE_HEARTBEAT_SECONDS * 1000,
    activeSessions: () => registry.count(),
    spoolBytes: () => spool.spoolBytes(),
    onEndSession: (sid, reason) => registry.terminate(sid, reason),
    onReview: (state) => reviews.onReview(state),
    hello: () => ({
      agentVersion: AGENT_VERSION,
      capabilities: [...handlers.map((h) => h.type), "tunnel"],
      endpoints: [
        ...handlers.flatMap((h) => {
          const l = h.listener;
          if (!l || (ports[l.endpoint] ?? 0) < 0) return [];
          const addr = splitHostPort(l.hostPort);
          return [
            { protocol: l.endpoint, host: publicHost ?? addr.host, port: ports[l.endpoint] || addr.port },
          ];
        }),
        {
          protocol: "tunnel",
          host: publicHost ?? tunnelAddr.host,
          port: ports.tunnel || tunnelAddr.port,
        },
      ],
    }),
  });
  const uploader = createUploader({
    spool,
    openStream: () => {
      const md = new Metadata();
      md.set("authorization", `Bearer ${config.SLUICE_AGENT_TOKEN}`);
      return link.client.uploadRecording(md);
    },
    onError: (err) =>
      logger.warn({ err: (err as Error).message }, "recording upload interrupted; will resume"),
  });

  const cert = createAgentCertificate({
    dir: join(stateDir, "tls"),
    hosts: [...new Set([certHost, tunnelAddr.host, "localhost", "127.0.0.1"])],
    client: link.client,
    agentToken: config.SLUICE_AGENT_TOKEN,
    logger: logger.child({ component: "tls" }),
    ...(config.SLUICE_TLS_CERT_FILE && config.SLUICE_TLS_KEY_FILE
      ? { staticPair: { certFile: config.SLUICE_TLS_CERT_FILE, keyFile: config.SLUICE_TLS_KEY_FILE } }
      : {}),
  });
  const authorizer = createAuthorizer({
    store,
    verifier: createGrantVerifier(() => store.state.keys),
    client: link.client,
    agentToken: config.SLUICE_AGENT_TOKEN,
    stalenessMs: config.SLUICE_STALENESS_SECONDS * 1000,
    alreadyRecorded: (sid) => spool.sessions().includes(sid),
  });
  const reviews = createReviewClient({
    client: link.client,
    agentToken: config.SLUICE_AGENT_TOKEN,
    logger: logger.child({ component: "reviews" }),
    pollMs: config.SLUICE_REVIEW_POLL_SECONDS * 1000,
  });
  const policies = createPolicyCompiler({ hashKey: await maskHashKey(config, stateDir) });
  const broker = createSessionBroker({
    policies,
    store,
    reviews,
    secrets,
    sink,
    registry,
    spool,
    floorBytes: config.SLUICE_SPOOL_FLOOR_MB * 1024 * 1024,
    logger,
  });
  const { handlers, sshHostKey } = createProtocolHandlers({
    config,
    authorizer,
    broker,
    tls: () => cert.context(),
    secrets,
    logger,
  });

  const ports: Record<string, number> = { tunnel: 0 };
  uploader.start();
  for (const h of handlers) {
    const l = h.listener;
    if (!l) continue;
    try {
      ports[l.endpoint] = await l.listen();
      logger.info({ [l.endpoint]: ports[l.endpoint] }, `${l.endpoint} listener ready`);
    } catch (err) {
      if (l.required) throw err;
      ports[l.endpoint] = -1;
      logger.error({ err }, `${l.endpoint} listener failed to start; ${h.type} sessions are unavailable`);
    }
  }
  // The hello announces the bound ports, so the link starts once the listeners have them
  // (a configured port 0 is announced as the port the system chose).
  link.start();
  let tunnel: tls.Server | undefined;
  let stopped = false;
  // The tunnel needs a certificate from the control plane's CA (or the configured one);
  // it starts as soon as one is available, without holding up the native listeners.
  const tunnelReady = waitForCertificate(cert, logger, () => stopped).then(async () => {
    const pair = cert.pair();
    if (!pair || stopped) return;
    const handshakeSeconds = config.SLUICE_HANDSHAKE_TIMEOUT_SECONDS;
    const server = createTunnelServer({
      tls: pair,
      authorizer,
      handlers,
      logger: logger.child({ component: "tunnel" }),
      ...(handshakeSeconds ? { preambleTimeoutMs: handshakeSeconds * 1000 } : {}),
    });
    cert.onChange((p) => server.setSecureContext({ ...p, minVersion: "TLSv1.2" }));
    ports.tunnel = await listen(server, config.SLUICE_TUNNEL_LISTEN);
    tunnel = server;
    logger.info({ tunnel: ports.tunnel }, "tunnel listener ready");
  });
  tunnelReady.catch((err: unknown) => logger.error({ err }, "tunnel listener failed to start"));
  const renew = setInterval(() => void cert.ensure().catch(() => undefined), 6 * 3600_000);
  renew.unref();

  return {
    store,
    link,
    secrets,
    spool,
    ports,
    sshHostKey,
    async stop() {
      stopped = true;
      clearInterval(renew);
      for (const h of handlers) h.listener?.close();
      tunnel?.close();
      registry.terminateAll("agent shutting down");
      await uploader.stop({ drainMs: 3000 });
      link.stop();
      await spool.close();
      await secrets.close();
    },
  };
}

async function waitForCertificate(
  cert: ReturnType<typeof createAgentCertificate>,
  logger: Logger,
  cancelled: () => boolean,
): Promise<void> {
  for (let attempt = 0; !cancelled(); attempt++) {
    try {
      await cert.ensure();
      return;
    } catch (err) {
      if (attempt % 10 === 0)
        logger.warn({ err: (err as Error).message }, "waiting for a TLS certificate from the control plane");
      await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** Math.min(attempt, 5))));
    }
  }
}
