import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** How the `mariadb`/`mysql` client reaches a server. */
export interface MysqlLogin {
  host: string;
  port: number;
  user: string;
  password: string;
  database?: string;
}

const MAX_OUTPUT = 1024 * 1024;

/** The MariaDB or MySQL command-line client on PATH, if any. */
export function findMysqlClient(): string | undefined {
  for (const name of ["mariadb", "mysql"]) {
    if (spawnSync("sh", ["-c", `command -v ${name}`]).status === 0) return name;
  }
  return undefined;
}

function optionValue(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** The client's error line (it may echo the failed statement around it: that is dropped). */
function errorLine(stderr: string): string | undefined {
  const lines = stderr.split("\n").map((l) => l.trim());
  return (lines.find((l) => l.startsWith("ERROR")) ?? lines.find(Boolean))?.slice(0, 300);
}

/**
 * Runs `sql` (sent on stdin, so no password is ever on a command line) and resolves with
 * the tab-separated rows. The password goes through a 0600 option file in `scratchDir`
 * that is removed afterwards.
 */
export function runMysql(
  client: string,
  login: MysqlLogin,
  sql: string,
  scratchDir: string,
): Promise<string[][]> {
  const optionFile = join(scratchDir, `.mysql-${randomBytes(6).toString("hex")}.cnf`);
  writeFileSync(optionFile, `[client]\npassword=${optionValue(login.password)}\n`, { mode: 0o600 });
  const args = [
    `--defaults-extra-file=${optionFile}`,
    "--protocol=TCP",
    `--host=${login.host}`,
    `--port=${login.port}`,
    `--user=${login.user}`,
    "--batch",
    "--skip-column-names",
    "--connect-timeout=10",
    ...(login.database ? [`--database=${login.database}`] : []),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(client, args, { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      if (out.length < MAX_OUTPUT) out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      if (err.length < 4096) err += d.toString();
    });
    child.once("error", (e) => {
      rmSync(optionFile, { force: true });
      reject(e);
    });
    child.once("close", (code) => {
      rmSync(optionFile, { force: true });
      if (code === 0)
        resolve(
          out
            .split("\n")
            .filter(Boolean)
            .map((line) => line.split("\t")),
        );
      else reject(new Error(errorLine(err) ?? `${client} exited with ${code}`));
    });
    child.stdin.end(sql);
  });
}
