import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { chown, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export type HbaMethod = "trust" | "password" | "md5" | "scram-sha-256";

export interface ClusterRole {
  name: string;
  password: string;
  /** pg_hba method for TCP connections of this role; the password is stored to fit it. */
  method: HbaMethod;
}

export interface PrivateClusterOptions {
  /** Enables TLS with this certificate and key (PEM). */
  ssl?: { certPem: string; keyPem: string };
  /** Server settings passed as `-c name=value` (e.g. a higher max_connections for a burst test). */
  settings?: Record<string, string | number>;
}

export interface PrivateCluster {
  host: string;
  port: number;
  /** Unix socket directory; local connections as postgres are trusted. */
  socketDir: string;
  /** Runs SQL as the superuser over the unix socket (psql -c). */
  psql(sql: string, database?: string): Promise<string>;
  /** kill -9 of the postmaster: the server dies the way a crashed host's does. */
  crash(): Promise<void>;
  /** Starts the server again on the same port and data (after `crash`); recovery runs first. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Directory of the newest installed PostgreSQL server binaries, or undefined. */
export function findPgBinDir(): string | undefined {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(base, versions[0], "bin") : undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

function hbaFile(roles: readonly ClusterRole[]): string {
  const lines = ["local all all trust", "host all postgres 127.0.0.1/32 trust"];
  for (const r of roles) lines.push(`host all ${r.name} 127.0.0.1/32 ${r.method}`);
  return `${lines.join("\n")}\n`;
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([
    run("id", ["-u", "postgres"]),
    run("id", ["-g", "postgres"]),
  ]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

function quoteLiteral(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/**
 * Starts a throwaway PostgreSQL cluster (initdb + pg_ctl) on a free loopback port,
 * with one pg_hba line per role so password, md5 and SCRAM authentication can be
 * tested against a real server. Runs the server as OS user postgres when started as
 * root. Test-only: takes about a second.
 */
export async function startPrivateCluster(
  roles: readonly ClusterRole[] = [],
  options: PrivateClusterOptions = {},
): Promise<PrivateCluster> {
  const bin = findPgBinDir();
  if (!bin) throw new Error("PostgreSQL server binaries not found under /usr/lib/postgresql");
  const dir = await mkdtemp(join(tmpdir(), "sluice-pgc-"));
  const asRoot = process.getuid?.() === 0;
  const exec = (cmd: string, args: string[]) =>
    asRoot ? run("runuser", ["-u", "postgres", "--", cmd, ...args]) : run(cmd, args);
  const owner = asRoot ? await postgresIds() : undefined;
  const own = async (path: string) => {
    if (owner) await chown(path, owner.uid, owner.gid);
  };
  await own(dir);
  const data = join(dir, "data");
  await exec(join(bin, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  await writeFile(join(data, "pg_hba.conf"), hbaFile(roles));
  const settings = { max_connections: 40, ...options.settings };
  let opts = `-c listen_addresses=127.0.0.1 -c fsync=off`;
  for (const [name, value] of Object.entries(settings)) opts += ` -c ${name}=${value}`;
  if (options.ssl) {
    await writeFile(join(data, "server.crt"), options.ssl.certPem);
    await writeFile(join(data, "server.key"), options.ssl.keyPem, { mode: 0o600 });
    await Promise.all([own(join(data, "server.crt")), own(join(data, "server.key"))]);
    opts += " -c ssl=on";
  }
  // A port can be taken between picking and binding (other suites run in parallel): the
  // server then fails to start, says so in its log, and we try another.
  let port = 0;
  for (let attempt = 0; port === 0; attempt++) {
    const candidate = await freePort();
    await rm(join(dir, "log"), { force: true });
    const started = await exec(join(bin, "pg_ctl"), [
      "-D",
      data,
      "-o",
      `-p ${candidate} -k ${dir} ${opts}`,
      "-w",
      "-l",
      join(dir, "log"),
      "start",
    ]).then(
      () => true,
      async (err: unknown) => {
        const log = await readFile(join(dir, "log"), "utf8").catch(() => "");
        if (attempt < 4 && /could not bind|Address already in use/.test(log)) return false;
        throw err;
      },
    );
    if (started) port = candidate;
  }
  const psql = async (sql: string, database = "postgres") =>
    (
      await run("psql", [
        "-X",
        "-q",
        "-At",
        "-h",
        dir,
        "-p",
        String(port),
        "-U",
        "postgres",
        "-d",
        database,
        "-c",
        sql,
      ])
    ).stdout;
  const cluster: PrivateCluster = {
    host: "127.0.0.1",
    port,
    socketDir: dir,
    psql,
    async crash() {
      const pid = Number((await readFile(join(data, "postmaster.pid"), "utf8")).split("\n")[0]);
      // The postmaster and every backend at once, as when the host dies.
      const children = await run("pgrep", ["-P", String(pid)]).then(
        (r) => r.stdout.split("\n").filter(Boolean).map(Number),
        () => [] as number[],
      );
      for (const p of [pid, ...children]) {
        try {
          process.kill(p, "SIGKILL");
        } catch {
          // already gone
        }
      }
      // Backends exit once they notice the postmaster is gone; wait until the port is free.
      for (let i = 0; i < 100; i++) {
        try {
          process.kill(pid, 0);
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async start() {
      await exec(join(bin, "pg_ctl"), [
        "-D",
        data,
        "-o",
        `-p ${port} -k ${dir} ${opts}`,
        "-w",
        "-l",
        join(dir, "log"),
        "start",
      ]);
    },
    async stop() {
      await exec(join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    for (const r of roles) {
      const encryption = r.method === "md5" ? "md5" : "scram-sha-256";
      await psql(
        `SET password_encryption = '${encryption}'; CREATE ROLE "${r.name}" LOGIN PASSWORD ${quoteLiteral(r.password)}`,
      );
    }
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
