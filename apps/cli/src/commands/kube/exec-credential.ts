import { type ApiClient, ApiError, apiPath, isCliError } from "@sluice/client";
import { connectionTypeSpec } from "@sluice/connection-types";
import { z } from "zod";
import { CliError, ExitCode, usageError } from "../../cli-error";
import { type Env, normalizeUrl, readStoredConfig, resolveCredentials } from "../../config-store";
import type { CliContext } from "../../context";
import { expectShape } from "../../print";
import { storeTokens } from "../../token-session";
import { cacheFile, fingerprint, readCache, withCacheLock, writeCache } from "./credential-cache";

/** A credential is handed out, and reused from the cache, only while it has this much life left. */
export const REUSE_MARGIN_MS = 60_000;
/** An API key does not expire: kubectl asks again after this long, and the connection is checked again. */
export const KEY_RECHECK_MS = 10 * 60_000;

const EXEC_API_VERSIONS = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"];

export interface KubeCredential {
  token: string;
  expiresAt: Date;
}

/** The credential of the current login: an API key, or an OIDC login's access token. */
interface Login {
  url: string;
  token: string;
  refreshToken?: string;
  /** Set for access tokens; API keys have no expiry here. */
  expiresAt?: Date;
}

const connectionSchema = z.looseObject({ name: z.string(), type: z.string() });
const tokenSchema = z.looseObject({
  access_token: z.string().min(1),
  expires_in: z.number(),
  refresh_token: z.string().optional(),
});

/** What kubectl says in KUBERNETES_EXEC_INFO; the cluster part is not used (no prompt ever happens). */
export function execApiVersion(raw: string | undefined): string {
  if (!raw) return EXEC_API_VERSIONS[0] as string;
  try {
    const info = JSON.parse(raw) as { apiVersion?: unknown };
    if (typeof info.apiVersion === "string" && EXEC_API_VERSIONS.includes(info.apiVersion)) {
      return info.apiVersion;
    }
  } catch {
    // kubectl always sends JSON; anything else is answered in v1.
  }
  return EXEC_API_VERSIONS[0] as string;
}

