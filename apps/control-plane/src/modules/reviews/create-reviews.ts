import type { Logger } from "@sluice/logger";
import type { Redis } from "ioredis";
import type { Db } from "../../lib/db";
import type { Mutate } from "../../lib/mutate";
import type { Notifier } from "../notifications/events";
import type { SessionRevoker } from "../sessions/session-revoker";
import { createReviewEffects } from "./review-effects";
import { createReviewPush, reviewStatesChannel } from "./review-push";
import { createReviewSweeper } from "./review-sweeper";
import { createReviewsService } from "./reviews.service";
import { createStatementReviews } from "./statement-reviews";

export interface ReviewsDeps {
  prisma: Db;
  mutate: Mutate;
  redis: Pick<Redis, "publish">;
  redisPrefix: string;
  revoker: Pick<SessionRevoker, "endFor">;
  notifier: Notifier;
  /** The control plane's external base URL, for links to reviews. */
  publicUrl: () => string;
  /** How long an approved statement nobody was waiting for stays usable (default 1 h). */
  approvalTtlSeconds?: number;
  logger?: Logger;
}

export type Reviews = ReturnType<typeof createReviews>;

/** Wires the reviews domain: the people's service, the agents' statement reviews and the sweeper. */
export function createReviews(deps: ReviewsDeps) {
  const { prisma, mutate, publicUrl } = deps;
  const effects = createReviewEffects({
    prisma,
    notifier: deps.notifier,
    push: createReviewPush({ redis: deps.redis, channel: reviewStatesChannel(deps.redisPrefix) }),
    revoker: deps.revoker,
    publicUrl,
    logger: deps.logger,
  });
  const sweeper = createReviewSweeper({ prisma, mutate, effects, revoker: deps.revoker });
  return {
    service: createReviewsService({ prisma, mutate, effects, sweeper, publicUrl }),
    statements: createStatementReviews({
      prisma,
      mutate,
      effects,
      sweeper,
      publicUrl,
      approvalTtlSeconds: deps.approvalTtlSeconds ?? 3600,
    }),
    sweeper,
  };
}
