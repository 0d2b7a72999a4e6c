import { errorReplies } from "../../core/http-errors";

/** The JSON body of every response the agent writes itself (never the upstream's). */
export interface AgentErrorBody {
  error: { code: string; message: string; rule?: string; reviewId?: string };
}

const replies = errorReplies((_status, code, message, extra) => {
  const body: AgentErrorBody = { error: { code, message, ...extra } };
  return JSON.stringify(body);
}, "application/json; charset=utf-8");

/** Answers a request with the agent's own JSON error; closes the connection when told to. */
export const replyError = replies.reply;

/** Writes a complete HTTP/1.1 error response on a raw socket (before or outside node's HTTP server). */
export const rawError = replies.raw;
