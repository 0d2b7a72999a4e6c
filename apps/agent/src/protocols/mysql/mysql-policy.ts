import type { ColumnDefinition, ResultMasker, Verdict, VerdictResult } from "@sluice/mysql-wire";
import {
  compileConnectionGuard,
  createMysqlDialect,
  type Guard,
  type GuardVerdict,
  MaskTally,
} from "@sluice/policy";
import type { SessionContext } from "../../core/broker";
import type { PolicyEvent, ReviewVerdict } from "../../core/policy-types";
import { MysqlCatalog, mysqlMessageMasker, mysqlResultMasker } from "./mysql-masking";

/** ER_SPECIFIC_ACCESS_DENIED_ERROR: what MySQL itself answers for a statement the account may not run. */
const DENIED_ERRNO = 1227;

/** What a MySQL session enforces: the guard in the MySQL dialect, masking, reviews. */
export interface MysqlSessionPolicy {
  readonly guard: Guard;
  /** The verdict for a COM_QUERY or COM_STMT_PREPARE text: now, or once a reviewer decides. */
  verdict(sql: string, signal: AbortSignal): VerdictResult;
  maskerFor?(columns: readonly ColumnDefinition[]): ResultMasker | undefined;
  /** Masks values quoted in server messages (ERR text). */
  maskMessage?(message: string): string;
  /** Records what masking did over the session. */
  end(): void;
}

type PolicyContext = Pick<SessionContext, "policy" | "requestReview" | "recordPolicy">;

function deny(message: string): Verdict {
  return { action: "deny", message, errorCode: DENIED_ERRNO, sqlState: "42000" };
}

async function review(
  ctx: PolicyContext,
  sql: string,
  v: ReviewVerdict,
  signal: AbortSignal,
): Promise<Verdict> {
  const base = { rule: v.rule, policyId: v.policyId, policy: v.policyName, statement: sql };
  const outcome = await ctx.requestReview(
    { kind: "sql", text: sql, verdict: v },
    (p) => ctx.recordPolicy({ decision: "held", ...base, reviewId: p.reviewId }),
    signal,
  );
  if (outcome.approved) {
    ctx.recordPolicy({ decision: "approved", ...base, reviewId: outcome.reviewId });
    return { action: "allow" };
  }
  ctx.recordPolicy({
    decision: "rejected",
    ...base,
    ...(outcome.reviewId ? { reviewId: outcome.reviewId } : {}),
    reason: outcome.reason,
  });
  return deny(`Sluice: ${outcome.reason} (rule ${v.rule})`);
}

function denied(ctx: PolicyContext, sql: string, v: Extract<GuardVerdict, { action: "deny" }>): Verdict {
  const ev: PolicyEvent = {
    decision: "denied",
    rule: v.rule,
    ...(v.policyId ? { policyId: v.policyId } : {}),
    ...(v.policyName ? { policy: v.policyName } : {}),
    statement: sql,
  };
  ctx.recordPolicy(ev);
  return deny(v.message);
}

/**
 * The MySQL session's view of its connection's policy. Undefined when the policy holds
 * nothing a MySQL session enforces.
 */
export function mysqlSessionPolicy(
  ctx: PolicyContext,
  server: { version: string; sqlMode: string },
): MysqlSessionPolicy | undefined {
  const compiled = ctx.policy;
  if (!compiled) return undefined;
  // The server's version decides which executable comments run and its sql_mode how quotes
  // and backslashes read: the guard classifies with exactly those.
  const dialectKey = `mysql\0${server.version}\0${server.sqlMode}`;
  const guard = compiled.sqlGuard(dialectKey, (docs) =>
    compileConnectionGuard(docs, {
      dialect: createMysqlDialect({ serverVersion: server.version, sqlMode: server.sqlMode }),
    }),
  );
  const plan = compiled.masking;
  if (!guard.active && !plan) return undefined;
  const totals = new MaskTally();
  const catalog = new MysqlCatalog();
  const messages = plan ? mysqlMessageMasker(plan, catalog, totals) : undefined;
  // The wire engine hands back the same array for a result set with the same column
  // definitions as the last one: its maskers are the same, so they are built once.
  let maskedFor: readonly ColumnDefinition[] | undefined;
  let masker: ResultMasker | undefined;
  const maskerFor = (columns: readonly ColumnDefinition[]): ResultMasker | undefined => {
    if (!plan) return undefined;
    if (columns !== maskedFor) {
      masker = mysqlResultMasker(plan, catalog, columns, totals);
      maskedFor = columns;
    }
    return masker;
  };
  return {
    guard,
    verdict(sql, signal) {
      const v = guard.evaluate(sql);
      if (v.action === "allow") return v;
      if (v.action === "deny") return denied(ctx, sql, v);
      return review(ctx, sql, v, signal);
    },
    ...(plan ? { maskerFor } : {}),
    ...(messages ? { maskMessage: messages } : {}),
    end() {
      const counts = totals.counts() as Record<string, number>;
      if (Object.keys(counts).length > 0) ctx.recordPolicy({ decision: "masked", counts, statement: "" });
    },
  };
}
