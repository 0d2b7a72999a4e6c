import { AppError } from "@sluice/errors";

/**
 * What an API key created with scopes may do. A key without scopes acts with its user's
 * full rights; a key with scopes only where one of them allows (fail closed):
 * - `read`: any GET (what the user may read);
 * - `sessions`: open sessions (REST, native listeners, tunnels, MCP tool calls) and read
 *   what connecting needs: who am I, the connections, the own sessions and their reviews.
 */
export const API_KEY_SCOPES = ["read", "sessions"] as const;
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
  if (scope === "sessions") return SESSION_ROUTES.has(`${method === "HEAD" ? "GET" : method} ${route}`);
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
  if (!scopes || scopes.length === 0 || scopes.includes("sessions")) return;
  throw new AppError(
    "session.forbidden",
    `this API key is limited to ${scopes.join(", ")}; it may not open sessions`,
  );
}
