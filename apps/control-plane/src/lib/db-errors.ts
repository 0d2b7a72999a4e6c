/** Error codes that mean "the database is not reachable right now", not "the request is wrong". */
const DOWN_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up, recovering)
  "08000",
  "08001",
  "08003",
  "08006",
  "P1001", // Prisma: can't reach database server
  "P1017", // Prisma: server closed the connection
  "P2024", // Prisma: timed out fetching a connection from the pool
]);

/**
 * True when `err` (or anything in its cause chain) says the database is down or
 * unreachable: the caller should hear "unavailable, retry" rather than "internal error".
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && depth < 6; depth++) {
    const o = e as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof o.code === "string" && DOWN_CODES.has(o.code)) return true;
    if (
      typeof o.message === "string" &&
      /Connection terminated|connect ECONNREFUSED|terminating connection/.test(o.message)
    )
      return true;
    e = o.cause;
  }
  return false;
}
