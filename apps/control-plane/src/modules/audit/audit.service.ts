import type { Logger } from "@sluice/logger";
import type { Db, Tx } from "../../lib/db";
import { createAuditChainer } from "./audit-chainer";
import { canonicalJson } from "./audit-hash";

export { canonicalJson, entryHash, GENESIS_HASH, type HashedFields } from "./audit-hash";

export interface AuditEntry {
  actorId?: string | null;
  actorKind: "user" | "service" | "agent" | "system";
  action: string;
  targetType?: string;
  targetId?: string;
  outcome: "success" | "denied" | "failure";
  clientAddress?: string | null;
  details?: Record<string, unknown>;
}

export type AuditService = ReturnType<typeof createAuditService>;

/** The outbox row for an entry; its sequence number and hash are assigned when it is chained. */
export function outboxRow(entry: AuditEntry) {
  return {
    at: new Date(),
    actorId: entry.actorId ?? null,
    actorKind: entry.actorKind,
    action: entry.action,
    targetType: entry.targetType ?? null,
    targetId: entry.targetId ?? null,
    outcome: entry.outcome,
    clientAddress: entry.clientAddress ?? null,
    details: JSON.parse(canonicalJson(entry.details ?? {})) as object,
  };
}

/**
 * The hash-chained audit log. An entry is written to the outbox inside the caller's
 * transaction (so it commits, or not, with the change it describes) and linked into the
 * chain by the chainer right after; appends never serialize on each other.
 */
export function createAuditService(deps: { prisma: Db; logger: Logger }) {
  const chainer = createAuditChainer(deps);

  async function appendIn(tx: Tx, entry: AuditEntry): Promise<void> {
    await tx.auditOutbox.create({ data: outboxRow(entry) });
  }

  return {
    /** Appends inside the caller's transaction; call `settle()` after it commits. */
    appendIn,
    /**
     * Commits the entry (to the outbox) and has it chained right after, without waiting
     * for the chaining: hot paths (recording ingest) must not queue behind chain passes.
     * Audit reads settle first, so a reader still sees it.
     */
    async append(entry: AuditEntry): Promise<void> {
      await deps.prisma.auditOutbox.create({ data: outboxRow(entry) });
      void chainer.settle();
    },
    /** Resolves once every entry committed so far is in the chain (read-your-writes for audit readers). */
    settle: chainer.settle,
    backlog: chainer.backlog,
    start: chainer.start,
    stop: chainer.stop,
  };
}
