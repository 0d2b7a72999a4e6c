import { randomBytes } from "node:crypto";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { CatalogTextClient } from "./pg-pool";

type PgAdapter = Awaited<ReturnType<PrismaPg["connect"]>>;

export function databaseUrlWithName(databaseUrl: string, name: string): string {
  const url = new URL(databaseUrl);
  url.pathname = `/${encodeURIComponent(name)}`;
  return url.toString();
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

async function runAdminStatement(databaseUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * The stock executeScript splits a script on every ";" and runs the pieces one by one,
 * which breaks dollar-quoted bodies (functions, DO blocks) and applies half a migration
 * when a later statement fails. Sending the script as one simple-protocol query runs it
 * the way the native schema engine does: all statements in one implicit transaction.
 */
function executeScriptWhole(adapter: PgAdapter): PgAdapter {
  const toDriverError = (adapter as unknown as { onError(error: unknown): never }).onError.bind(adapter);
  adapter.executeScript = async (script: string) => {
    try {
      await adapter.underlyingDriver().query(script);
    } catch (error) {
      toDriverError(error);
    }
  };
  return adapter;
}

function poolConfig(databaseUrl: string): pg.PoolConfig {
  return { connectionString: databaseUrl, Client: CatalogTextClient, max: 4, allowExitOnIdle: true };
}

/**
 * Driver adapter factory for the JS schema engine (`prisma migrate`, `prisma db`).
 *
 * - Catalog columns of type `name`/`"char"` are reported as text (see CatalogTextClient).
 * - The shadow database gets its own uniquely named database and connection string:
 *   the stock factory spreads `database` into a config that still holds the original
 *   connection string, which wins, so migrate dev would run against the real database.
 * - Migration scripts run as one statement batch (see executeScriptWhole).
 * - Pools let the process exit while idle, so the CLI does not linger on pg's idle timer.
 */
export class MigratePrismaPg extends PrismaPg {
  readonly #databaseUrl: string;

  constructor(databaseUrl: string) {
    super(poolConfig(databaseUrl));
    this.#databaseUrl = databaseUrl;
  }

  override async connect(): Promise<PgAdapter> {
    return executeScriptWhole(await super.connect());
  }

  override async connectToShadowDb(): Promise<PgAdapter> {
    const shadowName = `sluice_shadow_${Date.now()}_${randomBytes(4).toString("hex")}`;
    const shadowUrl = databaseUrlWithName(this.#databaseUrl, shadowName);
    await runAdminStatement(this.#databaseUrl, `CREATE DATABASE ${quoteIdent(shadowName)}`);
    const adapter = executeScriptWhole(await new PrismaPg(poolConfig(shadowUrl)).connect());
    const dispose = adapter.dispose.bind(adapter);
    adapter.dispose = async () => {
      await dispose();
      await runAdminStatement(
        this.#databaseUrl,
        `DROP DATABASE IF EXISTS ${quoteIdent(shadowName)} WITH (FORCE)`,
      );
    };
    return adapter;
  }
}
