/** What tests can assert about each request the fake cluster saw. */
import type { IncomingMessage } from "node:http";
import type { Identity } from "./auth";
import type { RequestInfo } from "./request-info";

export interface SeenRequest {
  method: string;
  path: string;
  query: string;
  verb: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  /** The credential's user. */
  authUser: string;
  /** The effective user (the impersonated one when impersonating). */
  user: string;
  groups: string[];
  impersonated: boolean;
  /** Lower-cased names; the Authorization header is left out. */
  headers: Record<string, string | string[]>;
  /** Response status; 101 for upgraded streams, 0 while still in flight. */
  status: number;
}

export function seenRequest(
  req: IncomingMessage,
  url: URL,
  info: RequestInfo | undefined,
  who: Identity | undefined,
): SeenRequest {
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers))
    if (k !== "authorization" && v !== undefined) headers[k] = v;
  const seen: SeenRequest = {
    method: req.method ?? "",
    path: url.pathname,
    query: url.search.replace(/^\?/, ""),
    verb: info?.verb ?? (req.method ?? "").toLowerCase(),
    resource: info?.resource ?? "",
    subresource: info?.subresource ?? "",
    namespace: info?.namespace ?? "",
    name: info?.name ?? "",
    authUser: who?.authUser ?? "",
    user: who?.user ?? "",
    groups: who?.groups ?? [],
    impersonated: who?.impersonated ?? false,
    headers,
    status: 0,
  };
  return seen;
}
