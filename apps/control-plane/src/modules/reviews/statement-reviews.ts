import { createHash } from "node:crypto";
import { AppError } from "@sluice/errors";
import type { ReviewState, StatementReviewRequest } from "@sluice/proto";
import type { z } from "zod";
import type { Db } from "../../lib/db";
import { isUuid } from "../../lib/ids";
import type { Actor, Mutate, MutationScope } from "../../lib/mutate";
import { reviewRule } from "../policies/policies.schemas";
import type { ReviewEffects } from "./review-effects";
import { type ReviewRow, reviewInclude, toReviewState } from "./review-model";
import type { ReviewSweeper } from "./review-sweeper";
import { MAX_STATEMENT_BYTES } from "./reviews.schemas";

export interface StatementReviewsDeps {
  prisma: Db;
  mutate: Mutate;
  effects: Pick<ReviewEffects, "requested">;
  sweeper: Pick<ReviewSweeper, "expire">;
  publicUrl: () => string;
  /** An approval not used within this many seconds of its decision no longer runs the statement. */
  approvalTtlSeconds: number;
}

export function statementHash(statement: string): string {
  return createHash("sha256").update(statement, "utf8").digest("hex");
}

type ReviewRule = z.infer<typeof reviewRule>;

/** One held statement inside the transaction that decides what becomes of it. */
interface Held extends MutationScope {
  session: { id: string; userId: string; connectionId: string; connection: { name: string } };
  hash: string;
  now: Date;
  req: StatementReviewRequest;
  /** The policy's last change: approvals decided before it are not used. */
  policyUpdatedAt: Date;
  approvalTtlSeconds: number;
}

/**
 * An approval given while nobody held the statement runs it exactly once, within the
 * approval's time to live; returns it when used now.
 */
async function consumeApproved(h: Held) {
  const approved = await h.tx.review.findFirst({
    where: {
      kind: "statement",
      status: "approved",
      consumedAt: null,
      decidedAt: { gt: new Date(h.now.getTime() - h.approvalTtlSeconds * 1000) },
      requesterId: h.session.userId,
      connectionId: h.session.connectionId,
      statementHash: h.hash,
      // Bound to the rule that held it and to the policy as it was: an approval given
      // before the policy changed does not carry over to the changed policy.
      policyId: h.req.policyId,
      ruleName: h.req.ruleName,
      AND: [{ decidedAt: { gt: h.policyUpdatedAt } }],
    },
    orderBy: { decidedAt: "asc" },
  });
  if (!approved) return undefined;
  // Guarded: a revocation committed since the read wins.
  const claimed = await h.tx.review.updateMany({
    where: { id: approved.id, status: "approved", consumedAt: null },
    data: { consumedAt: h.now },
  });
  if (claimed.count === 0) return undefined;
  await h.audit({
    action: "review.consume",
    targetType: "review",
    targetId: approved.id,
    details: { connection: h.session.connection.name, session: h.session.id, statementHash: h.hash },
  });
  return h.tx.review.findUniqueOrThrow({ where: { id: approved.id } });
}

async function openReview(h: Held, rule: ReviewRule): Promise<ReviewRow> {
  const created = await h.tx.review.create({
    data: {
      kind: "statement",
      requesterId: h.session.userId,
      connectionId: h.session.connectionId,
      sessionId: h.session.id,
      reason: `statement matched review rule ${rule.name}`,
      statement: h.req.statement,
      statementHash: h.hash,
      expiresAt: new Date(h.now.getTime() + rule.timeoutSeconds * 1000),
      requiredGroups: rule.reviewerGroups,
      minApprovals: rule.minApprovals,
      policyId: h.req.policyId,
      ruleName: rule.name,
    },
    include: reviewInclude,
  });
  await h.audit({
    action: "review.request",
    targetType: "review",
    targetId: created.id,
    details: {
      kind: "statement",
      connection: h.session.connection.name,
      session: h.session.id,
      policy: h.req.policyId,
      rule: rule.name,
      statementHash: h.hash,
      statement: h.req.statement,
    },
  });
  return created;
}

export type StatementReviews = ReturnType<typeof createStatementReviews>;

/**
 * The agent's side of statement reviews. The agent names the rule that matched; the
 * rule itself (reviewers, approvals, timeout) comes from the policies attached to the
 * session's connection, never from the agent.
 */
