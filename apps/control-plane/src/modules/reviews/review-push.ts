import { ReviewState } from "@sluice/proto";
import type { Redis } from "ioredis";

export const reviewStatesChannel = (prefix: string) => `${prefix}review-states`;

export interface ReviewPushMessage {
  agentId: string;
  state: ReviewState;
}

/** Parses a message from the review-states channel; undefined when it is not one. */
export function parseReviewPush(text: string): ReviewPushMessage | undefined {
  try {
    const v = JSON.parse(text) as { agentId?: unknown; state?: unknown };
    if (typeof v.agentId !== "string" || typeof v.state !== "object" || v.state === null) return undefined;
    const state = ReviewState.fromJSON(v.state);
    return state.reviewId ? { agentId: v.agentId, state } : undefined;
  } catch {
    return undefined;
  }
}

export type ReviewPush = ReturnType<typeof createReviewPush>;

/**
 * Sends a statement review's new state to the agent holding the statement. Every
 * replica receives it over Redis pub/sub; the one the agent is linked to writes it
 * to the agent's Link stream as `ControlMessage.review`.
 */
export function createReviewPush(deps: { redis: Pick<Redis, "publish">; channel: string }) {
  return {
    async push(agentId: string, state: ReviewState): Promise<void> {
      const msg = { agentId, state: ReviewState.toJSON(state) };
      await deps.redis.publish(deps.channel, JSON.stringify(msg));
    },
  };
}
