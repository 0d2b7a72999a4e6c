import { AppError } from "@sluice/errors";

export type VaultFailureKind =
  | "unreachable"
  | "sealed"
  | "denied"
  | "not_found"
  | "rejected"
  | "unavailable"
  | "invalid_response";

/**
 * A Vault request that failed, reduced to what is safe to show and log: the kind,
 * the HTTP status and the API path. node-vault's own errors are never kept: an
 * ApiResponseError carries the response body and a network error carries the request
 * (headers with the token, bodies with a secret_id).
 */
export class VaultFailure extends Error {
  readonly kind: VaultFailureKind;
  readonly status: number | undefined;
  readonly path: string;

  constructor(kind: VaultFailureKind, path: string, detail: string, status?: number) {
    super(detail);
    this.name = "VaultFailure";
    this.kind = kind;
    this.path = path;
    this.status = status;
  }
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "ERR_SOCKET_CONNECTION_TIMEOUT",
]);

/** Maps anything node-vault (or axios underneath it) throws to a VaultFailure. */
export function toVaultFailure(err: unknown, path: string): VaultFailure {
  if (err instanceof VaultFailure) return err;
  const e = err as { response?: { statusCode?: unknown }; code?: unknown; message?: unknown };
  const status = typeof e?.response?.statusCode === "number" ? e.response.statusCode : undefined;
  if (status !== undefined) {
    if (status === 403)
      return new VaultFailure("denied", path, "Vault denied access (permission denied)", 403);
    if (status === 404)
      return new VaultFailure("not_found", path, "nothing exists at that path in Vault", 404);
    if (status === 503)
      return new VaultFailure("sealed", path, "Vault is sealed or in standby (HTTP 503)", 503);
    if (status === 429) return new VaultFailure("unavailable", path, "Vault is rate limiting the agent", 429);
    if (status >= 500) return new VaultFailure("unavailable", path, `Vault failed (HTTP ${status})`, status);
    return new VaultFailure("rejected", path, `Vault rejected the request (HTTP ${status})`, status);
  }
  const code = typeof e?.code === "string" ? e.code : undefined;
  if (code && (NETWORK_CODES.has(code) || code.startsWith("ERR_TLS") || code.includes("CERT"))) {
    return new VaultFailure("unreachable", path, `Vault is unreachable (${code})`);
  }
  return new VaultFailure("unreachable", path, `Vault request failed (${code ?? "no response"})`);
}

/** The public error for a failed resolution: names the connection and the reference, never a value. */
export function unresolvable(connection: string, reference: string, why: string, cause?: unknown): AppError {
  return new AppError(
    "credential.unresolvable",
    `credential for connection ${connection} is unavailable: ${reference}: ${why}`,
    cause === undefined ? {} : { cause: sanitizedCause(cause) },
  );
}

function sanitizedCause(cause: unknown): Error {
  if (cause instanceof VaultFailure) return cause;
  return new Error(cause instanceof Error ? cause.name : "error");
}
