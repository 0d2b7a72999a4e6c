import type { ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { closeSoon } from "../../core/http-front";

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

const PHRASES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
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

/** Answers a request with a Status the agent wrote itself; closes the connection when told to. */
export function replyStatus(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  opts: { rule?: string; reviewId?: string; close?: boolean; headers?: Record<string, string> } = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { close, headers, ...extra } = opts;
  const body = statusBody(status, code, message, extra);
  if (close) res.shouldKeepAlive = false;
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    ...(close ? { connection: "close" } : {}),
    ...headers,
  });
  res.end(body);
}

/** Writes a whole HTTP/1.1 response carrying a Status on a raw socket (upgrades, framing errors). */
export function rawStatus(socket: Duplex, status: number, code: string, message: string): void {
  const body = statusBody(status, code, message);
  socket.end(
    `HTTP/1.1 ${status} ${PHRASES[status] ?? "Error"}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
  closeSoon(socket);
}
