import { createHash } from "node:crypto";
import { chmod, mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { CliError } from "../../cli-error";
import { configDir, type Env } from "../../config-store";

/**
 * What `sluice kube credential` remembers per control plane and connection: that this
 * credential may use this kubernetes connection, until when. It holds no secret, only a
 * SHA-256 fingerprint of the credential it vouches for (the token itself stays in the login).
 */
export interface CacheEntry {
  url: string;
  connection: string;
  fingerprint: string;
  expiresAt: string;
}

const entrySchema = z.object({
  url: z.string(),
  connection: z.string(),
  fingerprint: z.string(),
  expiresAt: z.iso.datetime(),
});

const LOCK_STALE_MS = 45_000;
const LOCK_WAIT_MS = 50_000;

export function fingerprint(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export function kubeCacheDir(env: Env): string {
  return join(configDir(env), "kube");
}

/** One file per control plane and connection, named by a hash of both. */
export function cacheFile(env: Env, url: string, connection: string): string {
  const key = createHash("sha256").update(`${url}\0${connection}`).digest("hex").slice(0, 32);
  return join(kubeCacheDir(env), `${key}.json`);
}

export async function readCache(file: string): Promise<CacheEntry | undefined> {
  try {
    const parsed = entrySchema.safeParse(JSON.parse(await readFile(file, "utf8")));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

async function privateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

export async function writeCache(file: string, entry: CacheEntry): Promise<void> {
  const dir = join(file, "..");
  await privateDir(dir);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(entry, null, 2)}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

/**
 * Runs `fn` while holding the kube cache's lock, so kubectl commands started together
 * refresh a login once (a refresh token presented twice revokes the login).
 */
export async function withCacheLock<T>(env: Env, fn: () => Promise<T>): Promise<T> {
  const dir = kubeCacheDir(env);
  await privateDir(dir);
  const lock = join(dir, ".lock");
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      await (await open(lock, "wx", 0o600)).close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const held = await stat(lock).catch(() => undefined);
      if (held && Date.now() - held.mtimeMs > LOCK_STALE_MS) {
        await rm(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new CliError(`${lock} is held by another sluice process; remove it if none is running`);
      }
      await new Promise((r) => setTimeout(r, 30 + Math.random() * 70));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}
