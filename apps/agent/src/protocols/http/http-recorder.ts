import type { IncomingHttpHeaders } from "node:http";
import type { EventPayload } from "@sluice/recording";

/** Headers whose values are credentials or session state: recorded as `[redacted]`. */
const SECRET_HEADERS = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key",
  "x-auth-token",
  "x-csrf-token",
  "x-xsrf-token",
]);

export const REDACTED = "[redacted]";

/** Query parameters whose values are redacted in recordings (plus the injected one). */
const SECRET_PARAMS = /^(access_token|token|api_?key|key|secret|password|sig|signature|code)$/i;

/** Headers as a recording keeps them: lower-case names, credentials and cookies redacted, bounded. */
export function recordedHeaders(
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
  extraSecret?: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  let n = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (++n > 100) break;
    const lower = name.toLowerCase();
    const text = Array.isArray(value) ? value.join(", ") : String(value);
    out[lower] = SECRET_HEADERS.has(lower) || lower === extraSecret ? REDACTED : text.slice(0, 1024);
  }
  return out;
}

/** The query string as a recording keeps it: secret-looking parameters (and the injected one) redacted. */
export function recordedQuery(query: string, injectedParam?: string): string {
  if (!query) return "";
  const params = new URLSearchParams(query);
  const out = new URLSearchParams();
  for (const [k, v] of params) {
    out.append(k, SECRET_PARAMS.test(k) || k === injectedParam ? REDACTED : v.slice(0, 1024));
  }
  return out.toString().slice(0, 4096);
}

/** Keeps the first `limit` bytes of a body stream for the recording, counting all of them. */
export class BodyCapture {
  private readonly parts: Buffer[] = [];
  private kept = 0;
  bytes = 0;
  constructor(private readonly limit: number) {}

  add(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.kept >= this.limit) return;
    const take = chunk.subarray(0, this.limit - this.kept);
    this.parts.push(Buffer.from(take));
    this.kept += take.length;
  }

  get truncated(): boolean {
    return this.bytes > this.kept;
  }

  buffer(): Buffer {
    return Buffer.concat(this.parts, this.kept);
  }
}

/** Replaces every occurrence of the held secret in recorded text (an upstream may echo it). */
export function scrubSecret(text: string, secret: string): string {
  return secret.length >= 6 && text.includes(secret) ? text.split(secret).join(REDACTED) : text;
}

export type HttpExchangeEvent = EventPayload<"http.exchange">;
