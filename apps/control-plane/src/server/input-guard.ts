import { AppError } from "@sluice/errors";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { CONTROL_CHARACTERS } from "../lib/schemas";

/** Longest path parameter the router accepts (Fastify's `maxParamLength`). */
export const MAX_PARAM_LENGTH = 200;
/** Longest query-string value any route accepts (an OIDC authorization code is the largest). */
export const MAX_QUERY_VALUE_LENGTH = 4096;
export const MAX_QUERY_KEYS = 32;
const MAX_QUERY_KEY_LENGTH = 64;
const MAX_REPEATS = 16;

function problem(value: unknown, max: number): string | undefined {
  if (Array.isArray(value)) {
    if (value.length > MAX_REPEATS) return `is repeated more than ${MAX_REPEATS} times`;
    for (const v of value) {
      const p = problem(v, max);
      if (p) return p;
    }
    return undefined;
  }
  if (typeof value !== "string") return undefined;
  if (value.length > max) return `is longer than ${max} characters`;
  if (CONTROL_CHARACTERS.test(value)) return "contains control characters";
  return undefined;
}

/** The first path parameter or query value that is too long or holds control characters. */
export function inputProblem(params: unknown, query: unknown): string | undefined {
  for (const [key, value] of Object.entries((params ?? {}) as Record<string, unknown>)) {
    const p = problem(value, MAX_PARAM_LENGTH);
    if (p) return `path parameter ${key.slice(0, MAX_QUERY_KEY_LENGTH)} ${p}`;
  }
  const entries = Object.entries((query ?? {}) as Record<string, unknown>);
  if (entries.length > MAX_QUERY_KEYS) return `the query string has more than ${MAX_QUERY_KEYS} parameters`;
  for (const [key, value] of entries) {
    const name = problem(key, MAX_QUERY_KEY_LENGTH);
    if (name) return `a query parameter name ${name}`;
    const p = problem(value, MAX_QUERY_VALUE_LENGTH);
    if (p) return `query parameter ${key} ${p}`;
  }
  return undefined;
}

/** Answers the router's own URL errors (bad percent-encoding, over-long parameter) in the API's shape. */
function frameworkError(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  const message =
    err.code === "FST_ERR_MAX_PARAM_LENGTH"
      ? `a path parameter is longer than ${MAX_PARAM_LENGTH} characters`
      : "the URL is not valid: check its percent-encoding";
  const appErr = new AppError("request.invalid", message);
  void reply.status(appErr.mapping.http).send({ error: appErr.toJSON() });
}

export const routerErrors = { frameworkErrors: frameworkError };

/**
 * Every route, with or without its own schema, refuses over-long path parameters and
 * query values and any control character (PostgreSQL rejects NUL in text) before the
 * handler or the database sees them.
 */
export function installInputGuard(app: FastifyInstance): void {
  app.addHook("preValidation", async (req) => {
    const p = inputProblem(req.params, req.query);
    if (p) throw new AppError("request.invalid", `invalid request: ${p}`);
  });
}
