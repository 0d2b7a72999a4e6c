import type { Logger } from "@sluice/logger";
import type { Db } from "../../lib/db";
import { canonicalJson, entryHash, GENESIS_HASH, type HashedFields } from "./audit-hash";

/** The advisory lock that makes one chainer at a time, across every control-plane replica. */
const CHAIN_LOCK = 7313001;
const BATCH = 1000;

interface OutboxRow {
  id: bigint;
  at: Date;
  actorId: string | null;
  actorKind: string;
  action: string;
  targetType: string | null;
  targetId: string | null;
  outcome: string;
  clientAddress: string | null;
  details: unknown;
}

export interface AuditChainer {
  /**
   * Resolves once every entry committed before the call is linked into the chain (a pass
   * that started after the call has finished). Never rejects: an entry that could not be
   * chained yet stays in the outbox for the next pass.
   */
  settle(): Promise<void>;
  /** Chains anything left in the outbox every `intervalMs` (entries from a replica that died). */
  start(intervalMs?: number): void;
  stop(): Promise<void>;
  /** Entries waiting in the outbox (for /metrics). */
  backlog(): Promise<number>;
}

/**
 * Links audit entries into the hash chain in batches. Writers only insert into
 * `audit_outbox` inside their own transaction, so no mutation waits for another; the
 * chainer then moves outbox rows into `audit_events` in id order under one advisory lock.
 *
 * Guarantees, tested in audit-chainer.test.ts:
 * - nothing is lost: a row leaves the outbox in the same transaction that chains it;
 * - nothing is reordered: the chain is only ever appended to, and an entry committed
 *   before another was written (cause before effect) always gets the lower sequence
 *   number, because a pass that sees the later id also sees every earlier committed one.
 */
export function createAuditChainer(deps: { prisma: Db; logger: Logger }): AuditChainer {
  let waiters: (() => void)[] = [];
  let running: Promise<void> | null = null;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  async function chainBatch(): Promise<number> {
    return deps.prisma.$transaction(async (tx) => {
      await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${CHAIN_LOCK})`);
      const rows = await tx.$queryRawUnsafe<OutboxRow[]>(
        `DELETE FROM audit_outbox WHERE id IN (SELECT id FROM audit_outbox ORDER BY id LIMIT ${BATCH})
         RETURNING id, at, "actorId", "actorKind", action, "targetType", "targetId", outcome, "clientAddress", details`,
      );
      if (rows.length === 0) return 0;
      rows.sort((a, b) => (a.id < b.id ? -1 : 1));
      const last = await tx.auditEvent.findFirst({
        orderBy: { seq: "desc" },
        select: { seq: true, hash: true },
      });
      let seq = last?.seq ?? 0n;
      let prevHash = last?.hash ?? GENESIS_HASH;
      const data = rows.map((r) => {
        seq += 1n;
        const fields: HashedFields = {
          seq,
          at: r.at,
          actorId: r.actorId,
          actorKind: r.actorKind,
          action: r.action,
          targetType: r.targetType,
          targetId: r.targetId,
          outcome: r.outcome,
          clientAddress: r.clientAddress,
          details: JSON.parse(canonicalJson(r.details ?? {})),
          prevHash,
        };
        prevHash = entryHash(fields);
        return { ...fields, details: fields.details as object, hash: prevHash };
      });
      await tx.auditEvent.createMany({ data });
      return rows.length;
    });
  }

  async function pass(): Promise<void> {
    while (waiters.length > 0) {
      const batch = waiters;
      waiters = [];
      try {
        while ((await chainBatch()) === BATCH) {}
      } catch (err) {
        if (!stopped) deps.logger.error({ err }, "audit entries could not be chained yet; retrying");
      }
      for (const done of batch) done();
    }
    running = null;
  }

  function settle(): Promise<void> {
    const done = new Promise<void>((resolve) => waiters.push(resolve));
    running ??= pass();
    return done;
  }

  return {
    settle,
    start(intervalMs = 1000) {
      timer = setInterval(() => void settle(), intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await settle();
      stopped = true;
    },
    async backlog() {
      const [row] = await deps.prisma.$queryRawUnsafe<{ n: bigint }[]>(
        "SELECT count(*) AS n FROM audit_outbox",
      );
      return Number(row?.n ?? 0);
    },
  };
}
