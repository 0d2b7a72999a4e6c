import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { createSluiceMcpServer } from "@sluice/mcp-tools";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { mcpToolsAllowed } from "../auth/api-key-scopes";
import type { AuthService } from "../auth/auth.service";
import type { KeysService } from "../keys/keys.service";
import type { McpOAuth } from "../oauth/oauth.service";
import { type Inject, injectedApiClient } from "./inject-client";
import { authenticateMcp } from "./mcp-auth";
import { createMcpSessions, MAX_SESSIONS, type McpSession } from "./mcp-sessions";

const HEARTBEAT_MS = 10_000;

function originAllowed(origin: string, publicUrl: string, allowed: string[]): boolean {
  try {
    const o = new URL(origin).origin;
    return o === new URL(publicUrl).origin || allowed.includes(o);
  } catch {
    return false;
  }
}

function rpcError(reply: FastifyReply, status: number, message: string) {
  return reply.status(status).send({ jsonrpc: "2.0", error: { code: -32000, message }, id: null });
}

/**
 * The remote MCP endpoint (Streamable HTTP): the same Sluice tools as `sluice mcp`, acting as
 * the identity of the bearer token (a Sluice API key, or an access token for this resource).
 * Tool calls open Sluice sessions through the agents; no token ever reaches a target.
 */
export function mcpRoutes(deps: {
  auth: Pick<AuthService, "authenticate">;
  keys: Pick<KeysService, "signAccessToken">;
  oauth: Pick<McpOAuth, "publicUrl" | "resource">;
  inject: Inject;
  version: string;
  /** Browser origins besides the control plane's own allowed to call /mcp. */
  allowedOrigins: string[];
}): FastifyPluginAsync {
  return async (app) => {
    const sessions = createMcpSessions();
    app.addHook("onClose", () => sessions.closeAll());

    const newServer = (s: McpSession) =>
      createSluiceMcpServer(
        {
          client: async () => injectedApiClient(deps.inject, await s.caller.credential(), s.clientAddress),
          secrets: { [Symbol.iterator]: () => s.caller.secrets[Symbol.iterator]() },
          heartbeatMs: HEARTBEAT_MS,
          log: (line) => app.log.warn({ component: "mcp" }, line),
        },
        deps.version,
        { tools: mcpToolsAllowed(s.caller.principal.scopes) },
      );

    async function handle(req: FastifyRequest, reply: FastifyReply) {
      const publicUrl = deps.oauth.publicUrl();
      // DNS rebinding: a browser page on another origin must not reach /mcp with the
      // user's network position. Non-browser clients send no Origin.
      const origin = req.headers.origin;
      if (origin !== undefined && !originAllowed(origin, publicUrl, deps.allowedOrigins)) {
        return rpcError(reply, 403, "this origin may not call the Sluice MCP endpoint");
      }
      const caller = await authenticateMcp(req, reply, {
        ...deps,
        publicUrl,
        resource: deps.oauth.resource(),
      });
      if (!caller) return reply;
      const header = req.headers["mcp-session-id"];
      const id = typeof header === "string" && header.length <= 100 ? header : undefined;
      let session: McpSession | undefined;
      if (id) {
        session = sessions.use(id, caller, req.ip);
        if (!session) return rpcError(reply, 404, "unknown MCP session; initialize a new one");
      } else {
        if (req.method !== "POST" || !isInitializeRequest(req.body)) {
          return rpcError(reply, 400, "no MCP session: send initialize first");
        }
        if (sessions.size >= MAX_SESSIONS) return rpcError(reply, 503, "too many MCP sessions; retry later");
        session = sessions.open(caller, req.ip, newServer);
        await session.server.connect(session.transport);
      }
      reply.hijack();
      await session.transport.handleRequest(req.raw, reply.raw, req.body);
      return reply;
    }

    const route = {
      config: { auth: "public" as const },
      schema: {
        tags: ["mcp"],
        description:
          "Model Context Protocol over Streamable HTTP. Bearer: a Sluice API key or an access token " +
          "for this resource; without one, 401 with WWW-Authenticate naming the resource metadata.",
      },
    };
    app.post("/mcp", route, handle);
    app.get("/mcp", route, handle);
    app.delete("/mcp", route, handle);
  };
}
