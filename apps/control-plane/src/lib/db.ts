import type { PrismaClient } from "@sluice/db";

export type Db = PrismaClient;
/** The client inside `prisma.$transaction(async (tx) => ...)`. */
export type Tx = Omit<Db, "$connect" | "$disconnect" | "$on" | "$transaction" | "$extends">;
/** The pg pool under Prisma: plain SQL for hot paths (session admission), nothing else. */
export type Sql = Pick<import("pg").Pool, "query">;
