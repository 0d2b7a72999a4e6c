import { Metadata, type ServiceError } from "@grpc/grpc-js";
import type { Logger } from "@sluice/logger";
import type { AgentServiceClient, ReviewState } from "@sluice/proto";
import { statementHash } from "./policy-compiler";
import type { HeldAction, PendingReview, ReviewOutcome } from "./policy-types";

export interface ReviewClientDeps {
  client: Pick<AgentServiceClient, "requestStatementReview" | "getReview">;
  agentToken: string;
  logger: Pick<Logger, "warn" | "info">;
  /** How often a waiting session asks the control plane, in case a pushed decision was missed. */
  pollMs?: number;
  /** Grace after a review's expiry before the agent gives up on hearing the decision. */
  graceMs?: number;
}

const FINAL = new Set(["approved", "denied", "expired", "revoked"]);

function describe(state: ReviewState): string {
  const by = state.reason ? ` (${state.reason})` : "";
  switch (state.status) {
    case "denied":
      return `review ${state.reviewId} was denied${by}`;
    case "expired":
      return `review ${state.reviewId} timed out without a decision`;
    case "revoked":
      return `review ${state.reviewId} was revoked${by}`;
    default:
      return `review ${state.reviewId} ended as ${state.status}`;
  }
}

/**
 * Holds statements for human approval: creates the review on the control plane, then
 * waits for the decision pushed over the agent's Link (`onReview`), polling as a
 * fallback. The decision must be for the same statement text (SHA-256), else it is a denial.
 */
export function createReviewClient(deps: ReviewClientDeps) {
  const waiters = new Map<string, Set<(s: ReviewState) => void>>();
  const pollMs = deps.pollMs ?? 5_000;
  const graceMs = deps.graceMs ?? 5_000;

  function metadata(): Metadata {
    const md = new Metadata();
    md.set("authorization", `Bearer ${deps.agentToken}`);
    return md;
  }

  function call<Req, Res>(
    fn: (
      req: Req,
      md: Metadata,
      opts: { deadline: number },
      cb: (err: ServiceError | null, res: Res) => void,
    ) => unknown,
    req: Req,
  ): Promise<Res> {
    return new Promise((resolve, reject) =>
      fn(req, metadata(), { deadline: Date.now() + 10_000 }, (err, res) =>
        err ? reject(err) : resolve(res),
      ),
    );
  }

  function outcome(state: ReviewState, expectedHash: string): ReviewOutcome {
    if (state.status === "approved") {
      if (state.statementHash !== expectedHash) {
        return {
          approved: false,
          reviewId: state.reviewId,
          reason: "the approval is for a different statement",
        };
      }
      return { approved: true, reviewId: state.reviewId };
    }
    return { approved: false, reviewId: state.reviewId, reason: describe(state) };
  }

  async function request(
    sessionId: string,
    held: HeldAction,
    onPending: (p: PendingReview) => void,
    signal: AbortSignal,
  ): Promise<ReviewOutcome> {
    const hash = statementHash(held.text);
    let first: ReviewState;
    try {
      first = await call(deps.client.requestStatementReview.bind(deps.client), {
        sessionId,
        policyId: held.verdict.policyId,
        ruleName: held.verdict.reviewRule,
        statement: held.text,
      });
    } catch (err) {
      deps.logger.warn({ sessionId, err: (err as Error).message }, "statement review request failed");
      return {
        approved: false,
        reason: "the control plane could not open a review, so the statement was not run",
      };
    }
    if (FINAL.has(first.status)) return outcome(first, hash);
    onPending({ reviewId: first.reviewId, url: first.url });
    return new Promise<ReviewOutcome>((resolve) => {
      const id = first.reviewId;
      let done = false;
      const finish = (o: ReviewOutcome) => {
        if (done) return;
        done = true;
        clearInterval(poll);
        clearTimeout(deadline);
        signal.removeEventListener("abort", onAbort);
        const set = waiters.get(id);
        set?.delete(onState);
        if (set?.size === 0) waiters.delete(id);
        resolve(o);
      };
      const onState = (s: ReviewState) => {
        if (FINAL.has(s.status)) finish(outcome(s, hash));
      };
      const onAbort = () => finish({ approved: false, reviewId: id, reason: "the session ended" });
      const set = waiters.get(id) ?? new Set();
      set.add(onState);
      waiters.set(id, set);
      signal.addEventListener("abort", onAbort);
      const poll = setInterval(() => {
        call(deps.client.getReview.bind(deps.client), { reviewId: id }).then(onState, (err: unknown) =>
          deps.logger.warn({ reviewId: id, err: (err as Error).message }, "review status poll failed"),
        );
      }, pollMs);
      const wait = Math.max(0, first.expiresAtUnixMs - Date.now()) + graceMs;
      const deadline = setTimeout(
        () => finish({ approved: false, reviewId: id, reason: `review ${id} timed out without a decision` }),
        wait,
      );
    });
  }

  return {
    request,
    /** Feeds a review state pushed by the control plane. */
    onReview(state: ReviewState): void {
      for (const w of waiters.get(state.reviewId) ?? []) w(state);
    },
    get waiting(): number {
      return waiters.size;
    },
  };
}

export type ReviewClient = ReturnType<typeof createReviewClient>;
