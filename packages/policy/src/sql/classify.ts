import { loadModule, parseSync } from "libpg-query";

/**
 * Classifies SQL with PostgreSQL's own parser (libpg_query compiled to WebAssembly).
 * Keywords inside strings, comments, aliases or dollar-quoted bodies are not
 * statements to the parser, so they never count; what the parser shows as nested
 * (CTEs, EXPLAIN ANALYZE, PREPARE, COPY (query), DO bodies it can read) does.
 */

/** What one top-level statement does. */
export interface StatementInfo {
  /** The statement's own text (a slice of the input). */
  text: string;
  /** The top-level kind, e.g. `SELECT`, `DROP TABLE`, `COPY PROGRAM`. */
  kind: string;
  /**
   * Every kind the statement contains, each with its leading verb as well (`DROP TABLE`
   * and `DROP`), including nested statements (a DELETE inside a CTE or DO block).
   */
  kinds: Set<string>;
  /** Relations it names, lower case, `schema.table` when qualified, `schema.*` for schema-wide commands. */
  objects: string[];
  /** Functions it calls, lower case, without schema. */
  functions: string[];
  /** An UPDATE or DELETE (at any depth) has no WHERE clause. */
  unboundedWrite: boolean;
  /** It only reads: SELECT without INTO/locking, SHOW, EXPLAIN without ANALYZE of a write, transaction control… */
  readOnly: boolean;
  /** Parts of it are code the parser cannot see into (dynamic SQL in DO, EXECUTE of a prepared statement). */
  opaque: boolean;
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

/** Statement nodes whose kind is not just their camel-cased name. */
const KIND_NAMES: Record<string, string> = {
  SelectStmt: "SELECT",
  InsertStmt: "INSERT",
  UpdateStmt: "UPDATE",
  DeleteStmt: "DELETE",
  MergeStmt: "MERGE",
  TruncateStmt: "TRUNCATE",
  VariableSetStmt: "SET",
  VariableShowStmt: "SHOW",
  AlterSystemStmt: "ALTER SYSTEM",
  CreateStmt: "CREATE TABLE",
  CreateTableAsStmt: "CREATE TABLE AS",
  IndexStmt: "CREATE INDEX",
  ViewStmt: "CREATE VIEW",
  RenameStmt: "ALTER RENAME",
  CopyStmt: "COPY",
  DoStmt: "DO",
  CallStmt: "CALL",
  ExplainStmt: "EXPLAIN",
  PrepareStmt: "PREPARE",
  ExecuteStmt: "EXECUTE",
  DeallocateStmt: "DEALLOCATE",
  DeclareCursorStmt: "DECLARE CURSOR",
  FetchStmt: "FETCH",
  ClosePortalStmt: "CLOSE",
  LockStmt: "LOCK",
  VacuumStmt: "VACUUM",
  ClusterStmt: "CLUSTER",
  ReindexStmt: "REINDEX",
  CheckPointStmt: "CHECKPOINT",
  DiscardStmt: "DISCARD",
  ListenStmt: "LISTEN",
  UnlistenStmt: "UNLISTEN",
  NotifyStmt: "NOTIFY",
  LoadStmt: "LOAD",
  CommentStmt: "COMMENT",
  RefreshMatViewStmt: "REFRESH MATERIALIZED VIEW",
  CreatedbStmt: "CREATE DATABASE",
  DropdbStmt: "DROP DATABASE",
  AlterDatabaseStmt: "ALTER DATABASE",
  AlterDatabaseSetStmt: "ALTER DATABASE",
  DropRoleStmt: "DROP ROLE",
  DropOwnedStmt: "DROP OWNED",
  ReassignOwnedStmt: "REASSIGN OWNED",
  SecLabelStmt: "SECURITY LABEL",
  ConstraintsSetStmt: "SET CONSTRAINTS",
  VariableResetStmt: "RESET",
};

const TRANSACTION_KINDS: Record<string, string> = {
  TRANS_STMT_BEGIN: "BEGIN",
  TRANS_STMT_START: "BEGIN",
  TRANS_STMT_COMMIT: "COMMIT",
  TRANS_STMT_ROLLBACK: "ROLLBACK",
  TRANS_STMT_SAVEPOINT: "SAVEPOINT",
  TRANS_STMT_RELEASE: "RELEASE",
  TRANS_STMT_ROLLBACK_TO: "ROLLBACK",
  TRANS_STMT_PREPARE: "PREPARE TRANSACTION",
  TRANS_STMT_COMMIT_PREPARED: "COMMIT PREPARED",
  TRANS_STMT_ROLLBACK_PREPARED: "ROLLBACK PREPARED",
};

/** Kinds that never change data or schema by themselves. */
const READ_KINDS = new Set([
  "SELECT",
  "SHOW",
  "EXPLAIN",
  "BEGIN",
  "COMMIT",
  "ROLLBACK",
  "SAVEPOINT",
  "RELEASE",
  "SET",
  "RESET",
  "DECLARE CURSOR",
  "FETCH",
  "CLOSE",
  "DEALLOCATE",
  "DISCARD",
  "LISTEN",
  "UNLISTEN",
  "PREPARE",
  "SET CONSTRAINTS",
]);

/** Settings a read-only lane must not change (they would lift read-only mode or switch identity). */
const GUARDED_SETTINGS = new Set([
  "default_transaction_read_only",
  "transaction_read_only",
  "session_authorization",
  "role",
  "session_replication_role",
]);

/** Functions that write, signal other sessions, or reach outside the database. */
const WRITING_FUNCTIONS = new Set([
  "nextval",
  "setval",
  "set_config",
  "pg_terminate_backend",
  "pg_cancel_backend",
  "pg_reload_conf",
  "pg_rotate_logfile",
  "pg_switch_wal",
  "pg_create_restore_point",
  "pg_promote",
  "pg_read_file",
  "pg_read_binary_file",
  "pg_ls_dir",
  "pg_stat_file",
  "lo_import",
  "lo_export",
  "lo_unlink",
  "lo_create",
  "lo_from_bytea",
  "lo_put",
  "dblink",
  "dblink_exec",
  "dblink_connect",
  "dblink_open",
  "pg_advisory_lock",
  "pg_advisory_xact_lock",
  "pg_try_advisory_lock",
  "pg_notify",
  "pg_logical_emit_message",
  "pg_create_logical_replication_slot",
  "pg_create_physical_replication_slot",
  "pg_drop_replication_slot",
  "txid_current",
  "pg_current_xact_id",
  "query_to_xml",
  "query_to_xml_and_xmlschema",
  "cursor_to_xml",
  "table_to_xml",
]);

function camelToKind(node: string): string {
  return node
    .replace(/Stmt$/, "")
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .toUpperCase();
}

function objectTypeWord(removeType: unknown): string {
  return typeof removeType === "string" ? removeType.replace(/^OBJECT_/, "").replace(/_/g, " ") : "";
}

interface Walk {
  kinds: Set<string>;
  objects: string[];
  functions: string[];
  unboundedWrite: boolean;
  writes: boolean;
  opaque: boolean;
  guardedSetting: boolean;
}

function addKind(w: Walk, kind: string): void {
  w.kinds.add(kind);
  const verb = kind.split(" ")[0] as string;
  w.kinds.add(verb);
  if (!READ_KINDS.has(kind)) w.writes = true;
}

function stringList(items: unknown): string[] {
  if (!Array.isArray(items)) return [];
  const out: string[] = [];
  for (const item of items) {
    const s = (item as { String?: { sval?: string } }).String?.sval;
    if (typeof s === "string") out.push(s.toLowerCase());
  }
  return out;
}

function rangeVarName(rv: { schemaname?: string; relname?: string }): string | undefined {
  if (!rv.relname) return undefined;
  const rel = rv.relname.toLowerCase();
  return rv.schemaname ? `${rv.schemaname.toLowerCase()}.${rel}` : rel;
}

/** Kind of one statement node, with the details its node carries. */
function statementKind(type: string, node: Record<string, unknown>): string {
  switch (type) {
    case "TransactionStmt":
      return TRANSACTION_KINDS[String(node.kind)] ?? "TRANSACTION";
    case "DropStmt": {
      const what = objectTypeWord(node.removeType);
      return what ? `DROP ${what}` : "DROP";
    }
    case "GrantStmt":
      return node.is_grant ? "GRANT" : "REVOKE";
    case "GrantRoleStmt":
      return node.is_grant ? "GRANT" : "REVOKE";
    case "CopyStmt":
      if (node.is_program) return "COPY PROGRAM";
      return node.is_from ? "COPY FROM" : "COPY TO";
    case "SelectStmt":
      return node.intoClause ? "SELECT INTO" : "SELECT";
    case "VacuumStmt":
      return node.is_vacuumcmd ? "VACUUM" : "ANALYZE";
    default:
      return KIND_NAMES[type] ?? camelToKind(type);
  }
}

function dropObjects(node: Record<string, unknown>): string[] {
  const objs = node.objects;
  if (!Array.isArray(objs)) return [];
  const schemaWide = node.removeType === "OBJECT_SCHEMA";
  const out: string[] = [];
  for (const o of objs) {
    const parts = stringList((o as { List?: { items?: unknown } }).List?.items);
    const single = (o as { String?: { sval?: string } }).String?.sval;
    if (parts.length > 0) out.push(parts.slice(-2).join("."));
    else if (typeof single === "string")
      out.push(schemaWide ? `${single.toLowerCase()}.*` : single.toLowerCase());
  }
  return out;
}

function hasAnalyze(options: unknown): boolean {
  if (!Array.isArray(options)) return false;
  return options.some((o) => {
    const d = (o as { DefElem?: { defname?: string; arg?: unknown } }).DefElem;
    if (d?.defname !== "analyze") return false;
    const off = (d.arg as { String?: { sval?: string } } | undefined)?.String?.sval;
    const bool = (d.arg as { Boolean?: { boolval?: boolean } } | undefined)?.Boolean;
    if (bool && !bool.boolval) return false;
    return off === undefined || !["off", "false", "0", "no"].includes(off.toLowerCase());
  });
}

function visit(value: unknown, w: Walk, depth: number): void {
  if (depth > 200) {
    w.opaque = true;
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) visit(v, w, depth + 1);
    return;
  }
  if (value === null || typeof value !== "object") return;
  // Relations appear both wrapped ({RangeVar: {...}}) and bare (UpdateStmt.relation).
  const rel = value as { relname?: unknown; schemaname?: string };
  if (typeof rel.relname === "string") {
    const name = rangeVarName(rel as { schemaname?: string; relname: string });
    if (name) w.objects.push(name);
  }
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    if (child === null || typeof child !== "object") continue;
    if (key.endsWith("Stmt") && key[0] === key[0]?.toUpperCase() && !Array.isArray(child)) {
      visitStatement(key, child as Record<string, unknown>, w, depth + 1);
      continue;
    }
    if (key === "FuncCall") {
      const names = stringList((child as { funcname?: unknown }).funcname);
      const fn = names[names.length - 1];
      if (fn) {
        w.functions.push(fn);
        if (WRITING_FUNCTIONS.has(fn)) w.writes = true;
      }
    }
    visit(child, w, depth + 1);
  }
}

