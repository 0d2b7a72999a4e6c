import type { NotificationEvent, NotificationPayloads } from "./events";

/** The event an admin's "send a test notification" produces; never filtered. */
export const TEST_EVENT = "notification.test";
export type OutboundEvent = NotificationEvent | typeof TEST_EVENT;
export interface TestPayload {
  channel: string;
  message: string;
  at: string;
}
type AnyPayload = NotificationPayloads[NotificationEvent] | TestPayload;

/** Statements in notifications are cut to this many characters. */
export const MAX_STATEMENT = 2500;

export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The JSON body of a webhook delivery. `id` is stable across retries, for de-duplication. */
export function webhookBody(deliveryId: string, event: string, createdAt: Date, data: unknown): string {
  return JSON.stringify({ id: deliveryId, event, createdAt: createdAt.toISOString(), data });
}

/** Slack mrkdwn treats &, < and > as control characters. */
function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function code(text: string): string {
  return `\`${esc(text).replace(/`/g, "'")}\``;
}

function link(url: string, label: string): string | undefined {
  return /^https?:\/\/[^\s|<>]+$/.test(url) ? `<${url}|${label}>` : undefined;
}

interface Summary {
  /** Plain-text one-liner (Slack's notification text and fallback). */
  text: string;
  /** mrkdwn lines for the main section. */
  lines: string[];
  statement?: string;
}

const decisionIcon: Record<string, string> = {
  approved: ":white_check_mark:",
  denied: ":x:",
  expired: ":hourglass:",
  revoked: ":no_entry_sign:",
};

function summarize(event: OutboundEvent, payload: AnyPayload): Summary {
  switch (event) {
    case "review.requested": {
      const p = payload as NotificationPayloads["review.requested"];
      const what = p.kind === "access" ? "access" : "a statement";
      return {
        text: `Review requested: ${p.requester} asks for ${what} on ${p.connection}`,
        lines: [
          `:raising_hand: *Review requested*: ${esc(p.requester)} asks for ${what} on ${code(p.connection)}`,
          p.reason ? `*Reason:* ${esc(truncate(p.reason, 500))}` : "",
          p.reviewerGroups.length > 0 ? `*Reviewers:* ${p.reviewerGroups.map(esc).join(", ")}` : "",
          `*Expires:* ${esc(p.expiresAt)}`,
          link(p.url, "Open the review") ?? "",
          `Review id: ${code(p.reviewId)}`,
        ],
        statement: p.statement,
      };
    }
    case "review.approval_added": {
      const p = payload as NotificationPayloads["review.approval_added"];
      const count = `${p.approvals} of ${p.minApprovals} approvals`;
      return {
        text: `Review approved by ${p.approvedBy} (${count}): ${p.requester} on ${p.connection}`,
        lines: [
          `:heavy_check_mark: *Approved by ${esc(p.approvedBy)}* (${count}): ${esc(p.requester)}'s ${p.kind} request on ${code(p.connection)}`,
          p.comment ? `*Comment:* ${esc(truncate(p.comment, 500))}` : "",
          link(p.url, "Open the review") ?? "",
          `Review id: ${code(p.reviewId)}`,
        ],
      };
    }
    case "review.decided": {
      const p = payload as NotificationPayloads["review.decided"];
      const by = p.decidedBy ? ` by ${p.decidedBy}` : "";
      return {
        text: `Review ${p.status}${by}: ${p.requester} on ${p.connection}`,
        lines: [
          `${decisionIcon[p.status] ?? ":bell:"} *Review ${p.status}*${esc(by)}: ${esc(p.requester)}'s ${p.kind} request on ${code(p.connection)}`,
          p.comment ? `*Comment:* ${esc(truncate(p.comment, 500))}` : "",
          link(p.url, "Open the review") ?? "",
          `Review id: ${code(p.reviewId)}`,
        ],
      };
    }
    case "guardrail.violated": {
      const p = payload as NotificationPayloads["guardrail.violated"];
      const policy = p.policy ? ` (policy ${p.policy})` : "";
      return {
        text: `Guardrail blocked a statement by ${p.user} on ${p.connection}: rule ${p.rule}${policy}`,
        lines: [
          `:no_entry: *Guardrail blocked a statement* by ${esc(p.user)} on ${code(p.connection)}`,
          `*Rule:* ${code(p.rule)}${p.policy ? ` in policy ${code(p.policy)}` : ""}`,
          `Session ${code(p.sessionId)} at ${esc(p.at)}`,
        ],
        statement: p.statement,
      };
    }
    case "session.started": {
      const p = payload as NotificationPayloads["session.started"];
      return {
        text: `${p.user} started a ${p.protocol} session on ${p.connection}`,
        lines: [
          `:arrow_forward: *${esc(p.user)}* started a ${esc(p.protocol)} session on ${code(p.connection)}`,
          `Session ${code(p.sessionId)} at ${esc(p.at)}`,
        ],
      };
    }
    case "session.ended": {
      const p = payload as NotificationPayloads["session.ended"];
      return {
        text: `${p.user}'s ${p.protocol} session on ${p.connection} ended: ${p.reason}`,
        lines: [
          `:stop_button: *${esc(p.user)}*'s ${esc(p.protocol)} session on ${code(p.connection)} ended: ${esc(truncate(p.reason, 300))}`,
          `Session ${code(p.sessionId)} at ${esc(p.at)}`,
        ],
      };
    }
    case TEST_EVENT: {
      const p = payload as TestPayload;
      return {
        text: `Test notification from Sluice for channel ${p.channel}`,
        lines: [`:bell: *Test notification* from Sluice for channel ${code(p.channel)}`, esc(p.message)],
      };
    }
  }
}

/** A Slack incoming-webhook body: `text` for the notification, `blocks` for the message. */
export function slackBody(event: OutboundEvent, payload: unknown): string {
  const s = summarize(event, payload as AnyPayload);
  const blocks: unknown[] = [
    { type: "section", text: { type: "mrkdwn", text: s.lines.filter(Boolean).join("\n") } },
  ];
  if (s.statement) {
    const body = esc(truncate(s.statement, MAX_STATEMENT)).replace(/```/g, "`\u200b``");
    blocks.push({ type: "section", text: { type: "mrkdwn", text: `\`\`\`${body}\`\`\`` } });
  }
  blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: `Sluice · ${event}` }] });
  return JSON.stringify({ text: truncate(s.text, 500), blocks });
}
