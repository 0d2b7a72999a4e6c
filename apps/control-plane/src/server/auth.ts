import { AppError } from "@sluice/errors";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { checkScopes } from "../modules/auth/api-key-scopes";
import type { AuthService } from "../modules/auth/auth.service";
import type { Principal } from "./principal";

function bearer(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  if (typeof header === "string") {
    const m = /^Bearer\s+(\S+)$/i.exec(header.trim());
    if (!m)
      throw new AppError("auth.invalid_credentials", "malformed Authorization header: use 'Bearer <key>'");
    return m[1];
  }
  const key = req.headers["x-api-key"];
  return typeof key === "string" ? key : undefined;
}

/**
 * Authenticates every route unless it is marked `config.auth = "public"`, then checks
 * the caller's role against the route's allowed roles. Routes without an explicit
 * role list are admin-only, so a forgotten declaration fails closed.
 */
export function installAuth(app: FastifyInstance, auth: Pick<AuthService, "authenticate">): void {
  app.decorateRequest("principal", null);
  app.addHook("onRequest", async (req) => {
    const rule = req.routeOptions.config.auth;
    if (rule === "public" || req.routeOptions.url === undefined) return;
    const credential = bearer(req);
    if (!credential) {
      throw new AppError(
        "auth.missing_credentials",
        "authentication required: send 'Authorization: Bearer <key>'",
      );
    }
    const principal = await auth.authenticate(credential);
    const allowed = rule ?? ["admin"];
    if (!allowed.includes(principal.role)) {
      throw new AppError("auth.forbidden", `this action requires the ${allowed.join(" or ")} role`);
    }
    checkScopes(principal.scopes, req.method, req.routeOptions.url);
    req.principal = principal;
  });
}

/** The caller of an authenticated route. */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new AppError("auth.missing_credentials", "authentication required");
  return req.principal;
}

export function actorOf(req: FastifyRequest) {
  return { principal: principalOf(req), clientAddress: req.ip };
}
