import type { Logger } from "@sluice/logger";
import type { Db } from "../../lib/db";
import type { Actor, Mutate } from "../../lib/mutate";
import { runEvery } from "../../lib/periodic";
import type { SessionRevoker } from "../sessions/session-revoker";
import { currentAccessGrant } from "./access-gate";
import type { ReviewEffects } from "./review-effects";
import { type ReviewRow, reviewInclude } from "./review-model";

const system: Actor = { principal: null, kind: "system" };
const BATCH = 200;
/** A session whose grant was issued this recently may still connect, so it is checked too. */
const PENDING_WINDOW_MS = 15 * 60_000;
/** How often the same session is told again to end while the agent has not reported it ended. */
const RENUDGE_MS = 30_000;

export type ReviewSweeper = ReturnType<typeof createReviewSweeper>;

/**
 * Time-driven review changes: pending reviews expire at `expiresAt`, and when an
 * access window (`accessUntil`) ends the requester's live sessions on the connection
 * are ended. Each review change is claimed with a guarded update, so with several
 * replicas sweeping, exactly one records it.
 */
export function createReviewSweeper(deps: {
  prisma: Db;
  mutate: Mutate;
  effects: Pick<ReviewEffects, "decided">;
  revoker: Pick<SessionRevoker, "endFor">;
}) {
  const { prisma, mutate } = deps;
  const nudged = new Map<string, number>();

  /** Marks a pending review expired if its time is up; returns it when this call did so. */
  async function expire(id: string, now = new Date()): Promise<ReviewRow | undefined> {
    const row = await mutate(system, async ({ tx, audit }) => {
      const claimed = await tx.review.updateMany({
        where: { id, status: "pending", expiresAt: { lte: now } },
        data: { status: "expired", decidedAt: now },
      });
      if (claimed.count === 0) return undefined;
      const r = await tx.review.findUniqueOrThrow({ where: { id }, include: reviewInclude });
      await audit({
        action: "review.expire",
        targetType: "review",
        targetId: id,
        details: {
          kind: r.kind,
          connection: r.connection.name,
          statementHash: r.statementHash,
          session: r.sessionId,
        },
      });
      return r;
    });
    if (row) await deps.effects.decided(row);
    return row;
  }

  /** Records that an approved access window has passed; `enforce` ends the sessions it covered. */
  async function endAccessWindow(id: string, now: Date): Promise<boolean> {
    const row = await mutate(system, async ({ tx, audit }) => {
      // For access reviews `consumedAt` records when the window was closed.
      const claimed = await tx.review.updateMany({
        where: { id, kind: "access", status: "approved", accessUntil: { lte: now }, consumedAt: null },
        data: { consumedAt: now },
      });
      if (claimed.count === 0) return undefined;
      const r = await tx.review.findUniqueOrThrow({ where: { id }, include: reviewInclude });
      await audit({
        action: "review.access_ended",
        targetType: "review",
        targetId: id,
        details: { connection: r.connection.name, user: r.requester.name },
      });
      return r;
    });
    return row !== undefined;
  }

  /**
   * Ends live sessions on connections that require approval whose user holds no current
   * approval: a session whose grant was used after the window closed, or one a failed
   * revocation left running.
   */
  async function enforce(now: Date): Promise<number> {
    const guarded = await prisma.connection.findMany({
      where: { options: { path: ["access", "requireApproval"], equals: true } },
      select: { id: true },
    });
    if (guarded.length === 0) return 0;
    const live = await prisma.session.findMany({
      where: {
        connectionId: { in: guarded.map((c) => c.id) },
        endedAt: null,
        agentId: { not: null },
        OR: [
          { status: "active" },
          { status: "pending", startedAt: { gt: new Date(now.getTime() - PENDING_WINDOW_MS) } },
        ],
      },
      select: { id: true, userId: true, connectionId: true },
      take: 5000,
    });
    for (const [id, at] of nudged) if (now.getTime() - at > RENUDGE_MS) nudged.delete(id);
    const groups = new Map<string, { userId: string; connectionId: string; ids: string[] }>();
    for (const s of live) {
      if (nudged.has(s.id)) continue;
      const key = `${s.userId}:${s.connectionId}`;
      const g = groups.get(key) ?? { userId: s.userId, connectionId: s.connectionId, ids: [] };
      g.ids.push(s.id);
      groups.set(key, g);
    }
    let ended = 0;
    for (const g of groups.values()) {
      if (await currentAccessGrant(prisma, g.userId, g.connectionId, now)) continue;
      await deps.revoker.endFor(
        { userId: g.userId, connectionId: g.connectionId },
        "no approved access to this connection",
      );
      for (const id of g.ids) nudged.set(id, now.getTime());
      ended += g.ids.length;
    }
    return ended;
  }

  async function sweep(
    now = new Date(),
  ): Promise<{ expired: number; accessEnded: number; enforced: number }> {
    const due = await prisma.review.findMany({
      where: { status: "pending", expiresAt: { lte: now } },
      select: { id: true },
      orderBy: { expiresAt: "asc" },
      take: BATCH,
    });
    let expired = 0;
    for (const r of due) if (await expire(r.id, now)) expired++;
    const ended = await prisma.review.findMany({
      where: { kind: "access", status: "approved", accessUntil: { lte: now }, consumedAt: null },
      select: { id: true },
      orderBy: { accessUntil: "asc" },
      take: BATCH,
    });
    let accessEnded = 0;
    for (const r of ended) if (await endAccessWindow(r.id, now)) accessEnded++;
    return { expired, accessEnded, enforced: await enforce(now) };
  }

  return {
    expire,
    sweep,
    /** Sweeps every `intervalMs` until stopped; a sweep never overlaps the previous one. */
    start(intervalMs: number, logger: Logger): { stop(): Promise<void> } {
      return runEvery(intervalMs, sweep, (err) => logger.warn({ err }, "review sweep failed"));
    },
  };
}
