import type { Classification, StatementInfo } from "../sql/classify";
import { addKind, emptyFindings, type Findings, parseStatement, visitAst } from "./mysql-ast";
import { codeOf, type LexOptions, lexMysql, type Token } from "./mysql-lexer";
import { classifySet } from "./mysql-set";
import {
  account,
  admin,
  analyze,
  execute,
  explain,
  grant,
  type Handler,
  handler,
  load,
  lock,
  prepare,
  type StatementEnv,
  show,
  transaction,
} from "./mysql-statements";
import { word } from "./mysql-tokens";

/** A MySQL/MariaDB statement's description; `localInfile` marks `LOAD DATA LOCAL INFILE`. */
export interface MysqlStatementInfo extends StatementInfo {
  localInfile: boolean;
}

export interface MysqlContext {
  lex: LexOptions;
  database: "MySQL" | "MariaDB";
  /** Strings use backslash escapes and `"` quotes strings (or the mode is not known). */
  defaultParseState: boolean;
}

/** Which statement verbs each node-sql-parser AST type may come from. */
const AST_HEADS: Record<string, string[]> = {
  select: ["SELECT", "WITH", "("],
  insert: ["INSERT"],
  replace: ["REPLACE"],
  update: ["UPDATE", "WITH"],
  delete: ["DELETE", "WITH"],
  drop: ["DROP"],
  truncate: ["TRUNCATE"],
  create: ["CREATE"],
  alter: ["ALTER"],
  rename: ["RENAME"],
  lock: ["LOCK"],
  unlock: ["UNLOCK"],
  call: ["CALL"],
  load_data: ["LOAD"],
  show: ["SHOW"],
};

const DDL = new Set(["drop", "truncate", "create", "alter", "rename"]);

/** Compound statements and stored programs: their bodies are not visible statement by statement. */
const COMPOUND = new Set([
  "IF",
  "WHILE",
  "LOOP",
  "REPEAT",
  "CASE",
  "DECLARE",
  "LEAVE",
  "ITERATE",
  "RETURN",
  "END",
]);
const PROGRAMS = new Set(["PROCEDURE", "FUNCTION", "TRIGGER", "EVENT", "PACKAGE", "AGGREGATE"]);
const ADMIN = new Set([
  "KILL",
  "FLUSH",
  "RESET",
  "PURGE",
  "SHUTDOWN",
  "INSTALL",
  "UNINSTALL",
  "CHANGE",
  "STOP",
  "OPTIMIZE",
  "REPAIR",
  "CHECK",
  "CHECKSUM",
  "CACHE",
  "BINLOG",
  "BACKUP",
  "XA",
  "HELP",
]);

/** The kind of a parsed statement, from its AST and its leading words. */
function astKind(ast: Record<string, unknown>, tokens: Token[], f: Findings): string | undefined {
  const type = String(ast.type);
  const head = tokens[0]?.type === "op" ? tokens[0].value : (word(tokens[0]) ?? "");
  if (!AST_HEADS[type]?.includes(head)) return undefined;
  const kw = typeof ast.keyword === "string" ? ast.keyword.toUpperCase() : "";
  if (DDL.has(type)) f.writes = true;
  switch (type) {
    case "select": {
      const into = [...f.kinds].find((k) => k.startsWith("SELECT INTO "));
      return into ?? "SELECT";
    }
    case "replace":
      return "REPLACE";
    case "drop":
    case "create": {
      const verb = type.toUpperCase();
      if (kw === "DATABASE" || kw === "SCHEMA") {
        const name = dbName(ast);
        if (name) f.objects.push(`${name}.*`);
        addKind(f, `${verb} SCHEMA`);
        return addAndReturn(f, `${verb} DATABASE`);
      }
      if (type === "create" && kw === "TABLE" && (ast.as || ast.query_expr))
        return addAndReturn(f, "CREATE TABLE AS");
      return addAndReturn(f, kw ? `${verb} ${kw}` : verb);
    }
    case "alter":
      return addAndReturn(
        f,
        `ALTER ${word(tokens[1]) === "TABLE" ? "TABLE" : (word(tokens[1]) ?? "")}`.trim(),
      );
    case "rename":
      addKind(f, "ALTER RENAME");
      return addAndReturn(f, "RENAME TABLE");
    case "lock":
      f.writes = true;
      return addAndReturn(f, "LOCK TABLES");
    case "unlock":
      return addAndReturn(f, "UNLOCK TABLES");
    case "call":
      f.writes = true;
      return addAndReturn(f, "CALL");
    case "load_data":
      return addAndReturn(f, "LOAD DATA");
    case "show":
      return addAndReturn(f, "SHOW");
    default:
      return addAndReturn(f, type.toUpperCase());
  }
}

