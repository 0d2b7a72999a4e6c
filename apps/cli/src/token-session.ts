import { spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import { CliError, ExitCode, usageError } from "./cli-error";
import { type Env, readStoredConfig, type StoredConfig, writeStoredConfig } from "./config-store";

const tokenSchema = z.looseObject({
  access_token: z.string().min(1),
  expires_in: z.number(),
  refresh_token: z.string().optional(),
});
const oauthErrorSchema = z.looseObject({ error: z.string(), error_description: z.string().optional() });

export type Tokens = z.infer<typeof tokenSchema>;

export class OAuthCliError extends CliError {
  constructor(
    readonly error: string,
    description: string,
  ) {
    super(description, { exitCode: ExitCode.usage });
  }
}

/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 30_000;
const LOGIN_TIMEOUT_MS = 5 * 60_000;

async function post(url: string, path: string, body: Record<string, string>, form = false): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${url}/api/v1${path}`, {
      method: "POST",
      headers: {
        "content-type": form ? "application/x-www-form-urlencoded" : "application/json",
        accept: "application/json",
      },
      body: form ? new URLSearchParams(body).toString() : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new CliError(`cannot reach the control plane at ${url}: ${(err as Error).message}`, {
      exitCode: ExitCode.unreachable,
      cause: err,
    });
  }
  const json: unknown = await res.json().catch(() => undefined);
  if (res.ok) return json;
  const oauth = oauthErrorSchema.safeParse(json);
  if (oauth.success)
    throw new OAuthCliError(oauth.data.error, oauth.data.error_description ?? oauth.data.error);
  const api = z.looseObject({ error: z.looseObject({ message: z.string() }) }).safeParse(json);
  throw new CliError(api.success ? api.data.error.message : `the control plane answered HTTP ${res.status}`);
}

function parseTokens(value: unknown): Tokens {
  const parsed = tokenSchema.safeParse(value);
  if (!parsed.success) throw new CliError("unexpected token response from the control plane");
  return parsed.data;
}

/** Stores the tokens of a login; later commands use and refresh them. */
export async function storeTokens(env: Env, url: string, tokens: Tokens): Promise<string> {
  return writeStoredConfig(env, {
    url,
    apiKey: tokens.access_token,
    refreshToken: tokens.refresh_token,
    accessTokenExpiresAt: new Date(Date.now() + tokens.expires_in * 1000).toISOString(),
  });
}

/** The stored config, with the access token refreshed first when it has (nearly) expired. */
export async function readFreshConfig(env: Env): Promise<StoredConfig | undefined> {
  const stored = await readStoredConfig(env);
  if (!stored?.refreshToken || !stored.accessTokenExpiresAt || env.SLUICE_API_KEY?.trim()) return stored;
  if (Date.parse(stored.accessTokenExpiresAt) - REFRESH_MARGIN_MS > Date.now()) return stored;
  let tokens: Tokens;
  try {
    tokens = parseTokens(
      await post(
        stored.url,
        "/auth/token",
        { grant_type: "refresh_token", refresh_token: stored.refreshToken },
        true,
      ),
    );
  } catch (err) {
    if (err instanceof OAuthCliError) {
      throw usageError(`your login has expired or was revoked (${err.message}); run \`sluice login\` again`);
    }
    throw err;
  }
  await storeTokens(env, stored.url, tokens);
  return readStoredConfig(env);
}

function openBrowser(url: string): void {
  const cmd = process.platform === "darwin" ? "open" : process.platform === "win32" ? "explorer" : "xdg-open";
  try {
    const child = spawn(cmd, [url], { stdio: "ignore", detached: true });
    child.on("error", () => undefined);
    child.unref();
  } catch {
    // No browser here: the URL is printed anyway.
  }
}

/** Waits on 127.0.0.1:<random>/callback for the IdP's redirect. */
async function loopbackListener() {
  let resolveParams: (p: URLSearchParams) => void = () => undefined;
  const received = new Promise<URLSearchParams>((resolve) => {
    resolveParams = resolve;
  });
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://127.0.0.1");
    if (u.pathname !== "/callback") {
      res.writeHead(404).end();
      return;
    }
    const ok = u.searchParams.has("code");
    res.writeHead(ok ? 200 : 400, { "content-type": "text/html; charset=utf-8" });
    res.end(ok ? "<p>Sluice login complete. You can close this window.</p>" : "<p>Sluice login failed.</p>");
    resolveParams(u.searchParams);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    redirectUri: `http://127.0.0.1:${port}/callback`,
    received,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new CliError(`${what} did not finish within ${ms / 60_000} minutes`)),
      ms,
    );
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Authorization code + PKCE through the control plane; the browser returns to a loopback listener. */
export async function loginWithBrowser(
  url: string,
  io: { stderr(text: string): void },
  opts: { browser: boolean },
): Promise<Tokens> {
  const listener = await loopbackListener();
  try {
    const start = z
      .looseObject({ authorizationUrl: z.string(), state: z.string() })
      .parse(await post(url, "/auth/oidc/start", { redirectUri: listener.redirectUri }));
    io.stderr(`open this URL in a browser to log in:\n\n  ${start.authorizationUrl}\n\n`);
    if (opts.browser) openBrowser(start.authorizationUrl);
    const params = await withTimeout(listener.received, LOGIN_TIMEOUT_MS, "the browser login");
    const error = params.get("error");
    if (error)
      throw new CliError(
        `the identity provider refused the login: ${params.get("error_description") ?? error}`,
      );
    if (params.get("state") !== start.state)
      throw new CliError("the login answer does not match this login (state)");
    const body: Record<string, string> = { code: params.get("code") ?? "", state: start.state };
    const iss = params.get("iss");
    if (iss) body.iss = iss;
    return parseTokens(await post(url, "/auth/oidc/callback", body));
  } finally {
    listener.close();
  }
}

/** Device authorization flow: print a code, poll until the user approved it at the IdP. */
export async function loginWithDevice(url: string, io: { stderr(text: string): void }): Promise<Tokens> {
  const start = z
    .looseObject({
      device_code: z.string(),
      user_code: z.string(),
      verification_uri: z.string(),
      verification_uri_complete: z.string().optional(),
      expires_in: z.number(),
      interval: z.number(),
    })
    .parse(await post(url, "/auth/device", {}));
  io.stderr(
    `to log in, open ${start.verification_uri} and enter the code ${start.user_code}\n` +
      (start.verification_uri_complete ? `(or open ${start.verification_uri_complete})\n` : ""),
  );
  let interval = Math.max(1, start.interval) * 1000;
  const deadline = Date.now() + start.expires_in * 1000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, interval));
    try {
      return parseTokens(await post(url, "/auth/device/poll", { device_code: start.device_code }));
    } catch (err) {
      if (!(err instanceof OAuthCliError)) throw err;
      if (err.error === "slow_down") interval += 5000;
      else if (err.error !== "authorization_pending")
        throw new CliError(`device login failed: ${err.message}`);
    }
  }
  throw new CliError(
    "the device code expired before the login was approved; run `sluice login --device` again",
  );
}

/** Revokes the stored login at the control plane (best effort). */
export async function revokeStoredLogin(env: Env): Promise<boolean> {
  const stored = await readFreshConfig(env).catch(() => undefined);
  if (!stored?.refreshToken) return false;
  const res = await fetch(`${stored.url}/api/v1/auth/logout`, {
    method: "POST",
    headers: { authorization: `Bearer ${stored.apiKey}` },
    signal: AbortSignal.timeout(15_000),
  }).catch(() => undefined);
  return res?.status === 204;
}
