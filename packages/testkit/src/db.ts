import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { migrateDeploy, migrationsDir } from "@sluice/db";
import pg from "pg";

const DEFAULT_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres";
const TEST_PREFIX = "sluice_test_";
const TEMPLATE_PREFIX = "sluice_tpl_";
const BUILD_PREFIX = "sluice_tplbuild_";
const STALE_AFTER_MS = 60 * 60 * 1000;
const MAX_IDENT = 63;

export interface TestDatabase {
  /** Connection string for the new database. */
  url: string;
  name: string;
  /** Terminates remaining connections and drops the database. */
  drop(): Promise<void>;
}

/** Server used for test databases: env SLUICE_TEST_PG_URL, else the local PostgreSQL. */
export function testServerUrl(): string {
  return process.env.SLUICE_TEST_PG_URL || DEFAULT_ADMIN_URL;
}

function urlForDatabase(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testServerUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((e) =>
      e.isDirectory() ? listFiles(join(dir, e.name)) : Promise.resolve([join(dir, e.name)]),
    ),
  );
  return nested.flat();
}

/** Short hash of every file under prisma/migrations: a new or edited migration yields a new template. */
export async function migrationsHash(): Promise<string> {
  const files = (await listFiles(migrationsDir)).sort();
  const hash = createHash("sha256");
  for (const file of files) {
    hash.update(relative(migrationsDir, file)).update("\0");
    hash.update(await readFile(file)).update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

async function databaseExists(client: pg.Client, name: string): Promise<boolean> {
  const res = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
  return (res.rowCount ?? 0) > 0;
}

async function dropDatabase(client: pg.Client, name: string): Promise<void> {
  await client.query(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    [name],
  );
  await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
}

async function buildTemplate(client: pg.Client, template: string): Promise<void> {
  const build = `${BUILD_PREFIX}${Math.floor(Date.now() / 1000)}_${randomBytes(4).toString("hex")}`;
  await client.query(`CREATE DATABASE ${quoteIdent(build)}`);
  try {
    await migrateDeploy(urlForDatabase(testServerUrl(), build));
    // The template appears under its final name only once fully migrated.
    await client.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
      [build],
    );
    await client.query(`ALTER DATABASE ${quoteIdent(build)} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true`);
    await client.query(`ALTER DATABASE ${quoteIdent(build)} RENAME TO ${quoteIdent(template)}`);
  } catch (error) {
    await dropDatabase(client, build).catch(() => {});
    throw error;
  }
}

let templateName: Promise<string> | undefined;

/**
 * Name of the migrated template database for the current migrations, created on first use.
 * A PostgreSQL advisory lock serialises creation across processes (parallel test workers).
 */
export function ensureTemplateDatabase(): Promise<string> {
  templateName ??= (async () => {
    const template = `${TEMPLATE_PREFIX}${await migrationsHash()}`;
    await withAdmin(async (client) => {
      await client.query("SELECT pg_advisory_lock(hashtext($1))", [template]);
      try {
        if (!(await databaseExists(client, template))) await buildTemplate(client, template);
      } finally {
        await client.query("SELECT pg_advisory_unlock(hashtext($1))", [template]);
      }
    });
    return template;
  })();
  templateName.catch(() => {
    templateName = undefined;
  });
  return templateName;
}

function sanitizePrefix(prefix: string): string {
  return prefix
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "_")
    .replace(/^_+|_+$/g, "");
}

/**
 * Creates a uniquely named, fully migrated database (a copy of the template database)
 * on the test server. Names carry their creation time so dropStaleTestDatabases can
 * clean up after crashed runs.
 */
export async function createTestDatabase(prefix = "db"): Promise<TestDatabase> {
  const template = await ensureTemplateDatabase();
  const base = `${TEST_PREFIX}${Math.floor(Date.now() / 1000)}_${randomBytes(4).toString("hex")}`;
  const suffix = sanitizePrefix(prefix);
  const name = (suffix ? `${base}_${suffix}` : base).slice(0, MAX_IDENT);
  await withAdmin((client) =>
    client.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template)}`),
  );
  let dropped: Promise<void> | undefined;
  return {
    name,
    url: urlForDatabase(testServerUrl(), name),
    drop() {
      dropped ??= withAdmin((client) => dropDatabase(client, name));
      return dropped;
    },
  };
}

/**
 * Drops test databases (and unfinished template builds) older than maxAgeMs, default one
 * hour, judged by the creation time in their names. Returns the dropped names.
 */
export async function dropStaleTestDatabases(maxAgeMs = STALE_AFTER_MS): Promise<string[]> {
  const cutoff = (Date.now() - maxAgeMs) / 1000;
  return withAdmin(async (client) => {
    const res = await client.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'sluice\\_test\\_%' OR datname LIKE 'sluice\\_tplbuild\\_%'",
    );
    const stale = res.rows
      .map((r) => r.datname)
      .filter((name) => {
        const created = /^sluice_(?:test|tplbuild)_(\d+)_/.exec(name)?.[1];
        return created !== undefined && Number(created) < cutoff;
      });
    for (const name of stale) await dropDatabase(client, name);
    return stale;
  });
}
