import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import type { Logger } from "@sluice/logger";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from "fastify-type-provider-zod";
import type { Redis } from "ioredis";
import type { Db } from "../lib/db";
import { caRoutes } from "../modules/agents/agent-certs";
import { agentsRoutes } from "../modules/agents/agents.routes";
import { auditRoutes } from "../modules/audit/audit.routes";
import { authRoutes } from "../modules/auth/auth.routes";
import { connectionsRoutes } from "../modules/connections/connections.routes";
import { groupsRoutes } from "../modules/groups/groups.routes";
import { healthRoutes } from "../modules/health/health.routes";
import { identityRoutes } from "../modules/identity/identity.routes";
import { keysRoutes } from "../modules/keys/keys.routes";
import { mcpRoutes } from "../modules/mcp/mcp.routes";
import type { Metrics } from "../modules/metrics/metrics";
import { metricsRoutes } from "../modules/metrics/metrics.routes";
import { notificationsRoutes } from "../modules/notifications/notifications.routes";
import { oauthRoutes } from "../modules/oauth/oauth.routes";
import { policiesRoutes } from "../modules/policies/policies.routes";
import { reviewsRoutes } from "../modules/reviews/reviews.routes";
import { sessionsRoutes } from "../modules/sessions/sessions.routes";
import { sshRoutes } from "../modules/ssh/ssh.routes";
import { usersRoutes } from "../modules/users/users.routes";
import type { Services } from "../services";
import { installAuth } from "./auth";
import { installErrorHandler } from "./error-handler";
import { installInputGuard, MAX_PARAM_LENGTH, routerErrors } from "./input-guard";

export interface AppOptions {
  logger: Logger;
  services: Services;
  metrics: Metrics;
  rateLimitPerMinute: number;
  /** Browser origins besides the control plane's own that may call /mcp (DNS-rebinding guard). */
  mcpAllowedOrigins?: string[];
  /** Where request counts live, so every replica enforces one limit. */
  rateLimitRedis?: Redis;
  rateLimitNamespace?: string;
  readiness: () => Promise<Record<string, boolean>>;
  caPem: string | undefined;
  prisma: Db;
  version: string;
  /** The control plane's external base URL (for the browser login's redirect). */
  publicUrl: () => string;
}

export const BODY_LIMIT = 1024 * 1024;

/** A registered route, as the router knows it (`/api/v1/connections/:id`). */
export interface RouteSummary {
  method: string;
  url: string;
}

declare module "fastify" {
  interface FastifyInstance {
    /** Every route registered on the app, in registration order. */
    routeTable: readonly RouteSummary[];
  }
}

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    ...routerErrors,
    requestIdHeader: false,
    genReqId: () => crypto.randomUUID(),
    trustProxy: false,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandler(app);
  const routeTable: RouteSummary[] = [];
  app.decorate("routeTable", routeTable);
  app.addHook("onRoute", (route) => {
    for (const method of [route.method].flat()) routeTable.push({ method, url: route.url });
  });
  installInputGuard(app);

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: { title: "Sluice control plane API", version: opts.version },
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer", description: "API key or Sluice access token" },
        },
      },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(rateLimit, {
    // Applied below as an app-wide hook that runs before authentication, so requests with a
    // missing or wrong credential (key guessing) are counted too.
    global: false,
    max: opts.rateLimitPerMinute,
    timeWindow: 60_000,
    keyGenerator: (req) => req.ip,
    // Shared by every replica; without Redis the API keeps serving, unlimited, rather than failing.
    ...(opts.rateLimitRedis
      ? { redis: opts.rateLimitRedis, nameSpace: opts.rateLimitNamespace, skipOnError: true }
      : {}),
  });
  const limit = app.rateLimit();
  app.addHook("onRequest", async (req, reply) => {
    if ((req.routeOptions.config as { rateLimit?: unknown } | undefined)?.rateLimit === false) return;
    await limit.call(app, req, reply);
  });
  installAuth(app, opts.services.auth);

  await app.register(healthRoutes({ readiness: opts.readiness }));
  await app.register(metricsRoutes({ metrics: opts.metrics, auditBacklog: opts.services.audit.backlog }));
  await app.register(oauthRoutes({ oauth: opts.services.mcpOAuth, exchange: opts.services.tokenExchange }));
  await app.register(
    mcpRoutes({
      ...opts.services,
      oauth: opts.services.mcpOAuth,
      inject: (o) => app.inject(o),
      version: opts.version,
      allowedOrigins: opts.mcpAllowedOrigins ?? [],
    }),
  );
  await app.register(
    async (api) => {
      api.get("/openapi.json", { config: { auth: "public" }, schema: { hide: true } }, async () =>
        app.swagger(),
      );
      await api.register(usersRoutes({ users: opts.services.users }));
      await api.register(groupsRoutes({ groups: opts.services.groups }));
      await api.register(agentsRoutes({ agents: opts.services.agents }));
      await api.register(connectionsRoutes({ connections: opts.services.connections }));
      await api.register(policiesRoutes({ policies: opts.services.policies }));
      await api.register(sessionsRoutes({ sessions: opts.services.sessions }));
      await api.register(reviewsRoutes({ reviews: opts.services.reviews.service }));
      await api.register(keysRoutes({ keys: opts.services.keys }));
      await api.register(
        notificationsRoutes({
          channels: opts.services.notificationChannels,
          notifications: opts.services.notifications,
        }),
      );
      await api.register(sshRoutes({ ssh: opts.services.ssh }));
      await api.register(caRoutes({ caPem: opts.caPem }));
      await api.register(auditRoutes({ prisma: opts.prisma, audit: opts.services.audit }));
      await api.register(
        authRoutes({
          tokens: opts.services.tokens,
          exchange: opts.services.tokenExchange,
          oidc: opts.services.oidcLogin,
          publicUrl: opts.publicUrl,
          mcpLogin: opts.services.mcpOAuth.authorization,
        }),
      );
      await api.register(identityRoutes({ issuers: opts.services.trustedIssuers, prisma: opts.prisma }));
    },
    { prefix: "/api/v1" },
  );
  return app;
}
