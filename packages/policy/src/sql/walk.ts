import { parseSync } from "libpg-query";
import { readDoBody } from "./do-body";
import {
  isBuiltinOperator,
  isBuiltinType,
  isReadOnlyFunction,
  OPAQUE_FUNCTIONS,
  OUTSIDE_FUNCTIONS,
  PARSE_STATE_SETTINGS,
  SCHEMA_NAME_FUNCTIONS,
  SQL_TEXT_FUNCTIONS,
  TABLE_NAME_FUNCTIONS,
} from "./pg-functions";
import { PARSE_STATE_KIND, READ_KINDS, statementKind } from "./statement-kinds";
import { mergeActions, unboundedMerge, unboundedUpdateOrDelete } from "./write-bounds";

/** What the walk over one top-level statement's parse tree found. */
export interface Walk {
  kinds: Set<string>;
  objects: string[];
  functions: string[];
  columns: string[];
  predicateColumns: string[];
  /** Range aliases and CTE names (whole-row references use them), lower case. */
  ranges: string[];
  /** Relations renamed by a column alias list (`users u(a, b)`); `*` for a renamed join. */
  renamed: string[];
  unboundedWrite: boolean;
  /** Not read-only: writes, locks, or calls something not known to only read. */
  writes: boolean;
  opaque: boolean;
  guardedSetting: boolean;
  parseState: boolean;
  outside: boolean;
  /** Text the nodes being visited were parsed from (DO bodies are checked against it). */
  source: string;
  predicateDepth: number;
}

export function newWalk(source: string): Walk {
  return {
    kinds: new Set(),
    objects: [],
    functions: [],
    columns: [],
    predicateColumns: [],
    ranges: [],
    renamed: [],
    unboundedWrite: false,
    writes: false,
    opaque: false,
    guardedSetting: false,
    parseState: false,
    outside: false,
    source,
    predicateDepth: 0,
  };
}

type Node = Record<string, unknown>;
const MAX_DEPTH = 200;

/** Settings a read-only lane must not change (they would lift read-only mode or switch identity). */
const GUARDED_SETTINGS = new Set([
  "default_transaction_read_only",
  "transaction_read_only",
  "session_authorization",
  "role",
  "session_replication_role",
]);

/** Keys under which column references filter or order rows (and so can probe values). */
const PREDICATE_KEYS = new Set([
  "whereClause",
  "havingClause",
  "quals",
  "joinCondition",
  "condition",
  "sortClause",
  "groupClause",
]);

function addKind(w: Walk, kind: string): void {
  w.kinds.add(kind);
  w.kinds.add(kind.split(" ")[0] as string);
  if (!READ_KINDS.has(kind)) w.writes = true;
}

function stringList(items: unknown): string[] {
  if (!Array.isArray(items)) return [];
  const out: string[] = [];
  for (const item of items) {
    const s = (item as { String?: { sval?: string } }).String?.sval;
    if (typeof s === "string") out.push(s.toLowerCase());
    else if (item && typeof item === "object" && "A_Star" in item) out.push("*");
  }
  return out;
}

function rangeVarName(rv: { schemaname?: string; relname?: string }): string | undefined {
  if (!rv.relname) return undefined;
  const rel = rv.relname.toLowerCase();
  return rv.schemaname ? `${rv.schemaname.toLowerCase()}.${rel}` : rel;
}