function visitStatement(type: string, node: Record<string, unknown>, w: Walk, depth: number): void {
  const kind = statementKind(type, node);
  addKind(w, kind);
  if (type === "ExplainStmt") {
    // EXPLAIN plans its query; EXPLAIN ANALYZE runs it.
    if (hasAnalyze(node.options)) visit(node.query, w, depth);
    else {
      const inner: Walk = {
        kinds: new Set(),
        objects: w.objects,
        functions: w.functions,
        unboundedWrite: false,
        writes: false,
        opaque: false,
        guardedSetting: false,
      };
      visit(node.query, inner, depth);
    }
    return;
  }
  if (type === "UpdateStmt" || type === "DeleteStmt") {
    if (!node.whereClause) w.unboundedWrite = true;
  }
  if (type === "SelectStmt" && Array.isArray(node.lockingClause) && node.lockingClause.length > 0) {
    w.writes = true;
  }
  if (type === "DropStmt") w.objects.push(...dropObjects(node));
  if (type === "TruncateStmt" || type === "LockStmt") w.writes = true;
  if (type === "VariableSetStmt" || type === "VariableResetStmt") {
    const name = String(node.name ?? "").toLowerCase();
    if (GUARDED_SETTINGS.has(name) || node.kind === "VAR_SET_MULTI") w.guardedSetting = true;
  }
  if (type === "ExecuteStmt") w.opaque = true;
  if (type === "DoStmt") visitDoBlock(node, w, depth);
  if (type === "CreateFunctionStmt") w.writes = true;
  visit(node, w, depth);
}

