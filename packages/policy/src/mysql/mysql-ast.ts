import { createRequire } from "node:module";
import type { Parser as SqlParser } from "node-sql-parser";
import { READ_ONLY_FUNCTIONS } from "./mysql-functions";

/** What the walk of one statement found; merged into its StatementInfo. */
export interface Findings {
  kinds: Set<string>;
  objects: string[];
  functions: string[];
  unboundedWrite: boolean;
  writes: boolean;
  opaque: boolean;
}

export function emptyFindings(): Findings {
  return {
    kinds: new Set(),
    objects: [],
    functions: [],
    unboundedWrite: false,
    writes: false,
    opaque: false,
  };
}

/** Adds a kind with its leading verb (`DROP TABLE` and `DROP`). */
export function addKind(f: Findings, kind: string): void {
  f.kinds.add(kind);
  f.kinds.add(kind.split(" ")[0] as string);
}

const require = createRequire(import.meta.url);
const parsers = new Map<string, SqlParser>();

function parserFor(database: "MySQL" | "MariaDB"): SqlParser {
  let p = parsers.get(database);
  if (!p) {
    const mod = require(
      database === "MariaDB" ? "node-sql-parser/build/mariadb" : "node-sql-parser/build/mysql",
    ) as { Parser: new () => SqlParser };
    p = new mod.Parser();
    parsers.set(database, p);
  }
  return p;
}

export interface Parsed {
  ast: Record<string, unknown>;
  tables: string[];
}

/** Parses one statement's rewritten text; `undefined` when node-sql-parser cannot read it. */
export function parseStatement(code: string, database: "MySQL" | "MariaDB"): Parsed | undefined {
  try {
    const r = parserFor(database).parse(code, { database });
    const ast = Array.isArray(r.ast) ? (r.ast.length === 1 ? r.ast[0] : undefined) : r.ast;
    if (!ast || typeof ast !== "object") return undefined;
    return { ast: ast as unknown as Record<string, unknown>, tables: r.tableList };
  } catch {
    return undefined;
  }
}

/** `type::db::table` entries of node-sql-parser's table list as `db.table` / `table`. */
export function tableNames(list: readonly string[]): string[] {
  const out: string[] = [];
  for (const entry of list) {
    const [, db, table] = entry.split("::");
    if (!table || table === "null" || table === "(.*)") continue;
    const t = table.toLowerCase();
    out.push(db && db !== "null" ? `${db.toLowerCase()}.${t}` : t);
  }
  return out;
}

function functionName(node: Record<string, unknown>): string | undefined {
  const name = node.name as unknown;
  if (typeof name === "string") return name.toLowerCase();
  const parts = (name as { name?: { value?: unknown }[] } | undefined)?.name;
  const last = Array.isArray(parts) ? parts[parts.length - 1]?.value : undefined;
  return typeof last === "string" ? last.toLowerCase() : undefined;
}

const DML = new Set(["select", "insert", "replace", "update", "delete"]);

function visitStatementNode(node: Record<string, unknown>, f: Findings): void {
  const type = node.type as string;
  if (type === "select") {
    addKind(f, "SELECT");
    const into = node.into as { keyword?: unknown } | null | undefined;
    const kw = typeof into?.keyword === "string" ? into.keyword.toUpperCase() : undefined;
    if (kw) {
      addKind(f, "SELECT INTO");
      addKind(f, kw === "OUTFILE" || kw === "DUMPFILE" ? `SELECT INTO ${kw}` : "SELECT INTO VARIABLE");
      f.writes = true;
    }
    if (node.locking_read) f.writes = true;
    return;
  }
  addKind(f, type === "replace" ? "REPLACE" : type.toUpperCase());
  if (type === "replace") addKind(f, "INSERT");
  f.writes = true;
  if ((type === "update" || type === "delete") && !node.where) f.unboundedWrite = true;
}

/** Walks a parsed statement (and every statement nested in it) for kinds, functions and relations. */
export function visitAst(value: unknown, f: Findings, depth = 0): void {
  if (depth > 200) {
    f.opaque = true;
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) visitAst(v, f, depth + 1);
    return;
  }
  if (value === null || typeof value !== "object") return;
  const node = value as Record<string, unknown>;
  const type = node.type;
  if (typeof type === "string" && DML.has(type) && ("columns" in node || "table" in node)) {
    visitStatementNode(node, f);
  }
  if (type === "function" || type === "aggr_func") {
    const fn = functionName(node);
    if (fn) {
      f.functions.push(fn);
      if (type === "function" && !READ_ONLY_FUNCTIONS.has(fn)) f.writes = true;
    }
  }
  // A FROM/target item: { db, table } (column references carry `column` instead of `db`).
  if (typeof node.table === "string" && "db" in node && !("column" in node)) {
    const db = typeof node.db === "string" ? node.db.toLowerCase() : undefined;
    const t = node.table.toLowerCase();
    f.objects.push(db ? `${db}.${t}` : t);
  }
  if (Array.isArray(node.tableList)) f.objects.push(...tableNames(node.tableList as string[]));
  for (const [key, child] of Object.entries(node)) {
    if (key === "loc" || child === null || typeof child !== "object") continue;
    visitAst(child, f, depth + 1);
  }
}
