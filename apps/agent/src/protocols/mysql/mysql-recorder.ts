import {
  binaryValueToText,
  type ColumnDefinition,
  type CommandSummary,
  decodeBinaryRow,
  decodeTextRow,
  type ExecuteParam,
} from "@sluice/mysql-wire";
import { EncodedPayload } from "@sluice/recording";
import type { SessionContext } from "../../core/broker";
import { millis } from "../../core/json-numbers";

/** Longest recorded cell; longer values are cut (the client still gets them whole). */
const MAX_CELL_CHARS = 4096;

type Cell = string | null;

const str = JSON.stringify;

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

/** A finite number as JSON writes it (`null` otherwise). */
function num(n: number): string {
  return Number.isFinite(n) ? String(n) : "null";
}

/** A payload already encoded as JSON, appended to the spool as it is. */
function encoded(json: string): Record<string, unknown> {
  return new EncodedPayload(json) as unknown as Record<string, unknown>;
}

/** `mysql.statement` payload JSON, as `JSON.stringify` writes `{ kind, text, statementId?, params? }`. */
export function statementJson(
  kind: "query" | "prepare" | "execute",
  sql: string,
  statementId?: number,
  params?: readonly Cell[],
): string {
  let json = `{"kind":"${kind}","text":${str(sql)}`;
  if (statementId !== undefined) json += `,"statementId":${num(statementId)}`;
  if (params !== undefined) json += `,"params":${str(params)}`;
  return `${json}}`;
}

/** `mysql.result` payload JSON, as `JSON.stringify` writes it; `columns` is encoded by the caller. */
export function resultJson(
  s: CommandSummary,
  columns: string | undefined,
  rows: readonly Cell[][],
  truncated: boolean,
): string {
  let json = columns === undefined ? "{" : `{"columns":${columns},`;
  json += `"rows":${str(rows)},"rowCount":${num(s.rows)},"affectedRows":${num(Number(s.affectedRows))}`;
  json += `,"truncated":${truncated},"durationMs":${millis(Math.round(s.durationMs * 1000) / 1000)}`;
  if (s.error) {
    json += `,"error":${str({ code: String(s.error.errorCode), message: s.error.message.slice(0, 2000) })}`;
  }
  return `${json}}`;
}

/**
 * A statement let through is held here for at most this long before it is appended and
 * committed on its own; a statement answered sooner is committed together with its result,
 * in one write.
 */
export const STATEMENT_COMMIT_MS = 5;

/**
 * Writes one MySQL session's statements and results to its recording: the statement when
 * it is let through, the result when its response is complete, with the rows the client
 * received (already masked) up to the connection's row cap. `commit` hands what was
 * recorded to the kernel (see SessionContext.commit) and is called for a statement still
 * unanswered after {@link STATEMENT_COMMIT_MS}; the session commits each result itself.
 * Payloads are encoded here; a result set's column list once per distinct list (the wire
 * engine hands back the same array for the same column definitions).
 */
export function createMysqlRecorder(
  session: Pick<SessionContext, "record">,
  rowLimit: number,
  commit: () => void,
) {
  let columns: readonly ColumnDefinition[] | undefined;
  let rows: Cell[][] = [];
  let truncated = false;
  let encodedFor: readonly ColumnDefinition[] | undefined;
  let columnsJson = "";
  let pending: string | undefined;
  const timer = setTimeout(() => {
    if (appendPending()) commit();
  }, STATEMENT_COMMIT_MS);
  timer.unref();

  function appendPending(): boolean {
    if (pending === undefined) return false;
    session.record("mysql.statement", encoded(pending));
    pending = undefined;
    return true;
  }

  function hold(json: string): void {
    appendPending();
    pending = json;
    timer.refresh();
  }

  function columnList(cols: readonly ColumnDefinition[]): string {
    if (cols !== encodedFor) {
      encodedFor = cols;
      columnsJson = str(cols.map((c) => ({ name: c.name, type: c.type })));
    }
    return columnsJson;
  }

  return {
    statement(kind: "query" | "prepare", sql: string): void {
      hold(statementJson(kind, sql));
    },
    execute(statementId: number, sql: string, params: readonly ExecuteParam[]): void {
      hold(statementJson("execute", sql, statementId, params.map(paramText)));
    },
    /** A row as the client received it. */
    row(payload: Buffer, cols: readonly ColumnDefinition[], binary: boolean): void {
      columns = cols;
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
    /** The command's response is complete: its statement (if still held) and its result are appended. */
    end(s: CommandSummary): void {
      appendPending();
      const sqlCommand = s.command === "COM_QUERY" || s.command === "COM_STMT_EXECUTE";
      if (sqlCommand || s.outcome !== "ok") {
        const list = columns ? columnList(columns) : undefined;
        session.record("mysql.result", encoded(resultJson(s, list, rows, truncated)));
      }
      columns = undefined;
      if (rows.length > 0) rows = [];
      truncated = false;
    },
    /** The session is over: a statement still held is appended (before the session's end). */
    close(): void {
      clearTimeout(timer);
      appendPending();
    },
  };
}

export type MysqlRecorder = ReturnType<typeof createMysqlRecorder>;
