import { type ServerResponse, STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { closeSoon } from "./http-front";

export interface ErrorReplyOptions {
  rule?: string;
  reviewId?: string;
  /** The server serves no request pipelined behind this one. */
  close?: boolean;
  headers?: Record<string, string>;
}

/** Builds an error body in a protocol's words (a JSON error, a Kubernetes Status). */
export type ErrorBody = (
  status: number,
  code: string,
  message: string,
  extra: { rule?: string; reviewId?: string },
) => string;

/**
 * The error replies of one HTTP-borne protocol: on a response (never after its head was
 * sent: then the response is cut off) and on a raw socket (before or outside node's HTTP
 * server), each a whole JSON body the agent wrote itself.
 */
export function errorReplies(body: ErrorBody, contentType: string) {
  return {
    reply(
      res: ServerResponse,
      status: number,
      code: string,
      message: string,
      opts: ErrorReplyOptions = {},
    ): void {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const { close, headers, ...extra } = opts;
      const text = body(status, code, message, extra);
      if (close) res.shouldKeepAlive = false;
      res.writeHead(status, {
        "content-type": contentType,
        "content-length": Buffer.byteLength(text),
        "cache-control": "no-store",
        ...(close ? { connection: "close" } : {}),
        ...headers,
      });
      res.end(text);
    },
    raw(socket: Duplex, status: number, code: string, message: string): void {
      const text = body(status, code, message, {});
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\ncontent-type: ${contentType}\r\n` +
          `content-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
      );
      closeSoon(socket);
    },
  };
}
