import { join } from "node:path";
import pg from "pg";
import { generatePassword, secretFile } from "./secret-file";

/** Where the demo connection points; the password itself stays in `passwordFile`. */
export interface DemoPostgres {
  host: string;
  port: number;
  database: string;
  username: string;
  /** Absolute path of the role's password (mode 0600), for a `file:` credential reference. */
  passwordFile: string;
}

export interface DemoPostgresOptions {
  /** The control plane's DATABASE_URL: its role creates the demo role and database. */
  adminUrl: string;
  /** Sluice's state directory (`.sluice/`), where the password file is kept. */
  home: string;
  /** Name of the demo database and of the role that owns it (default `sluice_demo`). */
  name?: string;
  /**
   * True when the PostgreSQL server belongs to Sluice alone (the embedded one): the control
   * plane's database is then closed to every role but its owner. A server given through
   * DATABASE_URL may serve other applications whose roles rely on PUBLIC's default
   * privileges, so there only the demo role's own grants are removed.
   */
  privateServer: boolean;
}

const NAME = /^[a-z_][a-z0-9_]{0,62}$/;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  id serial PRIMARY KEY,
  name text NOT NULL,
  email text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS orders (
  id serial PRIMARY KEY,
  user_id integer NOT NULL REFERENCES users (id),
  item text NOT NULL,
  amount_cents integer NOT NULL
);`;

const SEED = `
INSERT INTO users (name, email) VALUES
  ('Ada Lovelace', 'ada@example.com'),
  ('Grace Hopper', 'grace@example.com'),
  ('Alan Turing', 'alan@example.com'),
  ('Edsger Dijkstra', 'edsger@example.com');
INSERT INTO orders (user_id, item, amount_cents)
  SELECT id, 'notebook', 1250 FROM users
  UNION ALL SELECT id, 'pencils', 300 FROM users WHERE name LIKE 'A%';`;

async function withClient<T>(config: pg.ClientConfig, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ ...config, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates or updates the login role: never a superuser, and its password is the file's. */
async function ensureRole(admin: pg.Client, role: string, password: string): Promise<void> {
  const exists = await admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role]);
  const verb = exists.rowCount ? "ALTER" : "CREATE";
  await admin.query(
    `${verb} ROLE ${admin.escapeIdentifier(role)} WITH LOGIN PASSWORD ${admin.escapeLiteral(password)} ` +
      "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT",
  );
}

async function ensureDatabase(admin: pg.Client, database: string, owner: string): Promise<void> {
  const db = admin.escapeIdentifier(database);
  const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
  if (!exists.rowCount) await admin.query(`CREATE DATABASE ${db} OWNER ${admin.escapeIdentifier(owner)}`);
  else await admin.query(`ALTER DATABASE ${db} OWNER TO ${admin.escapeIdentifier(owner)}`);
  // Only the demo role (its owner) and superusers may connect to the demo database.
  await admin.query(`REVOKE ALL ON DATABASE ${db} FROM PUBLIC`);
}

/** Keeps the demo role out of the control plane's database. */
async function isolateControlPlane(admin: pg.Client, role: string, privateServer: boolean): Promise<void> {
  const current = await admin.query<{ db: string }>("SELECT current_database() AS db");
  const cpDb = admin.escapeIdentifier(current.rows[0]?.db ?? "");
  await admin.query(`REVOKE ALL ON DATABASE ${cpDb} FROM ${admin.escapeIdentifier(role)}`);
  if (privateServer) await admin.query(`REVOKE CONNECT, TEMPORARY ON DATABASE ${cpDb} FROM PUBLIC`);
}

/** Creates the sample tables as the demo role (so it owns them) and fills them once. */
async function ensureSampleData(config: pg.ClientConfig): Promise<void> {
  await withClient(config, async (c) => {
    await c.query("BEGIN");
    await c.query(SCHEMA);
    const rows = await c.query("SELECT 1 FROM users LIMIT 1");
    if (!rows.rowCount) await c.query(SEED);
    await c.query("COMMIT");
  });
}

/**
 * Makes the quickstart's demo target: a database of its own, owned by a dedicated
 * password-protected role that is not a superuser and cannot create databases or roles,
 * with a `users` table (emails, for the masking demo) and `orders`. Safe to run on every
 * start: the role's password is reset to the one in `.sluice/`, rows are added only once.
 */
export async function ensureDemoPostgres(o: DemoPostgresOptions): Promise<DemoPostgres> {
  const name = o.name ?? "sluice_demo";
  if (!NAME.test(name))
    throw new Error(`demo database name ${JSON.stringify(name)} is not a plain identifier`);
  const passwordFile = join(o.home, `${name}.pg.password`);
  const password = secretFile(passwordFile, generatePassword);
  const url = new URL(o.adminUrl);
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1") || "127.0.0.1";
  const port = Number(url.port || 5432);
  await withClient({ connectionString: o.adminUrl }, async (admin) => {
    try {
      await ensureRole(admin, name, password);
      await ensureDatabase(admin, name, name);
      await isolateControlPlane(admin, name, o.privateServer);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(
        `cannot set up the demo database ${name}: ${why} (the DATABASE_URL role needs CREATEROLE and CREATEDB)`,
      );
    }
  });
  await ensureSampleData({ host, port, database: name, user: name, password, ssl: sslOf(url) });
  return { host, port, database: name, username: name, passwordFile };
}

function sslOf(url: URL): pg.ClientConfig["ssl"] {
  const mode = url.searchParams.get("sslmode");
  return mode && mode !== "disable" ? { rejectUnauthorized: mode === "verify-full" } : false;
}
