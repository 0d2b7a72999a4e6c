import pg from "pg";

/**
 * PostgreSQL types that @prisma/adapter-pg 6.19 cannot map to a Prisma column type
 * (prisma/orm#27403). The schema engine reads catalog columns of these types while
 * introspecting, so they are reported as text, which is how pg already parses them.
 */
const TEXT_OID = 25;
const TEXT_ARRAY_OID = 1009;
const TEXT_LIKE_OIDS: ReadonlyMap<number, number> = new Map([
  [18, TEXT_OID], // "char"
  [19, TEXT_OID], // name
  [1003, TEXT_ARRAY_OID], // name[]
]);

type AnyFn = (...args: unknown[]) => unknown;
type FieldLike = { dataTypeID: number };

function retypeFields(result: unknown): unknown {
  const results = Array.isArray(result) ? result : [result];
  for (const r of results) {
    const fields = (r as { fields?: FieldLike[] } | undefined)?.fields;
    if (!fields) continue;
    for (const field of fields) {
      const mapped = TEXT_LIKE_OIDS.get(field.dataTypeID);
      if (mapped !== undefined) field.dataTypeID = mapped;
    }
  }
  return result;
}

/** A pg Client whose query results report catalog text types (`name`, `"char"`) as text. */
export class CatalogTextClient extends pg.Client {}

const baseQuery = pg.Client.prototype.query as unknown as AnyFn;
Object.defineProperty(CatalogTextClient.prototype, "query", {
  configurable: true,
  writable: true,
  value: function query(this: pg.Client, ...args: unknown[]): unknown {
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === "function") {
      args[last] = (err: unknown, res: unknown) => (callback as AnyFn)(err, err ? res : retypeFields(res));
      return baseQuery.apply(this, args);
    }
    const out = baseQuery.apply(this, args);
    if (out instanceof Promise) return out.then(retypeFields);
    return out;
  },
});

export interface PoolOptions {
  max?: number;
  /** Let the process exit while idle connections are still pooled. */
  allowExitOnIdle?: boolean;
}

export function createPool(databaseUrl: string, opts: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    Client: CatalogTextClient,
    max: opts.max ?? 10,
    allowExitOnIdle: opts.allowExitOnIdle ?? false,
  });
  // A connection the server closes while idle or while the pool is ending (restart,
  // failover, terminated backend) is discarded by the pool; the next query reconnects.
  // Without these listeners such an error would crash the process.
  pool.on("error", () => undefined);
  pool.on("connect", (client) => {
    client.on("error", () => undefined);
  });
  return pool;
}
