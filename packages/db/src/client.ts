import { PrismaPg } from "@prisma/adapter-pg";
import type pg from "pg";
import { PrismaClient } from "../generated/prisma/client";
import { createPool } from "./pg-pool";

export interface CreateDbOptions {
  /** Maximum connections in the pg pool (default 10). */
  poolMax?: number;
}

export interface Db {
  prisma: PrismaClient;
  /** The pool under Prisma, for the few hot paths that run plain SQL (prepared statements). */
  pool: pg.Pool;
  /** Disconnects the client and ends the pool. Safe to call more than once. */
  close(): Promise<void>;
}

/**
 * A PrismaClient over a pg pool through the @prisma/adapter-pg driver adapter: queries run
 * in JS/Wasm, so no engine binary is needed at runtime.
 */
export function createDb(databaseUrl: string, opts: CreateDbOptions = {}): Db {
  const pool = createPool(databaseUrl, { max: opts.poolMax ?? 10 });
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  let closing: Promise<void> | undefined;
  return {
    prisma,
    pool,
    close() {
      closing ??= (async () => {
        await prisma.$disconnect();
        await pool.end();
      })();
      return closing;
    },
  };
}
