import { randomUUID } from "node:crypto";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { McpCaller } from "./mcp-auth";

export const MAX_SESSIONS = 1000;
export const IDLE_MS = 30 * 60_000;

export interface McpSession {
  transport: StreamableHTTPServerTransport;
  server: McpServer;
  /** The identity that initialized the session; only it may use the session. */
  userId: string;
  /** The latest request's caller: tool calls act with its credential. */
  caller: McpCaller;
  clientAddress: string;
  lastUsed: number;
}

/**
 * MCP sessions of this replica (Streamable HTTP keeps one server per session, so tool calls
 * know the client's name and version from `initialize`). Idle sessions close after IDLE_MS.
 */
export function createMcpSessions(now: () => number = Date.now) {
  const sessions = new Map<string, McpSession>();

  const sweep = setInterval(() => {
    for (const [id, s] of sessions) if (now() - s.lastUsed > IDLE_MS) void close(id);
  }, 60_000);
  sweep.unref();

  async function close(id: string): Promise<void> {
    const s = sessions.get(id);
    sessions.delete(id);
    await s?.server.close().catch(() => {});
  }

  return {
    get size() {
      return sessions.size;
    },
    /** The session `id` if `caller` owns it, with the caller's latest credential. */
    use(id: string, caller: McpCaller, clientAddress: string): McpSession | undefined {
      const s = sessions.get(id);
      if (!s || s.userId !== caller.principal.userId) return undefined;
      s.caller = caller;
      s.clientAddress = clientAddress;
      s.lastUsed = now();
      return s;
    },
    /** A transport for a new session; `connect` attaches the session's server before it is used. */
    open(caller: McpCaller, clientAddress: string, makeServer: (s: McpSession) => McpServer): McpSession {
      const session = {
        userId: caller.principal.userId,
        caller,
        clientAddress,
        lastUsed: now(),
      } as McpSession;
      session.transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          sessions.set(id, session);
        },
      });
      session.transport.onclose = () => {
        const id = session.transport.sessionId;
        if (id) sessions.delete(id);
      };
      session.server = makeServer(session);
      return session;
    },
    async closeAll(): Promise<void> {
      clearInterval(sweep);
      await Promise.all([...sessions.keys()].map(close));
    },
  };
}

export type McpSessions = ReturnType<typeof createMcpSessions>;
