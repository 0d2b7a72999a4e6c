import type { Logger } from "@sluice/logger";
import type { Db } from "../../lib/db";

interface Beat {
  activeSessions: number;
  stateVersion: bigint;
  at: Date;
  written: ((ok: boolean) => void)[];
}

export interface HeartbeatWriterDeps {
  prisma: Db;
  replicaId: string;
  logger: Pick<Logger, "warn">;
  /** How long heartbeats gather before one write records them all (default 1 s). */
  flushMs?: number;
}

export type HeartbeatWriter = ReturnType<typeof createHeartbeatWriter>;

/**
 * Records agents' heartbeats in the database in batches: every heartbeat that arrived
 * within `flushMs` is written by one UPDATE, so a thousand agents beating every few
 * seconds cost about one statement a second instead of hundreds. Only rows this replica
 * owns (`connectedReplica`) are refreshed, so a late write from a replica an agent has
 * left never takes the agent back.
 */
export function createHeartbeatWriter(deps: HeartbeatWriterDeps) {
  const flushMs = deps.flushMs ?? 1000;
  let pending = new Map<string, Beat>();
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();

  async function write(beats: Map<string, Beat>): Promise<void> {
    const ids: string[] = [];
    const ats: string[] = [];
    const sessions: number[] = [];
    const versions: string[] = [];
    for (const [id, b] of beats) {
      ids.push(id);
      ats.push(b.at.toISOString());
      sessions.push(b.activeSessions);
      versions.push(b.stateVersion.toString());
    }
    // Timestamps are stored as UTC wall time (timestamp(3) without time zone), as Prisma does.
    await deps.prisma.$executeRaw`
      UPDATE agents AS a
         SET "lastSeenAt" = v.at, status = 'online', "activeSessions" = v.sessions,
             "stateVersion" = v.version, "updatedAt" = v.at
        FROM unnest(${ids}::uuid[], ${ats}::timestamp(3)[], ${sessions}::int[], ${versions}::bigint[])
             AS v(id, at, sessions, version)
       WHERE a.id = v.id AND a."connectedReplica" = ${deps.replicaId} AND a.status <> 'revoked'`;
  }

  function flush(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pending.size === 0) return flushing;
    const beats = pending;
    pending = new Map();
    const done = (ok: boolean) => {
      for (const b of beats.values()) for (const w of b.written) w(ok);
    };
    flushing = flushing.then(() =>
      write(beats).then(
        () => done(true),
        (err: unknown) => {
          deps.logger.warn({ err, agents: beats.size }, "heartbeats not recorded");
          done(false);
        },
      ),
    );
    return flushing;
  }

  return {
    /**
     * Notes an agent's heartbeat; it reaches the database within `flushMs`. Resolves
     * true once written (false when the write failed or the heartbeat was forgotten).
     */
    record(agentId: string, beat: Pick<Beat, "activeSessions" | "stateVersion">): Promise<boolean> {
      return new Promise((resolve) => {
        const written = pending.get(agentId)?.written ?? [];
        written.push(resolve);
        pending.set(agentId, { ...beat, at: new Date(), written });
        timer ??= setTimeout(() => void flush(), flushMs);
      });
    },
    /** Forgets a heartbeat not yet written (the agent's link on this replica ended). */
    forget(agentId: string): void {
      for (const w of pending.get(agentId)?.written ?? []) w(false);
      pending.delete(agentId);
    },
    /** Writes what is pending now. */
    flush,
  };
}
