import { randomBytes } from "node:crypto";
import { appendFileSync, chownSync, mkdirSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import {
  freePort,
  type Managed,
  osUser,
  type RunAs,
  registerTemp,
  run,
  runOk,
  startProcess,
  stopProcess,
  waitFor,
} from "./proc";

export const pgBin = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin";

export interface ConnParams {
  host: string;
  port: number;
  user: string;
  database: string;
  password: string;
}

export interface Cluster {
  dir: string;
  socketDir: string;
  port: number;
  version: string;
  owner: RunAs;
  /** The benchmark role, authenticated with SCRAM-SHA-256 over TCP. */
  conn: ConnParams;
  postmaster: Managed;
  settings: string[];
  stop: () => Promise<void>;
}

export const clusterSettings = [
  "shared_buffers = '256MB'",
  "synchronous_commit = off",
  "max_connections = 1100",
  "password_encryption = 'scram-sha-256'",
  "log_min_messages = warning",
  "log_min_error_statement = panic",
];

/** initdb + start a private cluster on a free port, owned by the `postgres` OS user. */
export async function startCluster(log: (s: string) => void): Promise<Cluster> {
  const owner = osUser(process.env.BENCH_OS_USER ?? "postgres");
  const dir = mkdtempSync("/tmp/sluice-bench-pg-");
  registerTemp(dir);
  chownSync(dir, owner.uid, owner.gid);
  const dataDir = join(dir, "data");
  const socketDir = join(dir, "sock");
  mkdirSync(socketDir);
  chownSync(socketDir, owner.uid, owner.gid);
  const port = await freePort();

  log(`cluster: initdb in ${dataDir}`);
  await runOk(
    join(pgBin, "initdb"),
    [
      "-D",
      dataDir,
      "-U",
      "postgres",
      "-E",
      "UTF8",
      "--auth-local=trust",
      "--auth-host=scram-sha-256",
      "--no-sync",
    ],
    { runAs: { ...owner, home: dir }, timeoutMs: 120_000 },
  );
  appendFileSync(
    join(dataDir, "postgresql.conf"),
    `\n${[
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${socketDir}'`,
      ...clusterSettings,
    ].join("\n")}\n`,
  );
  const postmaster = startProcess(join(pgBin, "postgres"), ["-D", dataDir], {
    name: "postgres",
    runAs: { ...owner, home: dir },
    stopSignal: "SIGINT",
  });
  await waitFor("the private cluster", 60_000, async () => {
    if (postmaster.child.exitCode !== null) throw new Error(`postgres exited:\n${postmaster.output()}`);
    const r = await run(join(pgBin, "pg_isready"), ["-q", "-h", socketDir, "-p", String(port)], {
      timeoutMs: 5000,
    });
    return r.code === 0;
  });
  const version = (await runOk(join(pgBin, "postgres"), ["--version"], { timeoutMs: 10_000 })).stdout.trim();

  const password = randomBytes(18).toString("base64url");
  const admin = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", socketDir, "-p", String(port), "-U", "postgres"];
  await runOk("psql", [...admin, "-d", "postgres"], {
    timeoutMs: 30_000,
    input: `CREATE ROLE bench LOGIN PASSWORD '${password}';\nCREATE DATABASE bench OWNER bench;\n`,
  });
  const conn: ConnParams = { host: "127.0.0.1", port, user: "bench", database: "bench", password };
  return {
    dir,
    socketDir,
    port,
    version,
    owner: { ...owner, home: dir },
    conn,
    postmaster,
    settings: clusterSettings,
    stop: () => stopProcess(postmaster, 20_000),
  };
}

export function pgEnv(c: ConnParams): NodeJS.ProcessEnv {
  return {
    PGHOST: c.host,
    PGPORT: String(c.port),
    PGUSER: c.user,
    PGDATABASE: c.database,
    PGPASSWORD: c.password,
    PGSSLMODE: "disable",
    PGCONNECT_TIMEOUT: "10",
    PGAPPNAME: "sluice-bench",
  };
}

/** pgbench tables at the given scale plus the 1M-row `big` table, all over SCRAM/TCP. */
export async function loadData(
  c: Cluster,
  scale: number,
  bigRows: number,
  log: (s: string) => void,
): Promise<void> {
  const env = pgEnv(c.conn);
  log(`cluster: pgbench -i -s ${scale}`);
  await runOk("pgbench", ["-i", "-q", "-s", String(scale)], { env, timeoutMs: 600_000 });
  log(`cluster: big table (${bigRows} rows)`);
  await runOk("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1"], {
    env,
    timeoutMs: 600_000,
    input: [
      "DROP TABLE IF EXISTS big;",
      `CREATE TABLE big AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, ${bigRows}) g;`,
      "VACUUM ANALYZE;",
      "",
    ].join("\n"),
  });
  await runOk(
    "psql",
    [
      "-X",
      "-q",
      "-h",
      c.socketDir,
      "-p",
      String(c.port),
      "-U",
      "postgres",
      "-d",
      "postgres",
      "-c",
      "CHECKPOINT",
    ],
    {
      timeoutMs: 300_000,
    },
  );
}

/** Number of client backends connected to the bench database. */
export async function backendCount(c: Cluster): Promise<number> {
  const r = await run(
    "psql",
    [
      "-X",
      "-A",
      "-t",
      "-h",
      c.socketDir,
      "-p",
      String(c.port),
      "-U",
      "postgres",
      "-d",
      "postgres",
      "-c",
      "SELECT count(*) FROM pg_stat_activity WHERE datname = 'bench' AND backend_type = 'client backend'",
    ],
    { timeoutMs: 10_000 },
  );
  return r.code === 0 ? Number(r.stdout.trim()) : Number.NaN;
}
