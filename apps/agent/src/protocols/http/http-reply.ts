import type { ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { closeSoon } from "../../core/http-front";

/** The JSON body of every response the agent writes itself (never the upstream's). */
export interface AgentErrorBody {
  error: { code: string; message: string; rule?: string; reviewId?: string };
}

function bodyOf(code: string, message: string, extra: { rule?: string; reviewId?: string } = {}): string {
  const body: AgentErrorBody = { error: { code, message, ...extra } };
  return JSON.stringify(body);
}

/** Answers a request with the agent's own JSON error; closes the connection when told to. */
export function replyError(
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
  const body = bodyOf(code, message, extra);
  // The server serves no request pipelined behind this one.
  if (close) res.shouldKeepAlive = false;
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    ...(close ? { connection: "close" } : {}),
    ...headers,
  });
  res.end(body);
}

/** Writes a complete HTTP/1.1 error response on a raw socket (before or outside node's HTTP server). */
export function rawError(socket: Duplex, status: number, code: string, message: string): void {
  const body = bodyOf(code, message);
  const reason =
    { 400: "Bad Request", 403: "Forbidden", 408: "Request Timeout" }[status as 400 | 403 | 408] ?? "Error";
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
  closeSoon(socket);
}
