import type { Classification } from "../sql/classify";
import type { SqlDialect } from "../sql/dialect";
import type { LiteralShaping } from "../sql/guard";
import { classifyMysql, type MysqlContext } from "./mysql-classify";
import { type LexOptions, lexMysql, lexShape } from "./mysql-lexer";
import { mysqlLiteralBlind, mysqlLiteralShape } from "./mysql-shape";

/** Longest query text the MySQL dialect classifies; longer text is refused (`ok: false`). */
export const MAX_MYSQL_SQL_LENGTH = 1024 * 1024;

export interface MysqlDialectOptions {
  /**
   * The server version from its handshake (`10.11.19-MariaDB-0+deb12u1`, `5.5.5-10.6.4-MariaDB`,
   * `8.0.36`). Without it a versioned executable comment (`/*!50001 … *\/`) is opaque: whether the
   * server runs it depends on the version.
   */
  serverVersion?: string;
  /** `mariadb` when the version says so, else `mysql` when a version is given; unknown: `/*M! … *\/` is opaque. */
  flavor?: "mysql" | "mariadb";
  /**
   * The session's `@@sql_mode`. Without it, a statement that reads differently under
   * NO_BACKSLASH_ESCAPES or ANSI_QUOTES (a `\'` inside a string…) is refused.
   */
  sqlMode?: string;
}

/** `10.11.19` → 101119, the number executable comments are compared with. */
export function versionNumber(version: string): number | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version.replace(/^5\.5\.5-/, ""));
  if (!m) return undefined;
  return Number(m[1]) * 10000 + Number(m[2]) * 100 + Number(m[3]);
}

function modeFlags(sqlMode: string): { backslashEscapes: boolean; ansiQuotes: boolean } {
  const parts = sqlMode.toUpperCase().split(",");
  return {
    backslashEscapes: !parts.includes("NO_BACKSLASH_ESCAPES"),
    ansiQuotes: parts.some((p) =>
      ["ANSI_QUOTES", "ANSI", "ORACLE", "DB2", "MSSQL", "POSTGRESQL", "MAXDB"].includes(p),
    ),
  };
}

/**
 * MySQL or MariaDB, classified with node-sql-parser behind Sluice's own lexer. With the
 * session's sql_mode known it also gives literal shapes (see mysql-shape.ts), so the guard
 * can judge `WHERE id = 1` and `WHERE id = 2` once.
 */
export function createMysqlDialect(options: MysqlDialectOptions = {}): SqlDialect & LiteralShaping {
  const version = options.serverVersion ? versionNumber(options.serverVersion) : undefined;
  const flavor =
    options.flavor ??
    (options.serverVersion ? (/mariadb/i.test(options.serverVersion) ? "mariadb" : "mysql") : undefined);
  const flags = options.sqlMode !== undefined ? modeFlags(options.sqlMode) : undefined;
  const lex: LexOptions = {
    backslashEscapes: flags?.backslashEscapes ?? true,
    ansiQuotes: flags?.ansiQuotes ?? false,
    ...(flavor ? { flavor } : {}),
    ...(version !== undefined ? { serverVersion: version } : {}),
  };
  const ctx: MysqlContext = {
    lex,
    database: flavor === "mysql" ? "MySQL" : "MariaDB",
    defaultParseState: lex.backslashEscapes && !lex.ansiQuotes,
  };
  /** Other readings the text must agree with when the session's sql_mode is not known. */
  const alternatives: LexOptions[] = flags
    ? []
    : [
        { ...lex, backslashEscapes: false, shapeOnly: true },
        { ...lex, ansiQuotes: true, shapeOnly: true },
      ];

  function classify(sql: string): Classification {
    if (sql.length > MAX_MYSQL_SQL_LENGTH) {
      return { ok: false, error: `the query is longer than ${MAX_MYSQL_SQL_LENGTH} characters` };
    }
    if (alternatives.length > 0 && /[\\"]/.test(sql)) {
      const shape = lexShape(lexMysql(sql, { ...lex, shapeOnly: true }));
      if (alternatives.some((alt) => lexShape(lexMysql(sql, alt)) !== shape)) {
        return {
          ok: false,
          error:
            "the statement reads differently under NO_BACKSLASH_ESCAPES or ANSI_QUOTES, and the session's sql_mode is not known",
        };
      }
    }
    try {
      return classifyMysql(sql, ctx);
    } catch (err) {
      return { ok: false, error: `Sluice could not classify this statement (${(err as Error).message})` };
    }
  }

  return {
    name: flavor ?? "mysql",
    classify,
    ...(flags
      ? {
          literalShape: (sql: string) => mysqlLiteralShape(sql, lex),
          literalBlind: (sql: string, c: Classification) => mysqlLiteralBlind(sql, c, lex, classify),
        }
      : {}),
  };
}
