import type { Redis } from "ioredis";
import type { Db } from "./lib/db";
import { createMutate } from "./lib/mutate";
import { createAgentsService } from "./modules/agents/agents.service";
import { createAuditService } from "./modules/audit/audit.service";
import { createAuthService } from "./modules/auth/auth.service";
import { createConnectionsService } from "./modules/connections/connections.service";
import { createGroupsService } from "./modules/groups/groups.service";
import { createKeysService } from "./modules/keys/keys.service";
import { createPoliciesService } from "./modules/policies/policies.service";
import { createRecordingsService } from "./modules/recordings/recordings.service";
import { createSessionsService } from "./modules/sessions/sessions.service";
import { createStateService, stateChannel } from "./modules/state/state.service";
import { createUsersService } from "./modules/users/users.service";

/** Wires the domain services. Transport layers (REST, gRPC) receive this object. */
export interface ServiceOptions {
  prisma: Db;
  redis: Pick<Redis, "publish">;
  redisPrefix: string;
  masterKey: Buffer;
  grantTtlSeconds: number;
}

export function createServices(deps: ServiceOptions) {
  const { prisma } = deps;
  const audit = createAuditService({ prisma });
  const state = createStateService({ prisma, redis: deps.redis, channel: stateChannel(deps.redisPrefix) });
  const mutate = createMutate({ prisma, audit, state });
  const keys = createKeysService({
    prisma,
    mutate,
    masterKey: deps.masterKey,
    grantTtlSeconds: deps.grantTtlSeconds,
  });
  return {
    keys,
    sessions: createSessionsService({ prisma, mutate, keys }),
    recordings: createRecordingsService({ prisma, audit }),
    audit,
    state,
    mutate,
    auth: createAuthService({ prisma }),
    users: createUsersService({ prisma, mutate }),
    groups: createGroupsService({ prisma, mutate }),
    agents: createAgentsService({ prisma, mutate }),
    connections: createConnectionsService({ prisma, mutate }),
    policies: createPoliciesService({ prisma, mutate }),
  };
}

export type Services = ReturnType<typeof createServices>;