/** Splits PL/pgSQL source into `;`-terminated pieces, respecting quotes, comments and dollar quotes. */
export function splitCode(src: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  const n = src.length;
  while (i < n) {
    const c = src[i];
    if (c === "'" || c === '"') {
      const q = c;
      i++;
      while (i < n) {
        if (src[i] === q) {
          if (src[i + 1] === q) i += 2;
          else break;
        } else i++;
      }
      i++;
    } else if (c === "-" && src[i + 1] === "-") {
      while (i < n && src[i] !== "\n") i++;
    } else if (c === "/" && src[i + 1] === "*") {
      let level = 1;
      i += 2;
      while (i < n && level > 0) {
        if (src[i] === "/" && src[i + 1] === "*") {
          level++;
          i += 2;
        } else if (src[i] === "*" && src[i + 1] === "/") {
          level--;
          i += 2;
        } else i++;
      }
    } else if (c === "$") {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(src.slice(i, i + 70));
      if (m) {
        const tag = m[0];
        const close = src.indexOf(tag, i + tag.length);
        i = close < 0 ? n : close + tag.length;
      } else i++;
    } else if (c === ";") {
      out.push(src.slice(start, i));
      start = i + 1;
      i++;
    } else i++;
  }
  if (src.slice(start).trim()) out.push(src.slice(start));
  return out;
}

