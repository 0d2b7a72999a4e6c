/**
 * Events other modules publish for delivery to notification channels. Publishing only
 * enqueues (a BullMQ job on Redis); it never waits for a receiver and never throws into
 * the caller's request — a lost enqueue is logged, the caller's work stands.
 */
export const notificationEvents = [
  "review.requested",
  "review.approval_added",
  "review.decided",
  "guardrail.violated",
  "session.started",
  "session.ended",
] as const;
export type NotificationEvent = (typeof notificationEvents)[number];

/** Event payloads carry ids, names and statement text; never credentials or token material. */
export interface NotificationPayloads {
  "review.requested": {
    reviewId: string;
    kind: "access" | "statement";
    connection: string;
    requester: string;
    reason: string;
    statement?: string;
    reviewerGroups: string[];
    expiresAt: string;
    url: string;
  };
  /** An approval that does not yet reach the review's minimum number of approvals. */
  "review.approval_added": {
    reviewId: string;
    kind: "access" | "statement";
    connection: string;
    requester: string;
    approvedBy: string;
    approvals: number;
    minApprovals: number;
    comment?: string;
    url: string;
  };
  "review.decided": {
    reviewId: string;
    kind: "access" | "statement";
    connection: string;
    requester: string;
    status: "approved" | "denied" | "expired" | "revoked";
    decidedBy?: string;
    comment?: string;
    url: string;
  };
  "guardrail.violated": {
    sessionId: string;
    connection: string;
    user: string;
    rule: string;
    policy?: string;
    statement: string;
    at: string;
  };
  "session.started": { sessionId: string; connection: string; user: string; protocol: string; at: string };
  "session.ended": {
    sessionId: string;
    connection: string;
    user: string;
    protocol: string;
    reason: string;
    at: string;
  };
}

export interface Notifier {
  publish<E extends NotificationEvent>(event: E, payload: NotificationPayloads[E]): Promise<void>;
}

/** A notifier that drops everything, for control planes without notifications wired. */
export const silentNotifier: Notifier = { publish: async () => {} };
