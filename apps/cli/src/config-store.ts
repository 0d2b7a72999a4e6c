import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { CliError, ExitCode, usageError } from "./cli-error";
import { DEFAULT_CONTROL_PLANE_URL, NOT_LOGGED_IN } from "./hints";

export type Env = Record<string, string | undefined>;

export interface StoredConfig {
  url: string;
  /** An API key (`sluice login --api-key`), or the current access token of an OIDC login. */
  apiKey: string;
  /** Set by an OIDC login: rotates the access token when it expires. */
  refreshToken?: string;
  /** When the stored access token expires (ISO 8601). */
  accessTokenExpiresAt?: string;
}

export interface Credentials extends StoredConfig {
  /** Where the API key came from, for messages (never the key itself). */
  keySource: "env" | "config";
}

const storedConfigSchema = z.object({
  url: z.string().min(1),
  apiKey: z.string().min(1),
  refreshToken: z.string().min(1).optional(),
  accessTokenExpiresAt: z.string().min(1).optional(),
});

const MAX_STDIN_KEY_BYTES = 64 * 1024;

/** `$SLUICE_CONFIG_DIR`, else `$XDG_CONFIG_HOME/sluice`, else `~/.config/sluice`. */
export function configDir(env: Env): string {
  if (env.SLUICE_CONFIG_DIR) return env.SLUICE_CONFIG_DIR;
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(base, "sluice");
}

export function configFile(env: Env): string {
  return join(configDir(env), "config.json");
}

export async function readStoredConfig(env: Env): Promise<StoredConfig | undefined> {
  const file = configFile(env);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`, { exitCode: ExitCode.usage });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const result = storedConfigSchema.safeParse(parsed);
  if (!result.success) {
    throw usageError(`${file} is not a valid sluice config; run \`sluice login\` again`);
  }
  return result.data;
}

/** Writes the config atomically with mode 0600 in a 0700 directory; returns the file path. */
export async function writeStoredConfig(env: Env, config: StoredConfig): Promise<string> {
  const dir = configDir(env);
  const file = configFile(env);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const tmp = `${file}.${process.pid}.tmp`;
  const body = {
    url: config.url,
    apiKey: config.apiKey,
    ...(config.refreshToken ? { refreshToken: config.refreshToken } : {}),
    ...(config.accessTokenExpiresAt ? { accessTokenExpiresAt: config.accessTokenExpiresAt } : {}),
  };
  await writeFile(tmp, `${JSON.stringify(body, null, 2)}\n`, {
    mode: 0o600,
  });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
  return file;
}

/** Removes the stored config; returns false when there was none. */
export async function removeStoredConfig(env: Env): Promise<boolean> {
  const file = configFile(env);
  try {
    await rm(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

/** `SLUICE_API_KEY` and `SLUICE_URL` override what `sluice login` stored. */
export function resolveCredentials(env: Env, stored: StoredConfig | undefined): Credentials {
  const envKey = env.SLUICE_API_KEY?.trim();
  const apiKey = envKey || stored?.apiKey;
  if (!apiKey) throw usageError(NOT_LOGGED_IN);
  const url = normalizeUrl(env.SLUICE_URL || stored?.url || DEFAULT_CONTROL_PLANE_URL);
  return { url, apiKey, keySource: envKey ? "env" : "config" };
}

/** Accepts `http(s)://host[:port][/prefix]`; drops a trailing slash and a trailing `/api/v1`. */
export function normalizeUrl(raw: string): string {
  let parsed: URL;
  try {
    parsed = new URL(raw.trim());
  } catch {
    throw usageError(`invalid control-plane URL "${raw}": expected http(s)://host[:port]`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw usageError(`invalid control-plane URL "${raw}": expected http(s)://host[:port]`);
  }
  if (parsed.username || parsed.password || parsed.search || parsed.hash) {
    throw usageError(`invalid control-plane URL "${raw}": no credentials, query or fragment allowed`);
  }
  const path = parsed.pathname.replace(/\/+$/, "").replace(/\/api\/v1$/, "");
  return `${parsed.origin}${path}`;
}

/** Reads an API key from stdin (so it stays out of shell history), trimmed. */
export async function readKeyFromStdin(stdin: AsyncIterable<Buffer | string>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > MAX_STDIN_KEY_BYTES) throw usageError("the API key on stdin is too long");
    chunks.push(buf);
  }
  const key = Buffer.concat(chunks).toString("utf8").trim();
  if (!key) throw usageError("no API key on stdin (with `--api-key -`, pipe the key in)");
  if (/\s/.test(key)) throw usageError("the API key on stdin must be a single line without spaces");
  return key;
}
