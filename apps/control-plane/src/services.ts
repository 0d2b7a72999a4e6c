import type { Logger } from "@sluice/logger";
import type { Redis } from "ioredis";
import type { Db, Sql } from "./lib/db";
import { createMutate } from "./lib/mutate";
import { createAgentsService } from "./modules/agents/agents.service";
import { createAuditService } from "./modules/audit/audit.service";
import { createAuthService } from "./modules/auth/auth.service";
import { createTokensService, type TokenSettings } from "./modules/auth/tokens.service";
import { createConnectionsService } from "./modules/connections/connections.service";
import { createGroupsService } from "./modules/groups/groups.service";
import { createOidcLoginService, type OidcSettings } from "./modules/identity/oidc-login.service";
import { createTokenExchangeService } from "./modules/identity/token-exchange.service";
import { createTrustedIssuersService } from "./modules/identity/trusted-issuers.service";
import { createKeysService } from "./modules/keys/keys.service";
import { createChannelsService } from "./modules/notifications/channels.service";
import type { Notifier } from "./modules/notifications/events";
import {
  createNotificationsService,
  type NotificationsDeps,
} from "./modules/notifications/notifications.service";
import { mcpResource } from "./modules/oauth/metadata";
import { createMcpOAuth } from "./modules/oauth/oauth.service";
import { createPoliciesService } from "./modules/policies/policies.service";
import { createRecordingsService } from "./modules/recordings/recordings.service";
import { createReviews, type ReviewsDeps } from "./modules/reviews/create-reviews";
import { createSessionRate, type SessionRateSettings } from "./modules/sessions/session-rate";
import {
  createSessionRevoker,
  credentialsRevokedChannel,
  endSessionsChannel,
} from "./modules/sessions/session-revoker";
import { createSessionsService } from "./modules/sessions/sessions.service";
import { createSshService } from "./modules/ssh/ssh.service";
import { createSshAuth } from "./modules/ssh/ssh-auth";
import { createSshCa } from "./modules/ssh/ssh-ca";
import { createStateService, stateChannel } from "./modules/state/state.service";
import { createUsersService } from "./modules/users/users.service";

/** Wires the domain services. Transport layers (REST, gRPC) receive this object. */
export interface ServiceOptions {
  prisma: Db;
  /** Plain SQL on the same pool, for session admission. */
  sql: Sql;
  logger: Logger;
  redis: Pick<Redis, "publish" | "multi">;
  /** Per-minute limits on opening sessions (0: none). */
  sessionRate: SessionRateSettings;
  redisPrefix: string;
  masterKey: Buffer;
  grantTtlSeconds: number;
  tokens: TokenSettings;
  oidc: OidcSettings | undefined;
  /** Where links to reviews point, and the logger for failed review side effects. */
  reviews: Pick<ReviewsDeps, "publicUrl" | "logger" | "approvalTtlSeconds">;
  /** The delivery queue (BullMQ on Redis), attempt timeout and logger for notifications. */
  notifications: Pick<NotificationsDeps, "queue" | "requestTimeoutMs" | "logger">;
}

export function createServices(deps: ServiceOptions) {
  const { prisma } = deps;
  const audit = createAuditService({ prisma, logger: deps.logger.child({ component: "audit" }) });
  const state = createStateService({ prisma, redis: deps.redis, channel: stateChannel(deps.redisPrefix) });
  const mutate = createMutate({ prisma, audit, state });
  const keys = createKeysService({
    prisma,
    mutate,
    masterKey: deps.masterKey,
    grantTtlSeconds: deps.grantTtlSeconds,
  });
  const revoker = createSessionRevoker({
    prisma,
    redis: deps.redis,
    channel: endSessionsChannel(deps.redisPrefix),
    revokedChannel: credentialsRevokedChannel(deps.redisPrefix),
  });
  const tokens = createTokensService({ prisma, mutate, keys, revoker, settings: deps.tokens });
  const sshCa = createSshCa({ prisma, masterKey: deps.masterKey });
  const notificationChannels = createChannelsService({ prisma, mutate, masterKey: deps.masterKey });
  const notifications = createNotificationsService({
    prisma,
    mutate,
    channels: notificationChannels,
    ...deps.notifications,
  });
  /** Other modules publish events here: `notifier.publish("review.requested", {...})`. */
  const notifier: Notifier = notifications.notifier;
  const reviews = createReviews({
    prisma,
    mutate,
    redis: deps.redis,
    redisPrefix: deps.redisPrefix,
    revoker,
    notifier,
    ...deps.reviews,
  });
  const auth = createAuthService({ prisma, sql: deps.sql, keys });
  const oidcLogin = createOidcLoginService({ prisma, mutate, tokens, settings: deps.oidc });
  return {
    keys,
    tokens,
    revoker,
    trustedIssuers: createTrustedIssuersService({ prisma, mutate }),
    tokenExchange: createTokenExchangeService({
      prisma,
      mutate,
      tokens,
      mcpResource: () => mcpResource(deps.reviews.publicUrl()),
    }),
    oidcLogin,
    mcpOAuth: createMcpOAuth({
      prisma,
      tokens,
      oidc: oidcLogin,
      auth,
      masterKey: deps.masterKey,
      publicUrl: deps.reviews.publicUrl,
    }),
    sessions: createSessionsService({
      prisma,
      sql: deps.sql,
      mutate,
      audit,
      keys,
      rate: createSessionRate({ redis: deps.redis, prefix: deps.redisPrefix, settings: deps.sessionRate }),
    }),
    recordings: createRecordingsService({ prisma, audit, notifier }),
    audit,
    state,
    mutate,
    auth,
    users: createUsersService({ prisma, mutate, tokens, revoker }),
    groups: createGroupsService({ prisma, mutate }),
    agents: createAgentsService({ prisma, mutate }),
    connections: createConnectionsService({ prisma, mutate }),
    notificationChannels,
    notifications,
    notifier,
    policies: createPoliciesService({ prisma, mutate }),
    reviews,
    ssh: createSshService({ prisma, mutate, ca: sshCa, revoker }),
    sshAuth: createSshAuth({ prisma, ca: sshCa }),
  };
}

export type Services = ReturnType<typeof createServices>;
