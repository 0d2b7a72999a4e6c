import { randomInt } from "node:crypto";
import pg from "pg";

/** A role of the fake's database secrets engine, as `vault write database/roles/<name>` defines it. */
export interface FakeVaultDatabaseRole {
  /** Statements separated by `;`, with `{{name}}` (or `{{username}}`), `{{password}}`, `{{expiration}}`. */
  creationStatements: string;
  /** Statements run on revocation; by default the role is dropped (see `dropRole`). */
  revocationStatements?: string;
  defaultTtlSeconds?: number;
  maxTtlSeconds?: number;
}

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

function randomString(length: number, alphabet = ALNUM): string {
  let out = "";
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/**
 * Vault's default PostgreSQL username template is
 * `v-{{display_name|truncate 8}}-{{role|truncate 8}}-{{random 20}}-{{unix_time}}` (63
 * characters at most); the fake leaves out the display name: `v-<role>-<random>-<time>`.
 */
export function fakeVaultUsername(role: string, now = Date.now()): string {
  return `v-${role.slice(0, 8)}-${randomString(20)}-${Math.floor(now / 1000)}`.slice(0, 63);
}

/** Vault's default password policy: 20 characters with an upper, a lower, a digit and a dash. */
export function fakeVaultPassword(): string {
  const body = randomString(16, `${ALNUM}-`);
  return `${randomString(1, "ABCDEFGHJKLMNPQRSTUVWXYZ")}${randomString(1, "abcdefghijkmnopqrstuvwxyz")}${randomInt(10)}-${body}`;
}

/** Vault renders `{{expiration}}` as Go's "2006-01-02 15:04:05-0700", in UTC. */
export function fakeVaultExpiration(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace("T", " ")}+0000`;
}

function render(template: string, vars: Record<string, string>): string {
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (m, key: string) => vars[key] ?? m);
}

function statements(text: string): string[] {
  return text
    .split(";")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The PostgreSQL side of the fake's database secrets engine: real roles in a real server. */
export function createFakeVaultDatabase(connectionUrl: string) {
  const pool = new pg.Pool({ connectionString: connectionUrl, max: 3 });
  pool.on("error", () => undefined);

  async function inTransaction(sqls: string[], url?: string): Promise<void> {
    const client = url ? new pg.Client({ connectionString: url }) : await pool.connect();
    if (url) await (client as pg.Client).connect();
    try {
      await client.query("BEGIN");
      for (const sql of sqls) await client.query(sql);
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      if (url) await (client as pg.Client).end();
      else (client as pg.PoolClient).release();
    }
  }

  /** Default revocation: end the role's backends, hand over what it owns in every database, drop it. */
  async function dropRole(username: string): Promise<void> {
    await pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", [username]);
    for (let i = 0; i < 40; i++) {
      const left = await pool.query("SELECT 1 FROM pg_stat_activity WHERE usename = $1", [username]);
      if (left.rowCount === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const exists = await pool.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [username]);
    if (exists.rowCount === 0) return;
    const dbs = await pool.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate",
    );
    for (const { datname } of dbs.rows) {
      const url = new URL(connectionUrl);
      url.pathname = `/${encodeURIComponent(datname)}`;
      await inTransaction(
        [`REASSIGN OWNED BY ${ident(username)} TO CURRENT_USER`, `DROP OWNED BY ${ident(username)}`],
        url.toString(),
      );
    }
    await pool.query(`DROP ROLE IF EXISTS ${ident(username)}`);
  }

  return {
    async create(
      roleName: string,
      role: FakeVaultDatabaseRole,
      expiresAt: Date,
    ): Promise<{ username: string; password: string }> {
      const username = fakeVaultUsername(roleName);
      const password = fakeVaultPassword();
      const vars = { name: username, username, password, expiration: fakeVaultExpiration(expiresAt) };
      await inTransaction(statements(render(role.creationStatements, vars)));
      return { username, password };
    },
    async revoke(username: string, role: FakeVaultDatabaseRole | undefined): Promise<void> {
      if (role?.revocationStatements) {
        await inTransaction(statements(render(role.revocationStatements, { name: username, username })));
      } else {
        await dropRole(username);
      }
    },
    async renew(username: string, expiresAt: Date): Promise<void> {
      await pool.query(`ALTER ROLE ${ident(username)} VALID UNTIL '${fakeVaultExpiration(expiresAt)}'`);
    },
    close: () => pool.end(),
  };
}

/**
 * Prepares a test cluster the way an operator prepares a database for Vault: a
 * superuser login for the secrets engine, and pg_hba accepting password (SCRAM) logins
 * from loopback for every role, so the users Vault creates can log in. Returns the
 * `connection_url` to give the fake.
 */
export async function prepareClusterForFakeVault(
  cluster: { host: string; port: number; psql(sql: string, database?: string): Promise<string> },
  database = "postgres",
): Promise<string> {
  const password = fakeVaultPassword();
  await cluster.psql(
    `SET password_encryption = 'scram-sha-256'; CREATE ROLE vault_admin SUPERUSER LOGIN PASSWORD '${password}'`,
  );
  const file = (await cluster.psql("SHOW hba_file")).trim();
  const current = await cluster.psql(`SELECT pg_read_file('${file.replaceAll("'", "''")}')`);
  const lines = current.split("\n").filter((l) => l.trim() !== "");
  const open = "host all all 127.0.0.1/32 scram-sha-256";
  if (!lines.includes(open)) lines.push(open);
  const values = lines.map((l) => `($hba$${l}$hba$)`).join(", ");
  await cluster.psql(`COPY (VALUES ${values}) TO '${file.replaceAll("'", "''")}'`);
  await cluster.psql("SELECT pg_reload_conf()");
  return `postgres://vault_admin:${encodeURIComponent(password)}@${cluster.host}:${cluster.port}/${encodeURIComponent(database)}`;
}
