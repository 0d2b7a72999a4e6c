import { readFileSync } from "node:fs";
import { createDb, migrateDeploy } from "@sluice/db";
import type { Logger } from "@sluice/logger";
import { Redis } from "ioredis";
import { bootstrapAdmin, writeSecretFile } from "./bootstrap";
import { type ControlPlaneConfig, decodeMasterKey, notificationSettings, oidcSettings } from "./config";
import { startGrpcServer } from "./grpc/server";
import { createAgentCerts } from "./modules/agents/agent-certs";
import { createAgentHub } from "./modules/agents/agent-hub";
import { createDesiredState } from "./modules/agents/desired-state";
import { createMetrics } from "./modules/metrics/metrics";
import { createNotificationQueue, startNotificationWorker } from "./modules/notifications/notifications.jobs";
import { parseReviewPush, reviewStatesChannel } from "./modules/reviews/review-push";
import { createReviewsGrpc } from "./modules/reviews/reviews.grpc";
import { createAdmission } from "./modules/sessions/admission";
import {
  credentialsRevokedChannel,
  endSessionsChannel,
  parseEndSessions,
} from "./modules/sessions/session-revoker";
import { createSessionSweeper } from "./modules/sessions/session-sweeper";
import { createSessionGrpc } from "./modules/sessions/sessions.grpc";
import { stateChannel } from "./modules/state/state.service";
import { buildApp, type RouteSummary } from "./server/app";
import { createServices } from "./services";

export const VERSION = "0.1.0";

export interface RunningControlPlane {
  apiUrl: string;
  grpcPort: number;
  /** The bootstrap admin key, only on the very first start. */
  bootstrapKey: string | undefined;
  /** Every route the REST API registered. */
  routes: readonly RouteSummary[];
  stop(): Promise<void>;
}

function redisClient(url: string, name: string): Redis {
  return new Redis(url, {
    connectionName: name,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    lazyConnect: true,
  });
}

