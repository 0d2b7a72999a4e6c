import type { Redis } from "ioredis";
import type { Db } from "./lib/db";
import { createMutate } from "./lib/mutate";
import { createAgentsService } from "./modules/agents/agents.service";
import { createAuditService } from "./modules/audit/audit.service";
import { createAuthService } from "./modules/auth/auth.service";
import { createConnectionsService } from "./modules/connections/connections.service";
import { createGroupsService } from "./modules/groups/groups.service";
import { createPoliciesService } from "./modules/policies/policies.service";
import { createStateService, stateChannel } from "./modules/state/state.service";
import { createUsersService } from "./modules/users/users.service";

/** Wires the domain services. Transport layers (REST, gRPC) receive this object. */
export function createServices(deps: { prisma: Db; redis: Pick<Redis, "publish">; redisPrefix: string }) {
  const { prisma } = deps;
  const audit = createAuditService({ prisma });
  const state = createStateService({ prisma, redis: deps.redis, channel: stateChannel(deps.redisPrefix) });
  const mutate = createMutate({ prisma, audit, state });
  return {
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
