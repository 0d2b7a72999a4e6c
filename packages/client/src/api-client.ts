import { z } from "zod";
import { ApiError, CliError, ExitCode, type ValidationIssue } from "./errors";

export const UNAUTHENTICATED_HINT =
  "hint: the API key was rejected; run `sluice login --api-key <key>` again or check SLUICE_API_KEY";

export const DEFAULT_TIMEOUT_MS = 15_000;

export interface ApiClientOptions {
  /** Control-plane base URL, without `/api/v1`. */
  url: string;
  apiKey: string;
  timeoutMs?: number;
  userAgent?: string;
  fetch?: typeof fetch;
}

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface ApiClient {
  readonly url: string;
  /** Sends a JSON request to `<url>/api/v1<path>`; resolves to the parsed body, or undefined for 204. */
  request(method: HttpMethod, path: string, body?: unknown): Promise<unknown>;
  get(path: string): Promise<unknown>;
  post(path: string, body?: unknown): Promise<unknown>;
  put(path: string, body?: unknown): Promise<unknown>;
  patch(path: string, body: unknown): Promise<unknown>;
  delete(path: string): Promise<unknown>;
}

const errorBodySchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z
      .object({
        issues: z
          .array(
            z.object({ path: z.union([z.string(), z.array(z.unknown())]).optional(), message: z.string() }),
          )
          .optional(),
      })
      .passthrough()
      .optional(),
  }),
});

/** Builds `/a/b/c` with each segment URL-encoded (ids and names both work). */
export function apiPath(...segments: string[]): string {
  return `/${segments.map((s) => encodeURIComponent(s)).join("/")}`;
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  const fetchImpl = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const headers = {
    accept: "application/json",
    authorization: `Bearer ${options.apiKey}`,
    "user-agent": options.userAgent ?? "sluice-cli",
  };

  async function request(method: HttpMethod, path: string, body?: unknown): Promise<unknown> {
    const init: RequestInit = { method, headers: { ...headers }, signal: AbortSignal.timeout(timeoutMs) };
    if (body !== undefined) {
      init.headers = { ...headers, "content-type": "application/json" };
      init.body = JSON.stringify(body);
    }
    let status: number;
    let statusText: string;
    let text: string;
    try {
      const res = await fetchImpl(`${options.url}/api/v1${path}`, init);
      status = res.status;
      statusText = res.statusText;
      text = await res.text();
    } catch (err) {
      throw unreachable(options.url, err, timeoutMs);
    }
    return interpretResponse(status, statusText, text);
  }

  return {
    url: options.url,
    request,
    get: (path) => request("GET", path),
    post: (path, body) => request("POST", path, body),
    put: (path, body) => request("PUT", path, body),
    patch: (path, body) => request("PATCH", path, body),
    delete: (path) => request("DELETE", path),
  };
}

function interpretResponse(status: number, statusText: string, text: string): unknown {
  const parsed = parseJson(text);
  if (status >= 200 && status < 300) {
    if (text.trim() === "") return undefined;
    if (parsed === undefined) {
      throw new CliError(`unexpected response from the control plane (HTTP ${status}, not JSON)`);
    }
    return parsed;
  }
  throw toApiError(status, statusText, parsed);
}

/** Turns an error response into an ApiError; non-contract bodies get a generic message. */
export function toApiError(status: number, statusText: string, body: unknown): ApiError {
  const hint = status === 401 ? UNAUTHENTICATED_HINT : undefined;
  const result = errorBodySchema.safeParse(body);
  if (!result.success) {
    const reason = statusText ? `${status} ${statusText}` : String(status);
    return new ApiError(status, `http.${status}`, `the control plane answered HTTP ${reason}`, [], hint);
  }
  const { code, message, details } = result.data.error;
  const issues: ValidationIssue[] = (details?.issues ?? []).map((i) => ({
    path: Array.isArray(i.path) ? i.path.join(".") : (i.path ?? ""),
    message: i.message,
  }));
  return new ApiError(status, code, message, issues, hint);
}

function parseJson(text: string): unknown {
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function unreachable(url: string, err: unknown, timeoutMs: number): CliError {
  return new CliError(`cannot reach the control plane at ${url}: ${networkReason(err, timeoutMs)}`, {
    exitCode: ExitCode.unreachable,
    cause: err,
  });
}

/** A short reason for a failed fetch: the system error code where there is one. */
export function networkReason(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) {
    return `no answer within ${formatSeconds(timeoutMs)}`;
  }
  const cause =
    err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === "string") {
    const text = networkCodes[cause.code];
    return text ? `${text} (${cause.code})` : cause.code;
  }
  if (cause && typeof cause.message === "string" && cause.message) return cause.message;
  return err instanceof Error ? err.message : String(err);
}

/** Short texts for the system error codes of failed connections. */
export const networkCodes: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "DNS lookup failed",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
  UND_ERR_SOCKET: "connection closed unexpectedly",
};

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
