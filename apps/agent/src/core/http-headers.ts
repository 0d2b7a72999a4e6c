import type { IncomingMessage } from "node:http";

/** Request headers never forwarded: hop-by-hop, framing (recomputed), and the caller's own credentials. */
const DROP_REQUEST = new Set([
  "host",
  "connection",
  "keep-alive",
  "proxy-authorization",
  "proxy-connection",
  "authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "expect",
  "http2-settings",
]);

/** Response headers that belong to one hop only. */
export const DROP_RESPONSE: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "trailer",
  "upgrade",
]);

/**
 * The client's request headers that may go upstream: without hop-by-hop and framing
 * fields, the fields its `Connection` header names, the caller's credentials, and what
 * `skip` leaves out.
 */
export function forwardableHeaders(
  req: IncomingMessage,
  skip: (name: string) => boolean = () => false,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const named = (req.headers.connection ?? "")
    .split(",")
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || DROP_REQUEST.has(name) || named.includes(name) || skip(name)) continue;
    out[name] = value;
  }
  return out;
}
