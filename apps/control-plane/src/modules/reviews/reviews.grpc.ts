import type { Metadata, ServerUnaryCall, sendUnaryData } from "@grpc/grpc-js";
import { AppError, toAppError } from "@sluice/errors";
import type { Logger } from "@sluice/logger";
import type { GetReviewRequest, ReviewState, StatementReviewRequest } from "@sluice/proto";
import type { Db } from "../../lib/db";
import { bearerFrom, tokenHash } from "../agents/agent-hub";
import type { StatementReviews } from "./statement-reviews";

export interface ReviewsGrpcDeps {
  prisma: Db;
  statements: Pick<StatementReviews, "request" | "get">;
  logger: Logger;
}

/** The agent-facing review RPCs: hold a statement for review, and poll a review's state. */
export function createReviewsGrpc(deps: ReviewsGrpcDeps) {
  async function agentIdFrom(metadata: Metadata): Promise<string> {
    const token = bearerFrom(metadata);
    const agent = token
      ? await deps.prisma.agent.findUnique({
          where: { enrollmentTokenHash: tokenHash(token) },
          select: { id: true, status: true },
        })
      : null;
    if (!agent || agent.status === "revoked") {
      throw new AppError("agent.revoked", "invalid or revoked agent credential");
    }
    return agent.id;
  }

  function answer(rpc: string, callback: sendUnaryData<ReviewState>, work: () => Promise<ReviewState>): void {
    work().then(
      (res) => callback(null, res),
      (err: unknown) => {
        const e = toAppError(err);
        if (e.code === "internal.unexpected") deps.logger.error({ err, rpc }, "review RPC failed");
        callback({ code: e.mapping.grpc, details: e.message });
      },
    );
  }

  return {
    requestStatementReview(
      call: ServerUnaryCall<StatementReviewRequest, ReviewState>,
      callback: sendUnaryData<ReviewState>,
    ): void {
      answer("requestStatementReview", callback, async () =>
        deps.statements.request(await agentIdFrom(call.metadata), call.request),
      );
    },

    getReview(
      call: ServerUnaryCall<GetReviewRequest, ReviewState>,
      callback: sendUnaryData<ReviewState>,
    ): void {
      answer("getReview", callback, async () =>
        deps.statements.get(await agentIdFrom(call.metadata), call.request.reviewId),
      );
    },
  };
}