export function createStatementReviews(deps: StatementReviewsDeps) {
  const { prisma, mutate } = deps;
  const state = (row: Parameters<typeof toReviewState>[0]) => toReviewState(row, deps.publicUrl());

  function validate(req: StatementReviewRequest): void {
    if (!isUuid(req.sessionId)) throw new AppError("request.invalid", "session_id must be a session id");
    if (!isUuid(req.policyId)) throw new AppError("review.unknown_rule", "policy_id must be a policy id");
    if (!req.ruleName || req.ruleName.length > 100) {
      throw new AppError("review.unknown_rule", "rule_name must name a review rule");
    }
    if (!req.statement) throw new AppError("request.invalid", "statement must not be empty");
    if (Buffer.byteLength(req.statement, "utf8") > MAX_STATEMENT_BYTES) {
      throw new AppError("request.too_large", `statement is longer than ${MAX_STATEMENT_BYTES} bytes`);
    }
  }

  /** The session of this agent, still live. */
  async function liveSession(agentId: string, sessionId: string) {
    const session = await prisma.session.findUnique({
      where: { id: sessionId },
      include: { connection: { select: { id: true, name: true } } },
    });
    if (!session || session.agentId !== agentId) {
      throw new AppError("session.not_found", "session not found for this agent");
    }
    if (session.endedAt || (session.status !== "pending" && session.status !== "active")) {
      throw new AppError("review.session_inactive", `session ${sessionId} has ended`);
    }
    return session;
  }

  /** The review rule as stored in a policy attached to the connection; anything else fails closed. */
  async function ruleFor(
    connectionId: string,
    policyId: string,
    ruleName: string,
  ): Promise<{ rule: ReviewRule; policyUpdatedAt: Date }> {
    const attached = await prisma.connectionPolicy.findFirst({
      where: { connectionId, policyId },
      include: { policy: { select: { reviewRules: true, updatedAt: true } } },
    });
    const rules = Array.isArray(attached?.policy.reviewRules) ? attached.policy.reviewRules : [];
    const raw = rules.find(
      (r) => typeof r === "object" && r !== null && (r as { name?: unknown }).name === ruleName,
    );
    const parsed = reviewRule.safeParse(raw);
    if (!attached || !parsed.success) {
      throw new AppError(
        "review.unknown_rule",
        `no review rule ${ruleName} in policy ${policyId} of this session's connection`,
      );
    }
    return { rule: parsed.data, policyUpdatedAt: attached.policy.updatedAt };
  }

  return {
    async request(agentId: string, req: StatementReviewRequest): Promise<ReviewState> {
      validate(req);
      const session = await liveSession(agentId, req.sessionId);
      const { rule, policyUpdatedAt } = await ruleFor(session.connectionId, req.policyId, req.ruleName);
      const hash = statementHash(req.statement);
      const actor: Actor = { principal: null, kind: "agent", id: agentId };
      const now = new Date();
      const outcome = await mutate(actor, async (scope) => {
        const held: Held = {
          ...scope,
          session,
          hash,
          now,
          req,
          policyUpdatedAt,
          approvalTtlSeconds: deps.approvalTtlSeconds,
        };
        await scope.tx
          .$executeRaw`SELECT pg_advisory_xact_lock(7313003, hashtext(${`${session.userId}:${hash}`}))`;
        const used = await consumeApproved(held);
        if (used) return { row: used, created: undefined };
        // The agent asking again for the same held statement gets the same review.
        const waiting = await scope.tx.review.findFirst({
          where: { kind: "statement", status: "pending", sessionId: session.id, statementHash: hash },
        });
        if (waiting) return { row: waiting, created: undefined };
        const created = await openReview(held, rule);
        return { row: created, created };
      });
      if (outcome.created) await deps.effects.requested(outcome.created);
      return state(outcome.row);
    },

    /** A review of one of this agent's sessions; expired on the spot if its time is up. */
    async get(agentId: string, reviewId: string): Promise<ReviewState> {
      const row = isUuid(reviewId)
        ? await prisma.review.findUnique({
            where: { id: reviewId },
            include: { session: { select: { agentId: true } } },
          })
        : null;
      if (!row || row.session?.agentId !== agentId) {
        throw new AppError("review.not_found", `review ${reviewId} not found for this agent`);
      }
      if (row.status === "pending" && row.expiresAt <= new Date()) {
        const expired = await deps.sweeper.expire(row.id);
        if (expired) return state(expired);
        return state(await prisma.review.findUniqueOrThrow({ where: { id: row.id } }));
      }
      return state(row);
    },
  };
}