/** Starts REST + gRPC for one replica. Everything it needs comes from `config`. */
export async function startControlPlane(
  config: ControlPlaneConfig,
  logger: Logger,
): Promise<RunningControlPlane> {
  if (config.SLUICE_MIGRATE_ON_START) await migrateDeploy(config.DATABASE_URL);
  const metrics = createMetrics();
  const db = createDb(config.DATABASE_URL, { poolMax: config.SLUICE_DB_POOL_SIZE });
  const redis = redisClient(config.REDIS_URL, "sluice-cp");
  const subscriber = redisClient(config.REDIS_URL, "sluice-cp-sub");
  await Promise.all([redis.connect(), subscriber.connect()]);
  const notify = {
    redisUrl: config.REDIS_URL,
    redisPrefix: config.SLUICE_REDIS_PREFIX,
    settings: notificationSettings(config),
    logger: logger.child({ component: "notifications" }),
  };
  const notificationQueue = await createNotificationQueue(notify);

  let apiUrl = "";
  const publicUrl = () => config.SLUICE_PUBLIC_URL?.replace(/\/$/, "") ?? apiUrl;
  const services = createServices({
    prisma: db.prisma,
    sql: db.pool,
    logger,
    sessionRate: {
      perIdentity: config.SLUICE_SESSIONS_PER_MINUTE_PER_IDENTITY,
      perConnection: config.SLUICE_SESSIONS_PER_MINUTE_PER_CONNECTION,
    },
    redis,
    redisPrefix: config.SLUICE_REDIS_PREFIX,
    masterKey: decodeMasterKey(config.SLUICE_MASTER_KEY) as Buffer,
    grantTtlSeconds: config.SLUICE_GRANT_TTL_SECONDS,
    tokens: {
      accessTtlSeconds: config.SLUICE_ACCESS_TOKEN_TTL_SECONDS,
      refreshTtlSeconds: config.SLUICE_REFRESH_TOKEN_TTL_SECONDS,
      loginMaxAgeSeconds: config.SLUICE_LOGIN_MAX_AGE_SECONDS,
    },
    oidc: oidcSettings(config),
    reviews: {
      publicUrl,
      logger: logger.child({ component: "reviews" }),
      approvalTtlSeconds: config.SLUICE_STATEMENT_APPROVAL_TTL_SECONDS,
    },
    notifications: {
      queue: notificationQueue,
      requestTimeoutMs: notify.settings.requestTimeoutMs,
      logger: notify.logger,
    },
  });
  const notificationWorker = config.SLUICE_NOTIFY_WORKER
    ? startNotificationWorker({ ...notify, process: services.notifications.processDelivery })
    : undefined;
  await services.keys.ensureActiveKey();
  services.audit.start();
  const channel = stateChannel(config.SLUICE_REDIS_PREFIX);
  const bootstrapKey = await bootstrapAdmin({ prisma: db.prisma, audit: services.audit });
  if (bootstrapKey && config.SLUICE_BOOTSTRAP_ADMIN_KEY_FILE) {
    writeSecretFile(config.SLUICE_BOOTSTRAP_ADMIN_KEY_FILE, bootstrapKey);
  }

  const desiredState = createDesiredState({
    prisma: db.prisma,
    verificationKeys: services.keys.verificationKeys,
  });
  const hub = createAgentHub({
    prisma: db.prisma,
    desiredState,
    state: services.state,
    logger: logger.child({ component: "agent-hub" }),
    replicaId: config.SLUICE_REPLICA_ID,
    offlineAfterMs: config.SLUICE_AGENT_OFFLINE_AFTER_SECONDS * 1000,
  });
  const endChannel = endSessionsChannel(config.SLUICE_REDIS_PREFIX);
  const reviewChannel = reviewStatesChannel(config.SLUICE_REDIS_PREFIX);
  const revokedChannel = credentialsRevokedChannel(config.SLUICE_REDIS_PREFIX);
  let forgetCredentials = () => {};
  await subscriber.subscribe(channel, endChannel, reviewChannel, revokedChannel);
  subscriber.on("message", (ch, text: string) => {
    if (ch === channel) hub.onStateChanged();
    if (ch === revokedChannel) forgetCredentials();
    if (ch === endChannel) {
      const msg = parseEndSessions(text);
      if (msg) hub.endSessions(msg.agentId, msg.sessionIds, msg.reason);
    }
    if (ch === reviewChannel) {
      const msg = parseReviewPush(text);
      if (msg) hub.sendReview(msg.agentId, msg.state);
    }
  });
  let sweeping: Promise<unknown> = Promise.resolve();
  const sweeper = setInterval(() => {
    sweeping = hub.sweep().catch((err: unknown) => logger.warn({ err }, "agent sweep failed"));
  }, 1000);

  const admission = createAdmission(
    {
      concurrency: config.SLUICE_ADMISSION_CONCURRENCY,
      queue: config.SLUICE_ADMISSION_QUEUE,
      maxWaitMs: config.SLUICE_ADMISSION_MAX_WAIT_MS,
    },
    { metrics, logger: logger.child({ component: "admission" }) },
  );
  const sessionGrpc = createSessionGrpc({
    prisma: db.prisma,
    admission,
    metrics,
    auth: services.auth,
    sshAuth: services.sshAuth,
    sessions: services.sessions,
    recordings: services.recordings,
    logger: logger.child({ component: "grpc" }),
  });
  forgetCredentials = sessionGrpc.forgetCredentials;
  const agentCerts = createAgentCerts({
    prisma: db.prisma,
    ca: config.SLUICE_CA_CERT_FILE
      ? {
          certPem: readFileSync(config.SLUICE_CA_CERT_FILE, "utf8"),
          keyPem: readFileSync(config.SLUICE_CA_KEY_FILE as string, "utf8"),
        }
      : undefined,
  });
  const grpc = await startGrpcServer({
    config,
    hub,
    handlers: {
      ...sessionGrpc,
      ...createReviewsGrpc({
        prisma: db.prisma,
        statements: services.reviews.statements,
        logger: logger.child({ component: "grpc" }),
      }),
      issueCertificate: agentCerts.issueCertificate,
    },
  });
  const app = await buildApp({
    logger: logger.child({ component: "api" }),
    services,
    metrics,
    caPem: agentCerts.caPem,
    prisma: db.prisma,
    rateLimitPerMinute: config.SLUICE_RATE_LIMIT_PER_MINUTE,
    mcpAllowedOrigins: config.SLUICE_MCP_ALLOWED_ORIGINS,
    rateLimitRedis: redis,
    rateLimitNamespace: `${config.SLUICE_REDIS_PREFIX}rate-limit:`,
    version: VERSION,
    publicUrl,
    readiness: async () => ({
      database: await db.prisma.$queryRawUnsafe("SELECT 1").then(
        () => true,
        () => false,
      ),
      redis: await redis.ping().then(
        (r) => r === "PONG",
        () => false,
      ),
    }),
  });
  const address = await app.listen({ host: config.SLUICE_API_HOST, port: config.SLUICE_API_PORT });
  apiUrl = address;
  const sessionSweeper = createSessionSweeper({ prisma: db.prisma, audit: services.audit, metrics }).start(
    config.SLUICE_SESSION_SWEEP_INTERVAL_MS,
    logger.child({ component: "sessions" }),
  );
  const reviewSweeper = services.reviews.sweeper.start(
    config.SLUICE_REVIEW_SWEEP_INTERVAL_MS,
    logger.child({ component: "reviews" }),
  );
  logger.info({ api: address, grpcPort: grpc.port }, "control plane listening");

  return {
    apiUrl: address,
    grpcPort: grpc.port,
    bootstrapKey,
    routes: app.routeTable,
    async stop() {
      clearInterval(sweeper);
      // Each step is timed: a shutdown that drags names the step that held it.
      const step = async (name: string, work: () => Promise<unknown>) => {
        const started = Date.now();
        const slow = setTimeout(
          () => logger.warn({ step: name }, "shutdown step still running after 3 s"),
          3000,
        );
        try {
          await work();
        } finally {
          clearTimeout(slow);
          const ms = Date.now() - started;
          if (ms > 3000) logger.warn({ step: name, ms }, "shutdown step was slow");
        }
      };
      await step("review sweeper", () => reviewSweeper.stop());
      await step("session sweeper", () => sessionSweeper.stop());
      await step("redis subscriber", () => subscriber.quit().catch(() => undefined));
      await step("agent sweep", () => sweeping);
      await step("agent links", () => hub.closeAll());
      await step("http server", () => app.close());
      // Give in-flight calls a moment to finish, then cut the rest (agents reconnect elsewhere).
      await step(
        "grpc server",
        () =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 2000);
            grpc.server.tryShutdown(() => {
              clearTimeout(timer);
              resolve();
            });
          }),
      );
      grpc.server.forceShutdown();
      await step("notifications", () => services.notifications.settle());
      await step("audit chainer", () => services.audit.stop());
      await step("notification worker", async () => notificationWorker?.close());
      await step("notification queue", () => notificationQueue.close());
      await step("redis", () => redis.quit().catch(() => undefined));
      await db.close();
    },
  };
}