function addAndReturn(f: Findings, kind: string): string {
  addKind(f, kind);
  return kind;
}

function dbName(ast: Record<string, unknown>): string | undefined {
  if (typeof ast.name === "string") return ast.name.toLowerCase();
  const schema = (ast.database as { schema?: { value?: unknown }[] } | undefined)?.schema;
  const v = Array.isArray(schema) ? schema[schema.length - 1]?.value : undefined;
  return typeof v === "string" ? v.toLowerCase() : undefined;
}

const MAX_NESTING = 2;

function makeEnv(ctx: MysqlContext, depth: number): StatementEnv {
  return {
    parseInto(tokens, f) {
      const parsed = parseStatement(codeOf(tokens), ctx.database);
      if (!parsed) return undefined;
      visitAst(parsed.ast, f);
      return astKind(parsed.ast, tokens, f);
    },
    classifyText(text, f) {
      if (depth >= MAX_NESTING) return false;
      const inner = classifyMysql(text, ctx, depth + 1);
      if (!inner.ok || inner.statements.length !== 1) return false;
      const s = inner.statements[0] as MysqlStatementInfo;
      for (const k of s.kinds) f.kinds.add(k);
      f.objects.push(...s.objects);
      f.functions.push(...s.functions);
      f.unboundedWrite ||= s.unboundedWrite;
      f.writes ||= !s.readOnly;
      f.opaque ||= s.opaque;
      return true;
    },
  };
}

const HANDLERS: Record<string, Handler> = {
  PREPARE: prepare,
  EXECUTE: execute,
  EXPLAIN: explain,
  DESCRIBE: explain,
  DESC: explain,
  ANALYZE: analyze,
  SHOW: show,
  BEGIN: transaction,
  COMMIT: transaction,
  ROLLBACK: transaction,
  SAVEPOINT: transaction,
  RELEASE: transaction,
  LOAD: load,
  HANDLER: handler,
  LOCK: lock,
  GRANT: grant,
  REVOKE: grant,
};

/** Statements recognized by their leading words before node-sql-parser is asked. */
function byTokens(tokens: Token[], env: StatementEnv, ctx: MysqlContext, f: Findings): string | undefined {
  const w0 = word(tokens[0]) ?? "";
  const w1 = word(tokens[1]) ?? "";
  const h = HANDLERS[w0];
  if (h) return h(tokens, env, f);
  if (w0 === "START" && w1 === "TRANSACTION") return transaction(tokens, env, f);
  if (w0 === "SET") {
    return classifySet(
      tokens,
      {
        defaultParseState: ctx.defaultParseState,
        visitExpression: (expr, into) => {
          const parsed = parseStatement(`SELECT ${codeOf(expr)}`, ctx.database);
          if (parsed) visitAst(parsed.ast, into);
          return parsed !== undefined;
        },
      },
      f,
    );
  }
  if (w0 === "DEALLOCATE" || (w0 === "DROP" && w1 === "PREPARE")) return addAndReturn(f, "DEALLOCATE");
  if (w0 === "USE") return tokens.length === 2 ? addAndReturn(f, "USE") : undefined;
  if (w0 === "UNLOCK") return addAndReturn(f, "UNLOCK TABLES");
  if ((w1 === "USER" || w1 === "ROLE") && ["CREATE", "DROP", "ALTER", "RENAME"].includes(w0))
    return account(w0, w1, f);
  if (w0 === "CREATE" && tokens.slice(1, 12).some((t) => PROGRAMS.has(word(t) ?? ""))) {
    const what = tokens.slice(1, 12).find((t) => PROGRAMS.has(word(t) ?? ""));
    f.opaque = true;
    return addAndReturn(f, `CREATE ${word(what)}`);
  }
  if (COMPOUND.has(w0) || w0 === "DELIMITER" || w0 === "TABLE" || w0 === "VALUES") {
    f.opaque = true;
    return addAndReturn(f, w0);
  }
  if (ADMIN.has(w0) || (w0 === "START" && w1 !== "TRANSACTION")) return admin(tokens, env, f);
  if (w0 === "DO") {
    addKind(f, "DO");
    if (
      !env.parseInto(
        [{ ...(tokens[0] as Token), type: "word", value: "SELECT", code: "SELECT" }, ...tokens.slice(1)],
        f,
      )
    )
      f.opaque = true;
    f.kinds.delete("SELECT");
    return "DO";
  }
  return undefined;
}

