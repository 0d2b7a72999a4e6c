/** One HTTP attempt to hand a notification to a receiver. */
export interface OutboundRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** Strings that must never be stored in an error (secrets, the secret part of a URL). */
  scrub: string[];
}

export type AttemptResult =
  | { ok: true; statusCode: number }
  | { ok: false; statusCode: number | null; error: string; permanent: boolean };

/** Stored receiver errors are cut to this length. */
export const MAX_ERROR = 500;
const MAX_BODY_EXCERPT = 300;

export function cleanError(text: string, scrub: readonly string[]): string {
  let out = text;
  for (const secret of scrub) if (secret) out = out.split(secret).join("[redacted]");
  out = out
    .replace(/\p{Cc}+/gu, " ")
    .replace(/\s+/g, " ")
    .trim();
  return out.length > MAX_ERROR ? `${out.slice(0, MAX_ERROR - 1)}…` : out;
}

async function excerpt(res: Response): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < MAX_BODY_EXCERPT * 4) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
  }
  await reader.cancel().catch(() => undefined);
  return Buffer.concat(chunks).toString("utf8").slice(0, MAX_BODY_EXCERPT);
}

/** 4xx answers other than 408 and 429 will not change on a retry. */
export function isPermanent(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

function networkError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === "TimeoutError" || e.name === "AbortError") return `timed out after ${timeoutMs} ms`;
  const code = e.cause?.code;
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "could not resolve the receiver's host name";
    case "ECONNRESET":
    case "UND_ERR_SOCKET":
      return "the receiver closed the connection";
    case "UND_ERR_HEADERS_TIMEOUT":
    case "UND_ERR_BODY_TIMEOUT":
    case "UND_ERR_CONNECT_TIMEOUT":
      return `timed out after ${timeoutMs} ms`;
  }
  if (code) return `request failed (${code})`;
  return `request failed: ${e.cause?.message ?? e.message ?? "unknown error"}`;
}

/**
 * POSTs once. Redirects are not followed (a signed body goes only where it was
 * configured to go); a non-2xx answer or a timeout is a failure.
 */
export async function attemptDelivery(req: OutboundRequest): Promise<AttemptResult> {
  let res: Response;
  const signal = AbortSignal.timeout(req.timeoutMs);
  try {
    res = await fetch(req.url, {
      method: "POST",
      headers: req.headers,
      body: req.body,
      redirect: "manual",
      signal,
    });
  } catch (err) {
    return {
      ok: false,
      statusCode: null,
      error: cleanError(networkError(err, req.timeoutMs), req.scrub),
      permanent: false,
    };
  }
  if (res.status >= 200 && res.status < 300) {
    await res.body?.cancel().catch(() => undefined);
    return { ok: true, statusCode: res.status };
  }
  let body = "";
  try {
    body = await excerpt(res);
  } catch {
    body = "";
  }
  const what =
    res.status >= 300 && res.status < 400
      ? `HTTP ${res.status}: redirects are not followed`
      : `HTTP ${res.status}${body ? `: ${body}` : ""}`;
  return {
    ok: false,
    statusCode: res.status,
    error: cleanError(what, req.scrub),
    permanent: isPermanent(res.status),
  };
}