/** RFC 3339 in whole seconds, rounded down, as Kubernetes writes timestamps. */
function rfc3339(at: Date): string {
  return new Date(Math.floor(at.getTime() / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

export function renderExecCredential(apiVersion: string, credential: KubeCredential): string {
  const body = {
    apiVersion,
    kind: "ExecCredential",
    status: { token: credential.token, expirationTimestamp: rfc3339(credential.expiresAt) },
  };
  return `${JSON.stringify(body)}\n`;
}

async function currentLogin(env: Env): Promise<Login> {
  const stored = await readStoredConfig(env);
  const creds = resolveCredentials(env, stored);
  if (creds.keySource === "env" || !stored) return { url: creds.url, token: creds.apiKey };
  return {
    url: creds.url,
    token: stored.apiKey,
    ...(stored.refreshToken ? { refreshToken: stored.refreshToken } : {}),
    ...(stored.accessTokenExpiresAt ? { expiresAt: new Date(stored.accessTokenExpiresAt) } : {}),
  };
}

/** Rotates the login's tokens at `/auth/token` (refresh_token grant) and stores them. */
async function refreshLogin(env: Env, login: Login): Promise<Login> {
  if (!login.refreshToken) {
    throw usageError("your Sluice login has expired; run `sluice login` again");
  }
  let res: Response;
  try {
    res = await fetch(`${login.url}/api/v1/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: login.refreshToken,
      }).toString(),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    throw new CliError(`cannot reach the control plane at ${login.url}: ${(err as Error).message}`, {
      exitCode: ExitCode.unreachable,
    });
  }
  if (res.status >= 500) {
    throw new CliError(`the control plane at ${login.url} answered HTTP ${res.status} to a token refresh`, {
      exitCode: ExitCode.unreachable,
    });
  }
  const body: unknown = await res.json().catch(() => undefined);
  const tokens = tokenSchema.safeParse(body);
  if (!res.ok || !tokens.success) {
    const reason = (body as { error_description?: unknown } | undefined)?.error_description;
    throw usageError(
      `your Sluice login has expired or was revoked${typeof reason === "string" ? ` (${reason})` : ""}; run \`sluice login\` again`,
    );
  }
  await storeTokens(env, login.url, tokens.data);
  return currentLogin(env);
}

/** The connection, when it is a kubernetes connection the caller may use. */
export async function kubernetesConnection(client: ApiClient, name: string): Promise<{ name: string }> {
  let found: unknown;
  try {
    found = await client.get(apiPath("connections", name));
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      throw new CliError(`there is no connection ${name} that you may use (see \`sluice connections\`)`);
    }
    throw err;
  }
  const conn = expectShape(connectionSchema, found, "a connection");
  if (conn.type !== "kubernetes") {
    const hint = connectionTypeSpec(conn.type)?.hints.tunnel(conn.name);
    throw new CliError(
      `${conn.name} is a ${conn.type} connection; kubectl reaches kubernetes connections only`,
      {
        details: hint ? [`  connect to it with: ${hint}`] : [],
      },
    );
  }
  return conn;
}

function usable(expiresAt: Date | undefined, now: number): boolean {
  return expiresAt === undefined || expiresAt.getTime() - REUSE_MARGIN_MS > now;
}

async function fromCache(file: string, login: Login, connection: string, now: number) {
  const entry = await readCache(file);
  if (!entry || entry.url !== login.url || entry.connection !== connection) return undefined;
  if (entry.fingerprint !== fingerprint(login.token) || !usable(login.expiresAt, now)) return undefined;
  const expiresAt = new Date(entry.expiresAt);
  return usable(expiresAt, now) ? { token: login.token, expiresAt } : undefined;
}

/**
 * The credential kubectl presents to the agent's Kubernetes listener. An OIDC login's
 * access token is handed out as it is (short-lived: the control plane's access-token TTL)
 * and refreshed first when less than a minute is left; an API key is handed out for ten
 * minutes at a time. Checking the connection is cached, so most calls make no request.
 */
export async function kubeCredential(
  ctx: Pick<CliContext, "io" | "clientFor">,
  connection: string,
  expectedUrl: string | undefined,
): Promise<KubeCredential> {
  const env = ctx.io.env;
  let login = await currentLogin(env);
  if (expectedUrl !== undefined && normalizeUrl(expectedUrl) !== login.url) {
    throw usageError(
      `this kubeconfig entry belongs to the control plane at ${normalizeUrl(expectedUrl)}, but you are logged in to ${login.url}`,
      [
        `  run \`sluice login --url ${normalizeUrl(expectedUrl)}\`, or \`sluice kube login ${connection}\` again`,
      ],
    );
  }
  const file = cacheFile(env, login.url, connection);
  const hit = await fromCache(file, login, connection, Date.now());
  if (hit) return hit;
  return withCacheLock(env, async () => {
    // Another process may have refreshed the login while this one waited for the lock.
    login = await currentLogin(env);
    const again = await fromCache(file, login, connection, Date.now());
    if (again) return again;
    if (!usable(login.expiresAt, Date.now())) login = await refreshLogin(env, login);
    await kubernetesConnection(ctx.clientFor(login.url, login.token), connection);
    const expiresAt = login.expiresAt ?? new Date(Date.now() + KEY_RECHECK_MS);
    await writeCache(file, {
      url: login.url,
      connection,
      fingerprint: fingerprint(login.token),
      expiresAt: expiresAt.toISOString(),
    });
    return { token: login.token, expiresAt };
  });
}

/** kubectl prints the plugin's stderr above its own message: say who is speaking. */
export function credentialError(err: unknown, connection: string): unknown {
  if (!isCliError(err)) return err;
  const code = err instanceof ApiError ? ` (${err.code})` : "";
  return new CliError(`sluice cannot get a credential for ${connection}: ${err.message}${code}`, {
    exitCode: err.exitCode,
    details: err.details,
    cause: err,
  });
}
