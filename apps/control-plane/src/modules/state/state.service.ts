import type { Redis } from "ioredis";
import type { Db, Tx } from "../../lib/db";

export const stateChannel = (prefix: string) => `${prefix}state-changed`;

/** Serializes state versions across every control-plane replica (see recordIn). */
const VERSION_LOCK = 7313005;

export type StateKind =
  | "connection.upsert"
  | "connection.delete"
  | "policy.upsert"
  | "policy.delete"
  | "agent.update"
  | "agent.revoke"
  | "keys.rotate";

export type StateService = ReturnType<typeof createStateService>;

/**
 * The versioned change log agents follow. A change is appended in the same
 * transaction as the mutation; after commit, `publish` tells every replica (via
 * Redis pub/sub) to push it to the agents connected there.
 */
export function createStateService(deps: { prisma: Db; redis: Pick<Redis, "publish">; channel: string }) {
  async function recordIn(tx: Tx, kind: StateKind, entityId: string): Promise<bigint> {
    // Versions are handed out in commit order: a version is taken only once every earlier
    // one has committed (or rolled back). Without this, two replicas committing out of
    // order would let an agent step over a version that becomes visible later.
    await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${VERSION_LOCK})`);
    const row = await tx.stateChange.create({ data: { kind, entityId } });
    return row.version;
  }

  async function publish(version: bigint): Promise<void> {
    await deps.redis.publish(deps.channel, version.toString());
  }

  async function currentVersion(): Promise<bigint> {
    const last = await deps.prisma.stateChange.findFirst({
      orderBy: { version: "desc" },
      select: { version: true },
    });
    return last?.version ?? 0n;
  }

  async function changesSince(version: bigint, limit = 5000) {
    return deps.prisma.stateChange.findMany({
      where: { version: { gt: version } },
      orderBy: { version: "asc" },
      take: limit,
    });
  }

  return { recordIn, publish, currentVersion, changesSince };
}
