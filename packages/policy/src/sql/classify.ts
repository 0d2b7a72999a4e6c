import { loadModule, parseSync } from "libpg-query";
import { type Lineage, lineageOf } from "./lineage";
import { statementKind } from "./statement-kinds";
import { newWalk, visitStatement } from "./walk";

/**
 * Classifies SQL with PostgreSQL's own parser (libpg_query compiled to WebAssembly).
 * Keywords inside strings, comments, aliases or dollar-quoted bodies are not
 * statements to the parser, so they never count; what the parser shows as nested
 * (CTEs, EXPLAIN ANALYZE, PREPARE, COPY (query), MERGE actions, DO bodies) does.
 */

/** What one top-level statement does. */
export interface StatementInfo {
  /** The statement's own text (a slice of the input). */
  text: string;
  /** The top-level kind, e.g. `SELECT`, `DROP TABLE`, `COPY PROGRAM`. */
  kind: string;
  /**
   * Every kind the statement contains, each with its leading verb as well (`DROP TABLE`
   * and `DROP`), including nested statements (a DELETE inside a CTE or DO block, the
   * UPDATE/DELETE/INSERT actions of a MERGE) and `SET PARSE STATE`.
   */
  kinds: Set<string>;
  /** Relations it names, lower case, `schema.table` when qualified, `schema.*` for schema-wide commands. */
  objects: string[];
  /** Functions it calls, lower case, without schema. */
  functions: string[];
  /** Column references (absent when the dialect does not report them), lower case, as written (`email`, `u.email`, `u.*`). */
  columns?: string[];
  /** The column references that filter, join, group or order rows (WHERE, ON, HAVING, ORDER BY, GROUP BY). */
  predicateColumns?: string[];
  /** Where its column references sit, for the masked-lineage check (absent when the dialect does not report it). */
  lineage?: Lineage;
  /** An UPDATE, DELETE or MERGE (at any depth) has no condition bounding its target (see write-bounds.ts). */
  unboundedWrite: boolean;
  /** It only reads: SELECT without INTO/locking, calling only known read-only built-ins, SHOW, plain EXPLAIN, transaction control… */
  readOnly: boolean;
  /** Parts of it are code the parser cannot see into (dynamic SQL in DO, EXECUTE of a prepared statement, SQL text of a non-literal). */
  opaque: boolean;
  /** It changes a setting that decides how the server reads later text (standard_conforming_strings, backslash_quote, client_encoding). */
  parseState?: boolean;
  /** It reaches outside the database: other servers (dblink), server files or programs, large-object import/export. */
  outside?: boolean;
}

export type Classification =
  | { ok: true; statements: StatementInfo[] }
  | { ok: false; error: string; position?: number };

let loaded: Promise<void> | undefined;

/** Loads the parser. Must resolve before `classify` is called. */
export function initSqlParser(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

/** The parser reports byte offsets into the UTF-8 text. */
function statementText(sql: string, start: number, len: number): string {
  if (start === 0 && len === 0) return sql;
  if (Buffer.byteLength(sql, "utf8") === sql.length)
    return len ? sql.slice(start, start + len) : sql.slice(start);
  const buf = Buffer.from(sql, "utf8");
  return buf.toString("utf8", start, len ? start + len : buf.length);
}

type RawStatement = { stmt: Record<string, unknown>; stmt_location?: number; stmt_len?: number };

function describeStatement(sql: string, raw: RawStatement): StatementInfo | undefined {
  const [type, node] = Object.entries(raw.stmt)[0] ?? [];
  if (!type || !node) return undefined;
  const text = statementText(sql, raw.stmt_location ?? 0, raw.stmt_len ?? 0);
  const w = newWalk(text);
  visitStatement(type, node as Record<string, unknown>, w, 0);
  return {
    text: text.trim(),
    kind: statementKind(type, node as Record<string, unknown>),
    kinds: w.kinds,
    objects: [...new Set(w.objects)],
    functions: [...new Set(w.functions)],
    columns: [...new Set(w.columns)],
    predicateColumns: [...new Set(w.predicateColumns)],
    lineage: lineageOf(type, node as Record<string, unknown>, w),
    unboundedWrite: w.unboundedWrite,
    readOnly: !w.writes && !w.opaque && !w.guardedSetting && !w.parseState && !w.outside,
    opaque: w.opaque,
    parseState: w.parseState,
    outside: w.outside,
  };
}

/** Classifies every statement of a query string (a simple Query may hold several). */
export function classify(sql: string): Classification {
  if (sql.trim() === "") return { ok: true, statements: [] };
  let parsed: { stmts?: RawStatement[] };
  try {
    parsed = parseSync(sql);
  } catch (err) {
    const e = err as Error & { sqlDetails?: { cursorPosition?: number } };
    const position = e.sqlDetails?.cursorPosition;
    return { ok: false, error: e.message, ...(position !== undefined ? { position } : {}) };
  }
  const statements: StatementInfo[] = [];
  for (const raw of parsed.stmts ?? []) {
    const info = describeStatement(sql, raw);
    if (info) statements.push(info);
  }
  return { ok: true, statements };
}

/** Per statement, the columns it references and those it filters or orders by (for masking checks). */
export function referencedColumns(
  sql: string,
): { columns: string[]; predicateColumns: string[] }[] | undefined {
  const c = classify(sql);
  if (!c.ok) return undefined;
  return c.statements.map((s) => ({ columns: s.columns ?? [], predicateColumns: s.predicateColumns ?? [] }));
}
