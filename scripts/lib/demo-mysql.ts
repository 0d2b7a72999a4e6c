import { join } from "node:path";
import { findMysqlClient, type MysqlLogin, runMysql } from "./mysql-cli";
import { generatePassword, secretFile } from "./secret-file";
import { reachable } from "./services";

/** Where a demo MySQL connection points; the password itself stays in `passwordFile`. */
export interface DemoMysql {
  host: string;
  port: number;
  database: string;
  username: string;
  /** Absolute path of the user's password (mode 0600), for a `file:` credential reference. */
  passwordFile: string;
}

export type DemoMysqlResult = { available: true; demo: DemoMysql } | { available: false; reason: string };

export interface DemoMysqlOptions {
  /** Sluice's state directory (`.sluice/`), where the password file is kept. */
  home: string;
  /** An account that may create databases and users, e.g. `mysql://root@127.0.0.1:3306`. */
  adminUrl?: string;
  /** Name of the demo database and of its user (default `sluice_demo`). */
  name?: string;
}

export const DEFAULT_DEMO_MYSQL_URL = "mysql://root@127.0.0.1:3306";
const NAME = /^[a-z_][a-z0-9_]{0,31}$/;

/** The privileges a schema owner needs for the demo; nothing global, no GRANT OPTION. */
const PRIVILEGES =
  "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, REFERENCES, " +
  "CREATE TEMPORARY TABLES, LOCK TABLES, CREATE VIEW, SHOW VIEW";

const SAMPLE = `
CREATE TABLE IF NOT EXISTS users (
  id INT PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  email VARCHAR(255) NOT NULL UNIQUE,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS cards (
  id INT PRIMARY KEY,
  user_id INT NOT NULL,
  card_number VARCHAR(19) NOT NULL,
  expires CHAR(5) NOT NULL,
  FOREIGN KEY (user_id) REFERENCES users (id)
);
INSERT IGNORE INTO users (id, name, email) VALUES
  (1, 'Ada Lovelace', 'ada@example.com'),
  (2, 'Grace Hopper', 'grace@example.com'),
  (3, 'Alan Turing', 'alan@example.com'),
  (4, 'Edsger Dijkstra', 'edsger@example.com');
INSERT IGNORE INTO cards (id, user_id, card_number, expires) VALUES
  (1, 1, '4111111111111111', '12/30'),
  (2, 2, '5555555555554444', '01/31'),
  (3, 3, '378282246310005', '06/29'),
  (4, 4, '6011111111111117', '09/30');`;

function quoted(s: string): string {
  return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** Creates (or re-syncs) the database, its password-protected user and that user's grants. */
function setupSql(name: string, password: string): string {
  const user = `${quoted(name)}@'%'`;
  return [
    `CREATE DATABASE IF NOT EXISTS \`${name}\` CHARACTER SET utf8mb4;`,
    `CREATE USER IF NOT EXISTS ${user} IDENTIFIED BY ${quoted(password)};`,
    `ALTER USER ${user} IDENTIFIED BY ${quoted(password)};`,
    `REVOKE ALL PRIVILEGES, GRANT OPTION FROM ${user};`,
    `GRANT ${PRIVILEGES} ON \`${name}\`.* TO ${user};`,
  ].join("\n");
}

function adminLogin(adminUrl: string): MysqlLogin {
  const u = new URL(adminUrl);
  if (u.protocol !== "mysql:" && u.protocol !== "mariadb:") throw new Error("use a mysql:// URL");
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, "$1") || "127.0.0.1",
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username || "root"),
    password: decodeURIComponent(u.password),
  };
}

/**
 * Prepares a MySQL/MariaDB demo target when a server is reachable: a `sluice_demo`
 * database, a user of the same name limited to it with a generated password (kept in
 * `.sluice/`, mode 0600), and sample `users` (emails) and `cards` (card numbers) rows for
 * the masking demo. Safe to run on every start. Uses the `mariadb` or `mysql` client.
 */
export async function ensureDemoMysql(o: DemoMysqlOptions): Promise<DemoMysqlResult> {
  const name = o.name ?? "sluice_demo";
  if (!NAME.test(name))
    throw new Error(`demo database name ${JSON.stringify(name)} is not a plain identifier`);
  let admin: MysqlLogin;
  try {
    admin = adminLogin(o.adminUrl ?? DEFAULT_DEMO_MYSQL_URL);
  } catch {
    return {
      available: false,
      reason: "the MySQL admin URL is not valid (use mysql://user:password@host:port)",
    };
  }
  if (!(await reachable(admin.host, admin.port))) {
    return {
      available: false,
      reason: `no MySQL or MariaDB server is reachable on ${admin.host}:${admin.port}`,
    };
  }
  const client = findMysqlClient();
  if (!client) return { available: false, reason: "neither the mariadb nor the mysql client is installed" };
  const passwordFile = join(o.home, `${name}.mysql.password`);
  const password = secretFile(passwordFile, generatePassword);
  try {
    await runMysql(client, admin, setupSql(name, password), o.home);
    await runMysql(client, { ...admin, user: name, password, database: name }, SAMPLE, o.home);
  } catch (err) {
    const why = (err instanceof Error ? err.message : String(err)).replaceAll(password, "***");
    return { available: false, reason: `cannot set up the MySQL demo database ${name}: ${why}` };
  }
  return {
    available: true,
    demo: { host: admin.host, port: admin.port, database: name, username: name, passwordFile },
  };
}
