import { chownSync, mkdtempSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import type { Cluster, ConnParams } from "./cluster";
import { freePort, type Managed, registerTemp, run, startProcess, waitFor } from "./proc";

export const pgbouncerBin = process.env.PGBOUNCER_BIN ?? "/usr/sbin/pgbouncer";

export interface Bouncer {
  proc: Managed;
  port: number;
  version: string;
  /** Database alias pooled in transaction mode. */
  transaction: ConnParams;
  /** Database alias pooled in session mode. */
  session: ConnParams;
}

/**
 * One PgBouncer process in front of the private cluster with two aliases for the same
 * database: `bench` (pool_mode=transaction) and `bench_session` (pool_mode=session).
 * Clients authenticate with SCRAM-SHA-256 against an auth_file; PgBouncer logs in
 * upstream with SCRAM too.
 */
export async function startPgBouncer(c: Cluster, log: (s: string) => void): Promise<Bouncer> {
  const dir = mkdtempSync("/tmp/sluice-bench-pgbouncer-");
  registerTemp(dir);
  chownSync(dir, c.owner.uid, c.owner.gid);
  const port = await freePort();
  const { user, password } = c.conn;
  const upstream = `host=127.0.0.1 port=${c.port} dbname=bench user=${user}`;
  const ini = [
    "[databases]",
    `bench = ${upstream} pool_mode=transaction`,
    `bench_session = ${upstream} pool_mode=session`,
    "",
    "[pgbouncer]",
    "listen_addr = 127.0.0.1",
    `listen_port = ${port}`,
    `unix_socket_dir = ${dir}`,
    "auth_type = scram-sha-256",
    `auth_file = ${join(dir, "userlist.txt")}`,
    "pool_mode = transaction",
    "max_client_conn = 3000",
    "default_pool_size = 20",
    "min_pool_size = 0",
    "reserve_pool_size = 0",
    "server_tls_sslmode = disable",
    "ignore_startup_parameters = extra_float_digits",
    "log_connections = 0",
    "log_disconnections = 0",
    "log_pooler_errors = 1",
    "stats_period = 3600",
    `logfile = ${join(dir, "pgbouncer.log")}`,
    `pidfile = ${join(dir, "pgbouncer.pid")}`,
    "",
  ].join("\n");
  writeFileSync(join(dir, "pgbouncer.ini"), ini);
  writeFileSync(join(dir, "userlist.txt"), `"${user}" "${password}"\n`, { mode: 0o600 });
  for (const f of ["pgbouncer.ini", "userlist.txt"]) chownSync(join(dir, f), c.owner.uid, c.owner.gid);

  const version =
    (await run(pgbouncerBin, ["--version"], { timeoutMs: 10_000 })).stdout.split("\n")[0]?.trim() ?? "";
  log(`pgbouncer: ${version} on 127.0.0.1:${port}`);
  const proc = startProcess(pgbouncerBin, [join(dir, "pgbouncer.ini")], {
    name: "pgbouncer",
    runAs: { ...c.owner, home: dir },
    stopSignal: "SIGTERM",
  });
  await waitFor("pgbouncer", 20_000, async () => {
    if (proc.child.exitCode !== null) throw new Error(`pgbouncer exited:\n${proc.output()}`);
    return canConnect(port);
  });
  return {
    proc,
    port,
    version,
    transaction: { ...c.conn, port, database: "bench" },
    session: { ...c.conn, port, database: "bench_session" },
  };
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ host: "127.0.0.1", port });
    const t = setTimeout(() => {
      s.destroy();
      res(false);
    }, 1000);
    s.once("connect", () => {
      clearTimeout(t);
      s.destroy();
      res(true);
    });
    s.once("error", () => {
      clearTimeout(t);
      res(false);
    });
  });
}