function dropObjects(node: Node): string[] {
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

/** A string literal argument (possibly cast, e.g. `'t'::regclass`), or undefined. */
function literalArg(arg: unknown): string | undefined {
  const cast = (arg as { TypeCast?: { arg?: unknown } } | undefined)?.TypeCast;
  const c = ((cast ? cast.arg : arg) as { A_Const?: { sval?: { sval?: string } } } | undefined)?.A_Const;
  return typeof c?.sval?.sval === "string" ? c.sval.sval : undefined;
}

/** A relation name given as text, lower case; undefined for quoted or odd names. */
function textRelation(name: string): string | undefined {
  return /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/.test(name) ? name.toLowerCase() : undefined;
}

/** Parses SQL text found inside the statement (a DO body piece, an EXECUTE literal) into the walk. */
export function parseInto(w: Walk, sql: string, depth: number): boolean {
  if (depth > MAX_DEPTH) return false;
  let parsed: { stmts?: { stmt: Node }[] };
  try {
    parsed = parseSync(sql);
  } catch {
    return false;
  }
  const saved = w.source;
  w.source = sql;
  for (const s of parsed.stmts ?? []) {
    const [type, node] = Object.entries(s.stmt)[0] ?? [];
    if (type && node) visitStatement(type, node as Node, w, depth + 1);
  }
  w.source = saved;
  return true;
}

function visitCall(call: Node, w: Walk, depth: number): void {
  const names = stringList(call.funcname);
  const fn = names[names.length - 1];
  if (!fn) return;
  w.functions.push(fn);
  if (!isReadOnlyFunction(names)) w.writes = true;
  const args = (call.args as unknown[]) ?? [];
  const first = literalArg(args[0]);
  if (OUTSIDE_FUNCTIONS.has(fn)) w.outside = true;
  if (OPAQUE_FUNCTIONS.has(fn)) w.opaque = true;
  if (SQL_TEXT_FUNCTIONS.has(fn) && (first === undefined || !parseInto(w, first, depth))) w.opaque = true;
  if (TABLE_NAME_FUNCTIONS.has(fn) || SCHEMA_NAME_FUNCTIONS.has(fn)) {
    const rel = first === undefined ? undefined : textRelation(first);
    if (rel === undefined || (SCHEMA_NAME_FUNCTIONS.has(fn) && rel.includes("."))) w.opaque = true;
    else w.objects.push(SCHEMA_NAME_FUNCTIONS.has(fn) ? `${rel}.*` : rel);
  }
  if (fn === "set_config") {
    if (first === undefined) w.opaque = true;
    else {
      const setting = first.toLowerCase();
      if (PARSE_STATE_SETTINGS.has(setting)) w.parseState = true;
      if (GUARDED_SETTINGS.has(setting)) w.guardedSetting = true;
    }
  }
}

function hasColumnAliases(node: unknown): boolean {
  const colnames = (node as { alias?: { colnames?: unknown } }).alias?.colnames;
  return Array.isArray(colnames) && colnames.length > 0;
}

/** Names a whole-row reference can use, column alias lists, and the columns a join compares. */
function visitRangeNames(node: Node, w: Walk): void {
  if (typeof node.aliasname === "string") w.ranges.push(node.aliasname.toLowerCase());
  if (typeof node.ctename === "string") w.ranges.push(node.ctename.toLowerCase());
  const join = node.JoinExpr as Node | undefined;
  if (!join || typeof join !== "object") return;
  if (hasColumnAliases(join)) w.renamed.push("*");
  // USING (email) and NATURAL compare columns the way ON does; NATURAL's columns are unknown
  const compared = [...stringList(join.usingClause), ...(join.isNatural ? ["*"] : [])];
  w.columns.push(...compared);
  w.predicateColumns.push(...compared);
}

function visitColumnRef(ref: Node, w: Walk): void {
  const name = stringList(ref.fields).join(".");
  if (!name) return;
  w.columns.push(name);
  if (w.predicateDepth > 0) w.predicateColumns.push(name);
}

/** Operators, casts and calls: anything not a known read-only built-in makes the statement not read-only. */
function visitExpression(key: string, child: Node, w: Walk, depth: number): void {
  if (key === "FuncCall") visitCall(child, w, depth);
  else if (key === "ColumnRef") visitColumnRef(child, w);
  else if (key === "A_Expr" && ["AEXPR_OP", "AEXPR_OP_ANY", "AEXPR_OP_ALL"].includes(String(child.kind))) {
    if (!isBuiltinOperator(stringList(child.name))) w.writes = true;
  } else if (key === "TypeCast") {
    const names = stringList((child.typeName as { names?: unknown } | undefined)?.names);
    if (!isBuiltinType(names)) w.writes = true;
  }
}

export function visit(value: unknown, w: Walk, depth: number): void {
  if (depth > MAX_DEPTH) {
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
    if (name && hasColumnAliases(value)) w.renamed.push(name);
  }
  visitRangeNames(value as Node, w);
  for (const [key, child] of Object.entries(value as Node)) {
    if (child === null || typeof child !== "object") continue;
    if (key.endsWith("Stmt") && key[0] === key[0]?.toUpperCase() && !Array.isArray(child)) {
      visitStatement(key, child as Node, w, depth + 1);
      continue;
    }
    visitExpression(key, child as Node, w, depth);
    const predicate = PREDICATE_KEYS.has(key);
    if (predicate) w.predicateDepth++;
    visit(child, w, depth + 1);
    if (predicate) w.predicateDepth--;
  }
}

/** Plain EXPLAIN plans without running: only calls that may be folded at planning time count. */
function visitExplainPlan(node: Node, w: Walk, depth: number): void {
  const inner = newWalk(w.source);
  inner.objects = w.objects;
  inner.functions = w.functions;
  inner.columns = w.columns;
  inner.predicateColumns = w.predicateColumns;
  inner.ranges = w.ranges;
  inner.renamed = w.renamed;
  visit(node.query, inner, depth);
  const unknownCall = inner.functions.some((f) => !isReadOnlyFunction([f]));
  if (unknownCall) w.writes = true;
}

function visitSetting(type: string, node: Node, w: Walk): void {
  const name = String(node.name ?? "").toLowerCase();
  if (GUARDED_SETTINGS.has(name) || node.kind === "VAR_SET_MULTI") w.guardedSetting = true;
  if (PARSE_STATE_SETTINGS.has(name)) {
    w.parseState = true;
    w.kinds.add(PARSE_STATE_KIND);
  }
  // `search_path = public, pg_catalog` lets a schema's functions shadow the built-ins by name.
  if (name === "search_path" && type === "VariableSetStmt") {
    const path = ((node.args as unknown[]) ?? []).map((a) => (literalArg(a) ?? "").toLowerCase());
    if (path.indexOf("pg_catalog") > 0) w.writes = true;
  }
}

function visitWrite(type: string, node: Node, w: Walk): void {
  if (type === "UpdateStmt" || type === "DeleteStmt") {
    if (unboundedUpdateOrDelete(node)) w.unboundedWrite = true;
  }
  if (type === "MergeStmt") {
    for (const action of mergeActions(node)) addKind(w, action);
    if (unboundedMerge(node)) w.unboundedWrite = true;
  }
  const target = (node.relation as { relname?: string } | undefined)?.relname?.toLowerCase();
  if (target === "pg_settings") {
    // pg_settings rules turn writes into set_config calls of any setting.
    w.parseState = true;
    w.kinds.add(PARSE_STATE_KIND);
  }
}

export function visitStatement(type: string, node: Node, w: Walk, depth: number): void {
  addKind(w, statementKind(type, node));
  if (type === "ExplainStmt") {
    // EXPLAIN plans its query; EXPLAIN ANALYZE runs it.
    if (hasAnalyze(node.options)) visit(node.query, w, depth);
    else visitExplainPlan(node, w, depth);
    return;
  }
  if (["UpdateStmt", "DeleteStmt", "MergeStmt", "InsertStmt"].includes(type)) visitWrite(type, node, w);
  if (type === "SelectStmt" && Array.isArray(node.lockingClause) && node.lockingClause.length > 0)
    w.writes = true;
  if (type === "DropStmt") w.objects.push(...dropObjects(node));
  if (type === "TruncateStmt" || type === "LockStmt" || type === "CreateFunctionStmt") w.writes = true;
  if (type === "VariableSetStmt" || type === "VariableResetStmt") visitSetting(type, node, w);
  // ALTER ROLE / DATABASE / SYSTEM … SET carry a bare VariableSetStmt.
  if (node.setstmt && typeof node.setstmt === "object")
    visitSetting("VariableSetStmt", node.setstmt as Node, w);
  if (type === "CopyStmt" && (node.is_program || typeof node.filename === "string")) w.outside = true;
  if (type === "ExecuteStmt") w.opaque = true;
  if (type === "DoStmt") visitDoBlock(node, w, depth);
  visit(node, w, depth);
}

/** True when the statement text holds `body` as a plain or dollar-quoted literal, verbatim. */
function verbatimLiteral(source: string, body: string): boolean {
  if (source.includes(`'${body.replace(/'/g, "''")}'`)) return true;
  for (const m of source.matchAll(/\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/g)) {
    if (source.includes(`${m[0]}${body}${m[0]}`)) return true;
  }
  return false;
}

/**
 * A DO block's body is read as PL/pgSQL (see do-body.ts). A body in another language, in
 * an escaped literal (`E'…'` with escapes, `U&'…'`), or not read with certainty is opaque.
 */
function visitDoBlock(node: Node, w: Walk, depth: number): void {
  let body: string | undefined;
  let language = "plpgsql";
  for (const a of (node.args as unknown[]) ?? []) {
    const d = (a as { DefElem?: { defname?: string; arg?: { String?: { sval?: string } } } }).DefElem;
    if (d?.defname === "as") body = d.arg?.String?.sval;
    if (d?.defname === "language") language = (d.arg?.String?.sval ?? "").toLowerCase();
  }
  if (body === undefined || language !== "plpgsql" || !verbatimLiteral(w.source, body)) {
    w.opaque = true;
    return;
  }
  const ok = readDoBody(body, { sql: (text) => parseInto(w, text, depth + 1) });
  if (!ok) w.opaque = true;
}
