import { type Classification, classify } from "./classify";

/**
 * What the guard needs from a SQL dialect: one query string in, every statement in it out,
 * each described as a `StatementInfo` (kind, objects, functions, unbounded write, read-only,
 * opaque). A dialect fails closed: text it cannot split with certainty is `ok: false`, and a
 * statement it cannot see all the way into is `opaque` (the guard denies both on a guarded
 * connection). `classify` never throws.
 */
export interface SqlDialect {
  /** `postgresql`, `mysql`, `mariadb`: shown in dry-runs and logs. */
  readonly name: string;
  /** Splits `sql` into the statements the server would run and classifies each. */
  classify(sql: string): Classification;
}

/** PostgreSQL, classified by libpg_query (`initSqlParser()` must have resolved). */
export const postgresDialect: SqlDialect = {
  name: "postgresql",
  classify,
};
