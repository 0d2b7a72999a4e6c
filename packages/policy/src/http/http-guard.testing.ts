import { testPolicy } from "../policy.testing";
import type { HttpBody, HttpRequest } from "./http-guard";
import { normalizeTarget } from "./target";

/**
 * Factories for HTTP policy tests: documents go through the same schemas the control plane
 * and the agent parse them with, and requests through `normalizeTarget`, as the proxy does.
 */

/** A policy document for HTTP rule tests. */
export const httpPolicy = testPolicy;

export function httpRequest(
  method: string,
  target: string,
  headers: HttpRequest["headers"] = {},
  body?: HttpBody,
): HttpRequest {
  const t = normalizeTarget(target);
  if (!t.ok) throw new Error(`test target ${target} is refused: ${t.reason}`);
  return { method, path: t.path, params: t.params, query: t.query, headers, ...(body ? { body } : {}) };
}

/** A JSON body, as the proxy passes one it buffered and parsed. */
export function json(value: unknown): HttpBody {
  return { json: value };
}
