import type { Logger } from "@sluice/logger";
import type { Db } from "../../lib/db";
import { runEvery } from "../../lib/periodic";
import { type AuditService, outboxRow } from "../audit/audit.service";
import type { Metrics } from "../metrics/metrics";

/** A grant may be presented a little after its expiry (clock skew); wait that long too. */
const GRACE_SECONDS = 30;
const BATCH = 500;
const REASON = "the grant expired before any client connected";

/**
 * Closes sessions nobody will ever use: brokered (`pending`), grant expired, never
 * started on an agent — the client gave up, or the agent stopped waiting for the answer.
 * Each is set `aborted` with the reason and audited, in one transaction; replicas can run
 * this concurrently (rows are claimed with SKIP LOCKED).
 */
export function createSessionSweeper(deps: {
  prisma: Db;
  audit: Pick<AuditService, "settle">;
  metrics: Pick<Metrics, "sessionsAborted">;
}) {
  async function sweep(now = new Date()): Promise<number> {
    const cutoff = new Date(now.getTime() - GRACE_SECONDS * 1000);
    const aborted = await deps.prisma.$transaction(async (tx) => {
      const rows = await tx.$queryRawUnsafe<{ id: string; agentId: string | null }[]>(
        `UPDATE sessions SET status = 'aborted', "endedAt" = $1::timestamp, "endReason" = $2
         WHERE id IN (SELECT id FROM sessions WHERE status = 'pending' AND "grantExpires" < $3::timestamp
                      ORDER BY "grantExpires" LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)
         RETURNING id::text AS id, "agentId"::text AS "agentId"`,
        now.toISOString(),
        REASON,
        cutoff.toISOString(),
      );
      if (rows.length > 0) {
        await tx.auditOutbox.createMany({
          data: rows.map((r) =>
            outboxRow({
              actorKind: "system",
              action: "session.end",
              targetType: "session",
              targetId: r.id,
              outcome: "success",
              details: { reason: REASON, aborted: true, agent: r.agentId },
            }),
          ),
        });
      }
      return rows.length;
    });
    if (aborted > 0) {
      deps.metrics.sessionsAborted.inc({ reason: "grant_expired" }, aborted);
      await deps.audit.settle();
    }
    return aborted;
  }

  return {
    sweep,
    start(intervalMs: number, logger: Logger): { stop(): Promise<void> } {
      const task = async () => {
        const n = await sweep();
        if (n > 0)
          logger.info({ aborted: n }, "closed sessions whose grant expired before a client connected");
      };
      return runEvery(intervalMs, task, (err) => logger.warn({ err }, "session sweep failed"));
    },
  };
}