const SQL_START =
  /\b(select|insert|update|delete|merge|drop|truncate|alter|grant|revoke|copy|create|vacuum|reindex|cluster|lock|call|comment|refresh|reassign|security|import|with)\b/i;
const PLPGSQL_DYNAMIC = /\b(execute|open\s+\w+\s+for\s+execute)\b/i;
const PLPGSQL_PREFIX =
  /^\s*(?:<<\s*\w+\s*>>\s*)?(?:(?:declare|begin|exception|loop|else|then|end\s+(?:if|loop|case))\b\s*)*/i;

/**
 * Reads the SQL statements inside a DO block's body as far as they can be parsed.
 * Dynamic SQL (EXECUTE) and pieces that mention SQL but do not parse make the statement opaque.
 */
function visitDoBlock(node: Record<string, unknown>, w: Walk, depth: number): void {
  let body: string | undefined;
  let language = "plpgsql";
  for (const a of (node.args as unknown[]) ?? []) {
    const d = (a as { DefElem?: { defname?: string; arg?: { String?: { sval?: string } } } }).DefElem;
    if (d?.defname === "as") body = d.arg?.String?.sval;
    if (d?.defname === "language") language = (d.arg?.String?.sval ?? "").toLowerCase();
  }
  if (body === undefined || language !== "plpgsql") {
    w.opaque = true;
    return;
  }
  for (const piece of splitCode(body)) {
    if (PLPGSQL_DYNAMIC.test(piece)) {
      w.opaque = true;
      continue;
    }
    const m = SQL_START.exec(piece.replace(PLPGSQL_PREFIX, ""));
    if (!m) continue;
    const sql = piece.slice(piece.toLowerCase().indexOf(m[0].toLowerCase(), 0));
    try {
      const parsed = parseSync(sql) as { stmts?: { stmt: unknown }[] };
      for (const s of parsed.stmts ?? []) visit(s.stmt, w, depth + 1);
    } catch {
      // `x := (select …)`, IF conditions and the like: not a statement of its own.
      // If it still looks like a write, the block is not fully visible.
      if (/\b(insert|update|delete|merge|drop|truncate|alter|grant|revoke|copy|create)\b/i.test(sql)) {
        w.opaque = true;
      }
    }
  }
}

/** The parser reports byte offsets into the UTF-8 text. */
function statementText(sql: string, start: number, len: number): string {
  if (start === 0 && len === 0) return sql;
  if (Buffer.byteLength(sql, "utf8") === sql.length)
    return len ? sql.slice(start, start + len) : sql.slice(start);
  const buf = Buffer.from(sql, "utf8");
  return buf.toString("utf8", start, len ? start + len : buf.length);
}

/** Classifies every statement of a query string (a simple Query may hold several). */
export function classify(sql: string): Classification {
  if (sql.trim() === "") return { ok: true, statements: [] };
  let parsed: { stmts?: { stmt: Record<string, unknown>; stmt_location?: number; stmt_len?: number }[] };
  try {
    parsed = parseSync(sql);
  } catch (err) {
    const e = err as Error & { sqlDetails?: { cursorPosition?: number } };
    const position = e.sqlDetails?.cursorPosition;
    return { ok: false, error: e.message, ...(position !== undefined ? { position } : {}) };
  }
  const statements: StatementInfo[] = [];
  for (const raw of parsed.stmts ?? []) {
    const [type, node] = Object.entries(raw.stmt)[0] ?? [];
    if (!type || !node) continue;
    const w: Walk = {
      kinds: new Set(),
      objects: [],
      functions: [],
      unboundedWrite: false,
      writes: false,
      opaque: false,
      guardedSetting: false,
    };
    visitStatement(type, node as Record<string, unknown>, w, 0);
    const text = statementText(sql, raw.stmt_location ?? 0, raw.stmt_len ?? 0);
    statements.push({
      text: text.trim(),
      kind: statementKind(type, node as Record<string, unknown>),
      kinds: w.kinds,
      objects: [...new Set(w.objects)],
      functions: [...new Set(w.functions)],
      unboundedWrite: w.unboundedWrite,
      readOnly: !w.writes && !w.opaque && !w.guardedSetting,
      opaque: w.opaque,
    });
  }
  return { ok: true, statements };
}
