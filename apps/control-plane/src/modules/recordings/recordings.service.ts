import { AppError } from "@sluice/errors";
import type { RecordingBatch } from "@sluice/proto";
import { readEvent } from "@sluice/recording";
import type { Db, Tx } from "../../lib/db";
import { isUuid } from "../../lib/ids";
import type { AuditService } from "../audit/audit.service";
import { type Notifier, silentNotifier } from "../notifications/events";
import { publishRecordingNotices, type RecordedEvent } from "../notifications/recording-notices";

const MAX_EVENTS_PER_BATCH = 5000;
const MAX_PAYLOAD = 1024 * 1024;

export type RecordingsService = ReturnType<typeof createRecordingsService>;

/**
 * Stores recording batches from agents. (sessionId, seq) is the primary key, so a batch
 * re-sent after a reconnect is stored once. Session lifecycle events also move the
 * session's status, and a `gap` (events the agent could not vouch for: it was killed, a
 * spool file was torn or damaged) goes to the audit log, once, when first stored.
 */
export function createRecordingsService(deps: {
  prisma: Db;
  audit: Pick<AuditService, "appendIn" | "settle">;
  notifier?: Notifier;
}) {
  const { prisma } = deps;
  const notifier = deps.notifier ?? silentNotifier;

  async function applyLifecycle(
    tx: Tx,
    agentId: string,
    sessionId: string,
    kind: string,
    payload: Record<string, unknown>,
    at: Date,
  ): Promise<boolean> {
    if (kind === "session.start") {
      const started = await tx.session.updateMany({
        where: { id: sessionId, status: "pending" },
        data: {
          status: "active",
          clientAddress:
            typeof payload.clientAddress === "string" ? payload.clientAddress.slice(0, 200) : undefined,
        },
      });
      return started.count > 0;
    } else if (kind === "session.end") {
      const updated = await tx.session.updateMany({
        where: { id: sessionId, status: { in: ["pending", "active"] } },
        data: {
          status: payload.aborted === true ? "aborted" : payload.error ? "failed" : "closed",
          endedAt: at,
          endReason: typeof payload.reason === "string" ? payload.reason.slice(0, 500) : null,
          bytesIn: BigInt(Math.max(0, Math.floor(Number(payload.bytesIn) || 0))),
          bytesOut: BigInt(Math.max(0, Math.floor(Number(payload.bytesOut) || 0))),
        },
      });
      if (updated.count > 0) {
        await deps.audit.appendIn(tx, {
          actorId: agentId,
          actorKind: "agent",
          action: "session.end",
          targetType: "session",
          targetId: sessionId,
          outcome: "success",
          details: { reason: payload.reason ?? null, ...(payload.aborted === true ? { aborted: true } : {}) },
        });
      }
      return updated.count > 0;
    }
    return false;
  }

  async function auditGap(
    tx: Tx,
    agentId: string,
    sessionId: string,
    payload: Record<string, unknown>,
    seq: bigint,
  ) {
    const gap = readEvent("gap", payload);
    await deps.audit.appendIn(tx, {
      actorId: agentId,
      actorKind: "agent",
      action: "recording.gap",
      targetType: "session",
      targetId: sessionId,
      outcome: "failure",
      details: {
        seq: Number(seq),
        fromSeq: gap?.fromSeq ?? null,
        toSeq: gap?.toSeq ?? null,
        reason: (gap?.reason ?? "unknown").slice(0, 100),
      },
    });
  }

  return {
    /** Stores a batch and returns the highest sequence number now safely stored. */
    async ingest(agentId: string, batch: RecordingBatch): Promise<number> {
      if (!isUuid(batch.sessionId)) throw new AppError("request.invalid", "unknown session id");
      if (batch.events.length > MAX_EVENTS_PER_BATCH)
        throw new AppError("request.too_large", "too many events in one batch");
      const session = await prisma.session.findUnique({
        where: { id: batch.sessionId },
        select: {
          id: true,
          agentId: true,
          protocol: true,
          user: { select: { name: true } },
          connection: { select: { name: true } },
        },
      });
      if (!session || session.agentId !== agentId)
        throw new AppError("session.not_found", "session not found for this agent");
      if (batch.events.length === 0) return 0;
      const rows = batch.events.map((e) => {
        if (e.payloadJson.length > MAX_PAYLOAD)
          throw new AppError("request.too_large", `event ${e.seq} is too large`);
        let payload: Record<string, unknown>;
        try {
          payload = JSON.parse(e.payloadJson || "{}") as Record<string, unknown>;
        } catch {
          throw new AppError("request.invalid", `event ${e.seq} has malformed JSON`);
        }
        return {
          sessionId: batch.sessionId,
          seq: BigInt(e.seq),
          kind: e.kind.slice(0, 64),
          at: new Date(e.atUnixMs),
          payload,
        };
      });
      // Events, the status they move and their audit entries commit together: a reader
      // that sees a session's `session.end` also sees the session closed.
      const { fresh, transitioned } = await prisma.$transaction(async (tx) => {
        const inserted = await tx.recordingChunk.createManyAndReturn({
          data: rows.map((r) => ({ ...r, payload: r.payload as object })),
          skipDuplicates: true,
          select: { seq: true },
        });
        const fresh = new Set(inserted.map((r) => r.seq));
        const transitioned: RecordedEvent[] = [];
        for (const r of rows) {
          if (r.kind === "gap" && fresh.has(r.seq))
            await auditGap(tx, agentId, r.sessionId, r.payload, r.seq);
          if (r.kind === "session.start" || r.kind === "session.end") {
            if (await applyLifecycle(tx, agentId, r.sessionId, r.kind, r.payload, r.at)) transitioned.push(r);
          }
        }
        return { fresh, transitioned };
      });
      // Chained right after, without waiting: ingest must not queue behind chain passes.
      void deps.audit.settle();
      publishRecordingNotices(notifier, session, {
        transitioned,
        stored: rows.filter((r) => fresh.has(r.seq)),
      });
      return Math.max(...batch.events.map((e) => e.seq));
    },
  };
}
