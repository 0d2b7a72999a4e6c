import { errorReplies } from "../../core/http-errors";

/** The `reason` the API server gives with each status code (kubectl prints it: `Error from server (Forbidden)`). */
const REASONS: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  408: "Timeout",
  409: "Conflict",
  413: "RequestEntityTooLarge",
  429: "TooManyRequests",
  500: "InternalError",
  502: "ServiceUnavailable",
  503: "ServiceUnavailable",
  504: "Timeout",
};

/**
 * A `meta/v1 Status` as the API server writes it, so kubectl and client libraries show the
 * agent's own refusals like any cluster error. `details.causes` names the Sluice error code
 * (and the rule, for policy decisions) for tools that read it.
 */
export function statusBody(
  status: number,
  code: string,
  message: string,
  extra: { rule?: string; reviewId?: string } = {},
): string {
  const causes = [
    { reason: "Sluice", message: code },
    ...(extra.rule ? [{ reason: "SluiceRule", message: extra.rule }] : []),
    ...(extra.reviewId ? [{ reason: "SluiceReview", message: extra.reviewId }] : []),
  ];
  return JSON.stringify({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason: REASONS[status] ?? "InternalError",
    details: { causes },
    code: status,
  });
}

const replies = errorReplies(statusBody, "application/json");

/** Answers a request with a Status the agent wrote itself; closes the connection when told to. */
export const replyStatus = replies.reply;

/** Writes a whole HTTP/1.1 response carrying a Status on a raw socket (upgrades, framing errors). */
export const rawStatus = replies.raw;
