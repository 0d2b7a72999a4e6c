import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type { CallToolResult, ServerNotification, ServerRequest } from "@modelcontextprotocol/sdk/types.js";
import type { ApiClient, ServerError } from "@sluice/client";
import { isCliError, redact, type SessionClient, type StartedSession, startSession } from "@sluice/client";
import type { Progress } from "./progress";
import { renderStatements, type StatementOutput, statementErrorText } from "./results";

/** What the tools need from the CLI: the caller's identity, the MCP client's name, where to log. */
export interface McpDeps {
  /** A control-plane client for the stored login or SLUICE_API_KEY, fetched per call (tokens refresh). */
  client(): Promise<ApiClient>;
  /** The MCP client as it introduced itself in `initialize`, recorded with every session. */
  clientInfo(): SessionClient;
  /** Values never to appear in a tool result (API keys). */
  secrets: Iterable<string>;
  /** How often a waiting call repeats its progress notification. */
  heartbeatMs: number;
  log(line: string): void;
}

export type ToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** A failure the assistant should see as the tool's result (`isError: true`), not as a protocol error. */
export class ToolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ToolError";
  }

  /** A statement the server or the agent refused, after the results of the statements before it. */
  static fromStatement(err: ServerError, before: StatementOutput[], reviewId?: string): ToolError {
    const earlier = before.length > 0 ? `${renderStatements(before)}\n\n` : "";
    return new ToolError(`${earlier}${statementErrorText(err, reviewId)}`);
  }
}

/** Starts a session recorded as opened by this MCP client. */
export function startToolSession(
  deps: McpDeps,
  client: ApiClient,
  connection: string,
  reason: string | undefined,
): Promise<StartedSession> {
  return startSession(client, connection, reason, deps.clientInfo());
}

/** Progress notifications for this call, when the client sent a progress token. */
export function progressFor(extra: ToolExtra): Progress {
  const token = extra._meta?.progressToken;
  if (token === undefined) return () => {};
  let n = 0;
  return (message) => {
    n++;
    extra
      .sendNotification({
        method: "notifications/progress",
        params: { progressToken: token, progress: n, message },
      })
      .catch(() => {});
  };
}

/** A tool's success: the structured result and its compact text rendering. */
export function toolResult(structured: Record<string, unknown>, text: string): CallToolResult {
  return { structuredContent: structured, content: [{ type: "text", text }] };
}

/** Runs a handler, turning every failure into a tool error whose text never carries a secret. */
export async function guarded(deps: McpDeps, run: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await run();
  } catch (err) {
    let text: string;
    if (err instanceof ToolError) text = err.message;
    else if (isCliError(err)) {
      const code = "code" in err && typeof err.code === "string" ? ` (${err.code})` : "";
      text = [`${err.message}${code}`, ...err.details].join("\n");
    } else {
      text = `unexpected failure: ${err instanceof Error ? err.message : String(err)}`;
      deps.log(`sluice mcp: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    return { isError: true, content: [{ type: "text", text: redact(text, deps.secrets) }] };
  }
}
