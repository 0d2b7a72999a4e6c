import type { Duplex } from "node:stream";
import mysql from "mysql2/promise";
import type { ServerError, StatementResult } from "./simple-query";

/** Longest SQL text sent in one COM_QUERY by `sluice exec`. */
export const MAX_MYSQL_SQL = 16 * 1024 * 1024;

/** A mysql2 connection over a tunnel stream; the agent has already authenticated us by the grant. */
export async function connectMysql(
  stream: Duplex,
  database: string | undefined,
  programName = "sluice exec",
): Promise<mysql.Connection> {
  return mysql.createConnection({
    // The tunnel socket was paused after its reply was read; mysql2 reads once it listens.
    stream: () => {
      process.nextTick(() => stream.resume());
      return stream as never;
    },
    user: "sluice",
    ...(database ? { database } : {}),
    multipleStatements: true,
    rowsAsArray: true,
    // Every value as the server's own text, as psql-like output expects.
    typeCast: (field: { string(): string | null }) => field.string() ?? null,
    connectAttributes: { program_name: programName },
  } as mysql.ConnectionOptions);
}

function isRows(r: unknown): r is unknown[][] {
  return Array.isArray(r);
}

/** mysql2's error fields, as the CLI prints server errors. */
export function mysqlServerError(err: unknown): ServerError | undefined {
  const e = err as { sqlMessage?: string; sqlState?: string; errno?: number };
  if (typeof e.sqlMessage !== "string") return undefined;
  return {
    message: e.sqlMessage,
    ...(e.sqlState ? { code: e.sqlState } : {}),
    ...(e.errno ? { detail: `error ${e.errno}` } : {}),
  };
}

/**
 * Runs SQL text (several statements allowed) and hands each statement's result to
 * `onResult`; resolves with the server's error when a statement failed.
 */
export async function runMysql(
  db: mysql.Connection,
  sql: string,
  onResult: (r: StatementResult) => void,
): Promise<{ error?: ServerError }> {
  try {
    const [results, fields] = await db.query({ sql, rowsAsArray: true });
    // One statement: fields are the columns (or undefined for an OK). Several: one entry per statement.
    const many =
      Array.isArray(fields) && (fields as unknown[]).some((f) => f === undefined || Array.isArray(f));
    const list = many ? (results as unknown[]) : [results];
    const fieldList = (many ? fields : [fields]) as (mysql.FieldPacket[] | undefined)[];
    list.forEach((r, i) => {
      const f = fieldList[i];
      if (isRows(r) && f) {
        const rows = r.map((row) => row.map((v) => (v === null ? null : String(v))));
        onResult({
          command: `SELECT ${rows.length}`,
          columns: f.map((c) => ({ name: c.name, typeOid: 0 })),
          rows,
        });
      } else {
        const ok = r as mysql.ResultSetHeader;
        onResult({ command: `OK, ${ok.affectedRows ?? 0} rows affected`, rows: [] });
      }
    });
    return {};
  } catch (err) {
    const server = mysqlServerError(err);
    if (server) return { error: server };
    throw err;
  }
}
