import type { Notifier } from "./events";

/** What the recordings service knows about the session a batch belongs to. */
export interface RecordedSession {
  id: string;
  protocol: string;
  user: { name: string };
  connection: { name: string };
}

export interface RecordedEvent {
  kind: string;
  at: Date;
  payload: Record<string, unknown>;
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/**
 * Publishes what a stored recording batch means for people watching:
 * - `session.started` / `session.ended` for lifecycle events that moved the session's
 *   status (a re-sent event moves nothing, so it notifies nothing);
 * - `guardrail.violated` for newly stored `policy` events whose decision is "denied"
 *   (a re-sent batch stores nothing new).
 * Publishing never throws and never delays the caller.
 */
export function publishRecordingNotices(
  notifier: Notifier,
  session: RecordedSession,
  events: { transitioned: RecordedEvent[]; stored: RecordedEvent[] },
): void {
  const base = { sessionId: session.id, connection: session.connection.name, user: session.user.name };
  for (const e of events.transitioned) {
    const at = e.at.toISOString();
    if (e.kind === "session.start") {
      void notifier.publish("session.started", { ...base, protocol: session.protocol, at });
    } else if (e.kind === "session.end") {
      const reason = str(e.payload.reason) ?? (str(e.payload.error) ? "error" : "ended");
      void notifier.publish("session.ended", { ...base, protocol: session.protocol, reason, at });
    }
  }
  for (const e of events.stored) {
    if (e.kind !== "policy" || e.payload.decision !== "denied") continue;
    const policy = str(e.payload.policy) ?? str(e.payload.policyId);
    void notifier.publish("guardrail.violated", {
      ...base,
      rule: str(e.payload.rule) ?? "unknown",
      ...(policy ? { policy } : {}),
      statement: str(e.payload.statement) ?? "",
      at: e.at.toISOString(),
    });
  }
}
