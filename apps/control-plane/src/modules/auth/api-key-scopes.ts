import { AppError } from "@sluice/errors";

/**
 * What an API key created with scopes may do. A key without scopes acts with its user's
 * full rights; a key with scopes only where one of them allows (fail closed):
 * - `read`: any GET (what the user may read);
 * - `sessions`: open sessions (REST, native listeners, tunnels, MCP tool calls) and read
 *   what connecting needs: who am I, the connections, the own sessions and their reviews;
 * - `mcp:<tool>`: what `sessions` allows, and only the named tools of Sluice's MCP server
 *   (both transports list and run just those).
 */
/** `mcp:<tool>`: only these Sluice MCP tools (and, like `sessions`, what they need). */
export const MCP_TOOL_SCOPES = [
  "mcp:list_connections",
  "mcp:describe",
  "mcp:query",
  "mcp:http_request",
  "mcp:kube",
  "mcp:request_access",
  "mcp:review_status",
] as const;
export const API_KEY_SCOPES = ["read", "sessions", ...MCP_TOOL_SCOPES] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

const SESSION_ROUTES = new Set([
  "GET /api/v1/me",
  "GET /api/v1/connections",
  "GET /api/v1/connections/:id",
  "POST /api/v1/sessions",
  "GET /api/v1/sessions",
  "GET /api/v1/sessions/:id",
  "GET /api/v1/ca",
  "GET /api/v1/reviews",
  "GET /api/v1/reviews/:id",
  "POST /api/v1/reviews",
]);

function allows(scope: string, method: string, route: string): boolean {
  if (scope === "read") return method === "GET" || method === "HEAD";
  if (scope === "sessions" || scope.startsWith("mcp:"))
    return SESSION_ROUTES.has(`${method === "HEAD" ? "GET" : method} ${route}`);
  return false;
}

/** Refuses a REST request a scoped key may not make. */
export function checkScopes(scopes: readonly string[] | undefined, method: string, route: string): void {
  if (!scopes || scopes.length === 0) return;
  if (scopes.some((s) => allows(s, method, route))) return;
  throw new AppError(
    "auth.forbidden",
    `this API key is limited to ${scopes.join(", ")}; it may not call ${method} ${route}`,
  );
}

/** Refuses a native or tunnel session for a scoped key without `sessions`. */
export function checkSessionScope(scopes: readonly string[] | undefined): void {
  if (!scopes || scopes.length === 0 || scopes.some((s) => s === "sessions" || s.startsWith("mcp:"))) return;
  throw new AppError(
    "session.forbidden",
    `this API key is limited to ${scopes.join(", ")}; it may not open sessions`,
  );
}

/** The MCP tools a key's scopes allow; undefined when they do not restrict tools. */
export function mcpToolsAllowed(scopes: readonly string[] | undefined): string[] | undefined {
  const tools = (scopes ?? []).filter((s) => s.startsWith("mcp:")).map((s) => s.slice(4));
  return tools.length > 0 ? tools : undefined;
}