const OBJECT_WORDS = new Set([
  "TABLE",
  "VIEW",
  "INDEX",
  "DATABASE",
  "SCHEMA",
  "PROCEDURE",
  "FUNCTION",
  "TRIGGER",
  "EVENT",
  "SERVER",
  "SEQUENCE",
  "TABLESPACE",
]);

/** Leading words for a statement nothing could read: `ALTER TABLE`, `DROP EVENT`, `SELECT`… */
function unreadKind(tokens: Token[]): string {
  const verb = word(tokens[0]);
  if (!verb) return "UNKNOWN";
  let k = 1;
  while (["TEMPORARY", "OR", "REPLACE", "ONLINE", "IGNORE"].includes(word(tokens[k]) ?? "")) k++;
  const what = word(tokens[k]);
  return what && OBJECT_WORDS.has(what) ? `${verb} ${what}` : verb;
}

function classifyTokens(tokens: Token[], ctx: MysqlContext, depth: number): { kind: string; f: Findings } {
  const f = emptyFindings();
  const env = makeEnv(ctx, depth);
  const kind = byTokens(tokens, env, ctx, f) ?? env.parseInto(tokens, f);
  if (kind) return { kind, f };
  const fallback = emptyFindings();
  fallback.opaque = true;
  const k = unreadKind(tokens);
  addKind(fallback, k);
  return { kind: k, f: fallback };
}

/** Splits and classifies MySQL/MariaDB text with the given lexical state. */
export function classifyMysql(sql: string, ctx: MysqlContext, depth = 0): Classification {
  const lexed = lexMysql(sql, ctx.lex);
  if (!lexed.ok) return { ok: false, error: lexed.error, position: lexed.position };
  const statements: MysqlStatementInfo[] = [];
  for (const st of lexed.statements) {
    if (word(st.tokens[0]) === "DELIMITER") {
      return { ok: false, error: "DELIMITER is a command of the mysql client, not SQL", position: st.start };
    }
    const { kind, f } = classifyTokens(st.tokens, ctx, depth);
    if (st.uncertain) f.opaque = true;
    const infile = st.tokens.findIndex((t) => word(t) === "INFILE");
    const localInfile =
      kind.startsWith("LOAD ") && st.tokens.slice(0, infile).some((t) => word(t) === "LOCAL");
    // Server files, like PostgreSQL's COPY … TO 'file' and pg_read_file: refused on guarded connections.
    const outside =
      f.kinds.has("SELECT INTO OUTFILE") ||
      f.kinds.has("SELECT INTO DUMPFILE") ||
      f.functions.includes("load_file") ||
      (kind.startsWith("LOAD ") && infile > 0 && !localInfile);
    statements.push({
      text: sql.slice(st.start, st.end).trim(),
      kind,
      kinds: f.kinds,
      objects: [...new Set(f.objects)],
      functions: [...new Set(f.functions)],
      unboundedWrite: f.unboundedWrite,
      readOnly: !f.writes && !f.opaque,
      opaque: f.opaque,
      localInfile,
      ...(outside ? { outside: true } : {}),
    });
  }
  return { ok: true, statements };
}
