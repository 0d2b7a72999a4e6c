import {
  binaryValueToText,
  type ColumnDefinition,
  type CommandSummary,
  decodeBinaryRow,
  decodeTextRow,
  type ExecuteParam,
} from "@sluice/mysql-wire";
import type { SessionContext } from "../../core/broker";

/** Longest recorded cell; longer values are cut (the client still gets them whole). */
const MAX_CELL_CHARS = 4096;

type Cell = string | null;

function text(b: Buffer | null): Cell {
  if (b === null) return null;
  return b.length > MAX_CELL_CHARS
    ? `${b.subarray(0, MAX_CELL_CHARS).toString("utf8")}…`
    : b.toString("utf8");
}

function paramText(p: ExecuteParam): Cell {
  const v = p.value;
  if (v === null || v === undefined) return null;
  if (Buffer.isBuffer(v)) return text(v);
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

/**
 * Writes one MySQL session's statements and results to its recording: the statement when
 * it is let through (before it reaches the server), the result when its response is
 * complete, with the rows the client received (already masked) up to the connection's
 * row cap.
 */
export function createMysqlRecorder(session: Pick<SessionContext, "record">, rowLimit: number) {
  let columns: readonly ColumnDefinition[] | undefined;
  let rows: Cell[][] = [];
  let truncated = false;

  return {
    statement(kind: "query" | "prepare" | "execute", sql: string, extra: Record<string, unknown> = {}): void {
      session.record("mysql.statement", { kind, text: sql, ...extra });
    },
    execute(statementId: number, sql: string, params: readonly ExecuteParam[]): void {
      session.record("mysql.statement", {
        kind: "execute",
        text: sql,
        statementId,
        params: params.map(paramText),
      });
    },
    /** A row as the client received it. */
    row(payload: Buffer, cols: readonly ColumnDefinition[], binary: boolean): void {
      if (cols !== columns) columns = cols;
      if (rows.length >= rowLimit) {
        truncated = true;
        return;
      }
      if (binary) {
        const values = decodeBinaryRow(payload, cols);
        rows.push(values.map((v, i) => (v === null ? null : text(binaryValueToText(v, cols[i]!)))));
      } else {
        rows.push(decodeTextRow(payload, cols.length).map(text));
      }
    },
    end(s: CommandSummary): void {
      const sqlCommand = s.command === "COM_QUERY" || s.command === "COM_STMT_EXECUTE";
      if (sqlCommand || s.outcome !== "ok") {
        session.record("mysql.result", {
          ...(columns ? { columns: columns.map((c) => ({ name: c.name, type: c.type })) } : {}),
          rows,
          rowCount: s.rows,
          affectedRows: Number(s.affectedRows),
          truncated,
          durationMs: Math.round(s.durationMs * 1000) / 1000,
          ...(s.error
            ? { error: { code: String(s.error.errorCode), message: s.error.message.slice(0, 2000) } }
            : {}),
        });
      }
      columns = undefined;
      rows = [];
      truncated = false;
    },
  };
}

export type MysqlRecorder = ReturnType<typeof createMysqlRecorder>;
