import type { ServerError, StatementResult } from "@sluice/client";
import {
  type ApiClient,
  apiPath,
  fetchAgentCa,
  heldReviewId,
  isRecord,
  openSqlSession,
} from "@sluice/client";
import { type Progress, startProgress } from "./progress";
import { RowBudget, type StatementOutput, toStatementOutput } from "./results";
import { type McpDeps, startToolSession, ToolError } from "./tool-context";

export interface SqlRun {
  connection: string;
  sessionId: string;
  statements: StatementOutput[];
  truncated: boolean;
  /** The review a held statement waited for, once it was approved. */
  reviewId?: string;
}

export interface SqlRunOptions {
  connection: string;
  /** The SQL, or a function of the connection's type (catalog queries differ by dialect). */
  sql: string | ((type: "postgres" | "mysql") => string);
  maxRows: number;
  maxBytes: number;
  reason?: string;
  /** Why the session was opened, for the progress messages. */
  tool: string;
  progress: Progress;
  signal: AbortSignal;
}

/**
 * Runs SQL through the connection's agent in a session of its own, as `sluice exec` does:
 * the agent applies guardrails, masking and reviews and records it. A statement held for
 * review keeps the call waiting, with progress notifications, until a reviewer decides.
 */
export async function runSqlThroughAgent(deps: McpDeps, opts: SqlRunOptions): Promise<SqlRun> {
  const client = await deps.client();
  const started = await startToolSession(deps, client, opts.connection, opts.reason);
  const type = started.connection.type;
  if (type !== "postgres" && type !== "mysql") {
    throw new ToolError(
      `${opts.tool} runs SQL on postgres and mysql connections only; ${started.connection.name} is a ${type} connection`,
    );
  }
  const caPem = await fetchAgentCa(client);
  const budget = new RowBudget(opts.maxRows, opts.maxBytes);
  let reviewId: string | undefined;
  const waiting = startProgress(opts.progress, deps.heartbeatMs);
  const db = await openSqlSession(started, caPem, {
    applicationName: `sluice mcp ${opts.tool}`,
    onNotice: (notice) => {
      const id = heldReviewId(notice.message);
      if (!id) return;
      reviewId = id;
      waiting.hold(`waiting for approval of review ${id}: ${notice.message}`);
    },
  });
  // MySQL has no notices: look the held statement's review up by session instead.
  const lookup =
    db.type === "mysql"
      ? watchForReview(client, started.session.id, deps.heartbeatMs, (id) => {
          reviewId = id;
          waiting.hold(`waiting for approval of review ${id}`);
        })
      : undefined;
  const statements: StatementOutput[] = [];
  const onResult = (result: StatementResult) => {
    if (waiting.held) waiting.release(`review ${reviewId} decided; the statement ran`);
    const kept =
      db.type === "mysql" ? { ...result, rows: result.rows.filter((r) => budget.take(r)) } : result;
    statements.push(toStatementOutput(kept));
  };
  const onAbort = () => void db.close();
  opts.signal.addEventListener("abort", onAbort, { once: true });
  let outcome: { error?: ServerError };
  try {
    const sql = typeof opts.sql === "string" ? opts.sql : opts.sql(type);
    outcome = await db.run(sql, onResult, (fields) => budget.take(fields));
  } finally {
    opts.signal.removeEventListener("abort", onAbort);
    lookup?.stop();
    waiting.stop();
    await db.close();
  }
  if (outcome.error) throw ToolError.fromStatement(outcome.error, statements, reviewId);
  const run: SqlRun = {
    connection: started.connection.name,
    sessionId: started.session.id,
    statements,
    truncated: budget.truncated || statements.some((s) => s.truncated),
  };
  if (reviewId) run.reviewId = reviewId;
  return run;
}

/** Polls for a pending statement review of this session until one appears or `stop` is called. */
function watchForReview(
  client: ApiClient,
  sessionId: string,
  everyMs: number,
  onFound: (reviewId: string) => void,
): { stop(): void } {
  let stopped = false;
  const timer = setInterval(() => {
    void client
      .get(`${apiPath("reviews")}?status=pending&kind=statement&mine=true`)
      .then((page) => {
        const items = isRecord(page) && Array.isArray(page.items) ? page.items : [];
        const mine = items.find((r) => isRecord(r) && r.sessionId === sessionId);
        if (stopped || !isRecord(mine) || typeof mine.id !== "string") return;
        stopped = true;
        clearInterval(timer);
        onFound(mine.id);
      })
      .catch(() => {});
  }, everyMs);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/** Names that go into a catalog query's literal: no quotes, backslashes or control characters. */
export const CATALOG_NAME = /^[^'"\\\p{Cc}]{1,128}$/u;

function literal(name: string): string {
  return `'${name}'`;
}

/** information_schema query for the tables and columns of a connection, optionally one schema/table. */
export function catalogSql(type: "postgres" | "mysql", schema?: string, table?: string): string {
  const filters: string[] = [];
  if (schema) filters.push(`c.table_schema = ${literal(schema)}`);
  else if (type === "postgres")
    filters.push(
      "c.table_schema NOT IN ('pg_catalog', 'information_schema') AND c.table_schema NOT LIKE 'pg\\_%'",
    );
  else filters.push("c.table_schema = DATABASE()");
  if (table) filters.push(`c.table_name = ${literal(table)}`);
  const columnType = type === "postgres" ? "c.data_type" : "c.column_type";
  return [
    "SELECT c.table_schema AS table_schema, c.table_name AS table_name, t.table_type AS table_type,",
    `  c.column_name AS column_name, ${columnType} AS data_type, c.is_nullable AS is_nullable`,
    "FROM information_schema.columns c",
    "JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name",
    `WHERE ${filters.join(" AND ")}`,
    "ORDER BY c.table_schema, c.table_name, c.ordinal_position",
  ].join("\n");
}

export interface TableDescription {
  schema: string;
  name: string;
  type: string;
  columns: { name: string; type: string; nullable: boolean }[];
}

/** Groups catalog rows (schema, table, table type, column, type, nullable) into tables. */
export function tablesFrom(statement: StatementOutput | undefined): TableDescription[] {
  const tables: TableDescription[] = [];
  for (const row of statement?.rows ?? []) {
    const [schema, name, type, column, dataType, nullable] = row.map((v) => (v === null ? "" : String(v)));
    let last = tables.at(-1);
    if (!last || last.schema !== schema || last.name !== name) {
      last = { schema: schema ?? "", name: name ?? "", type: (type ?? "").toLowerCase(), columns: [] };
      tables.push(last);
    }
    last.columns.push({ name: column ?? "", type: dataType ?? "", nullable: nullable === "YES" });
  }
  return tables;
}

/** `public.customers (base table)` and one indented line per column. */
export function renderTables(tables: TableDescription[]): string {
  if (tables.length === 0) return "no tables found";
  return tables
    .map((t) =>
      [
        `${t.schema}.${t.name} (${t.type})`,
        ...t.columns.map((c) => `  ${c.name} ${c.type}${c.nullable ? "" : " not null"}`),
      ].join("\n"),
    )
    .join("\n\n");
}
