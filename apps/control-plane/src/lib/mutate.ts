import type { AuditEntry, AuditService } from "../modules/audit/audit.service";
import type { StateKind, StateService } from "../modules/state/state.service";
import type { Principal } from "../server/principal";
import type { Db, Tx } from "./db";

/** Who is acting, for the audit log. */
export interface Actor {
  principal: Principal | null;
  clientAddress?: string | null;
  kind?: AuditEntry["actorKind"];
  id?: string;
}

export interface MutationScope {
  tx: Tx;
  audit(
    entry: Omit<AuditEntry, "actorId" | "actorKind" | "clientAddress" | "outcome"> & {
      outcome?: AuditEntry["outcome"];
    },
  ): Promise<void>;
  change(kind: StateKind, entityId: string): Promise<void>;
}

export type Mutate = <T>(actor: Actor, fn: (scope: MutationScope) => Promise<T>) => Promise<T>;

/**
 * Runs a mutation, its audit entries and its agent-state changes in one transaction,
 * then tells the agents' link about the new state version and links the audit entries
 * into the chain after commit.
 */
export function createMutate(deps: {
  prisma: Db;
  audit: Pick<AuditService, "appendIn" | "settle">;
  state: Pick<StateService, "recordIn" | "publish">;
}): Mutate {
  return async (actor, fn) => {
    let latest: bigint | undefined;
    let audited = false;
    const result = await deps.prisma.$transaction(async (tx) => {
      const scope: MutationScope = {
        tx,
        audit: (entry) => {
          audited = true;
          return deps.audit.appendIn(tx, {
            outcome: "success",
            ...entry,
            actorId: actor.id ?? actor.principal?.userId ?? null,
            actorKind: actor.kind ?? (actor.principal?.kind === "service" ? "service" : "user"),
            clientAddress: actor.clientAddress ?? null,
          });
        },
        change: async (kind, entityId) => {
          latest = await deps.state.recordIn(tx, kind, entityId);
        },
      };
      return fn(scope);
    });
    if (latest !== undefined) await deps.state.publish(latest);
    // The entries are committed in the outbox; wait for the chainer so a caller that reads
    // the audit log next sees them. Concurrent mutations share one chaining pass.
    if (audited) await deps.audit.settle();
    return result;
  };
}
