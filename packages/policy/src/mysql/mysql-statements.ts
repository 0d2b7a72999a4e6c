import { addKind, type Findings } from "./mysql-ast";
import type { Token } from "./mysql-lexer";
import { indexOfWord, readName, readNameList, splitTopLevel, word, wordsAt } from "./mysql-tokens";

/** What token-level handlers need from the classifier. */
export interface StatementEnv {
  /** Parses and walks a statement given as tokens into `f`; the AST's kind, or undefined when unreadable. */
  parseInto(tokens: Token[], f: Findings): string | undefined;
  /** Classifies the text of a prepared statement into `f`; false when it is not exactly one readable statement. */
  classifyText(text: string, f: Findings): boolean;
}

export type Handler = (tokens: Token[], env: StatementEnv, f: Findings) => string;

function opaque(f: Findings, kind: string): string {
  addKind(f, kind);
  f.opaque = true;
  return kind;
}

function writes(f: Findings, kind: string, objects: string[] = []): string {
  addKind(f, kind);
  f.writes = true;
  f.objects.push(...objects);
  return kind;
}

function reads(f: Findings, kind: string, objects: string[] = []): string {
  addKind(f, kind);
  f.objects.push(...objects);
  return kind;
}

/** Only words, names, strings, numbers and `.`/`,`/`=`/`*` follow: nothing that can hold an expression. */
function plain(tokens: readonly Token[]): boolean {
  return tokens.every((t) => t.type !== "var" && (t.type !== "op" || /^[.,=*]$/.test(t.value)));
}

const EXPLAINABLE = new Set(["SELECT", "WITH", "INSERT", "REPLACE", "UPDATE", "DELETE", "TABLE", "VALUES"]);

/** `PREPARE s FROM 'text'` classifies the text; `FROM @var` cannot be seen into. */
export const prepare: Handler = (tokens, env, f) => {
  addKind(f, "PREPARE");
  const rest = tokens.slice(3);
  if (word(tokens[2]) !== "FROM" || rest.length === 0 || rest.some((t) => t.type !== "string")) {
    f.opaque = true;
    return "PREPARE";
  }
  if (!env.classifyText(rest.map((t) => t.value).join(""), f)) f.opaque = true;
  return "PREPARE";
};

/** `EXECUTE s` runs a statement prepared earlier (opaque); MariaDB `EXECUTE IMMEDIATE 'text'` is read like PREPARE. */
export const execute: Handler = (tokens, env, f) => {
  addKind(f, "EXECUTE");
  const rest = tokens.slice(2);
  if (word(tokens[1]) === "IMMEDIATE" && rest.length > 0 && rest.every((t) => t.type === "string")) {
    addKind(f, "EXECUTE IMMEDIATE");
    if (!env.classifyText(rest.map((t) => t.value).join(""), f)) f.opaque = true;
    f.writes = true;
    return "EXECUTE IMMEDIATE";
  }
  f.opaque = true;
  return "EXECUTE";
};

/** `EXPLAIN`/`DESCRIBE`: a table's columns, or the plan of a statement (which `ANALYZE` also runs). */
export const explain: Handler = (tokens, env, f) => {
  let k = 1;
  let runs = word(tokens[0]) === "ANALYZE";
  if (!runs && word(tokens[1]) === "ANALYZE") {
    runs = true;
    k = 2;
  }
  while (wordsAt(tokens, k, "EXTENDED") || wordsAt(tokens, k, "PARTITIONS")) k++;
  if (wordsAt(tokens, k, "FORMAT") && tokens[k + 1]?.value === "=") k += 3;
  const first = word(tokens[k]);
  if (first === "FOR" && wordsAt(tokens, k + 1, "CONNECTION")) return reads(f, "EXPLAIN");
  if ((first && EXPLAINABLE.has(first)) || tokens[k]?.value === "(") {
    addKind(f, "EXPLAIN");
    const inner: Findings = runs ? f : { ...f, kinds: new Set(), writes: false, unboundedWrite: false };
    if (!env.parseInto(tokens.slice(k), inner)) f.opaque = true;
    if (inner !== f) f.opaque ||= inner.opaque;
    return "EXPLAIN";
  }
  const table = readName(tokens, k);
  if (!runs && table && plain(tokens.slice(table.next)) && tokens.length - table.next <= 1) {
    return reads(f, "DESCRIBE", [table.name]);
  }
  return opaque(f, "EXPLAIN");
};

/** MariaDB `ANALYZE stmt` runs and explains it; `ANALYZE TABLE t` updates statistics. */
export const analyze: Handler = (tokens, env, f) => {
  const w1 = word(tokens[1]);
  if (w1 === "TABLE" || w1 === "NO_WRITE_TO_BINLOG" || w1 === "LOCAL") {
    const at = indexOfWord(tokens, "TABLE") + 1;
    return writes(f, "ANALYZE", at > 0 ? readNameList(tokens, at).names : []);
  }
  return explain(tokens, env, f);
};

const SHOW_TABLE_WORDS = new Set(["COLUMNS", "FIELDS", "INDEX", "INDEXES", "KEYS"]);

/** SHOW only reads; its objects are the table it describes. A WHERE clause must parse. */
export const show: Handler = (tokens, env, f) => {
  if (!plain(tokens.slice(1)) || indexOfWord(tokens, "WHERE") >= 0) {
    const inner: Findings = { ...f, kinds: new Set(), writes: false };
    if (!env.parseInto(tokens, inner)) return opaque(f, "SHOW");
    f.writes ||= inner.writes;
    return reads(f, "SHOW");
  }
  let k = 1;
  while (wordsAt(tokens, k, "FULL") || wordsAt(tokens, k, "EXTENDED")) k++;
  const what = word(tokens[k]);
  if (what === "CREATE" && word(tokens[k + 1]) !== "USER") {
    const n = readName(tokens, k + 2);
    return reads(f, "SHOW", n ? [n.name] : []);
  }
  if (what && SHOW_TABLE_WORDS.has(what)) {
    const from = tokens.findIndex((t, j) => j > k && (word(t) === "FROM" || word(t) === "IN"));
    const n = from > 0 ? readName(tokens, from + 1) : undefined;
    const dbAt = n ? tokens.findIndex((t, j) => j >= n.next && (word(t) === "FROM" || word(t) === "IN")) : -1;
    const db = dbAt > 0 ? readName(tokens, dbAt + 1) : undefined;
    if (n) return reads(f, "SHOW", [db && !n.name.includes(".") ? `${db.name}.${n.name}` : n.name]);
  }
  return reads(f, "SHOW");
};

/** BEGIN/START TRANSACTION/COMMIT/ROLLBACK/SAVEPOINT/RELEASE; `BEGIN NOT ATOMIC` is a compound statement. */
export const transaction: Handler = (tokens, _env, f) => {
  const w0 = word(tokens[0]) as string;
  if (!plain(tokens)) return opaque(f, w0);
  if (w0 === "BEGIN")
    return tokens.length === 1 || wordsAt(tokens, 1, "WORK") ? reads(f, "BEGIN") : opaque(f, "BEGIN");
  if (w0 === "START") return reads(f, "BEGIN");
  if (w0 === "RELEASE") return reads(f, "RELEASE");
  return reads(f, w0);
};

/** LOAD DATA/XML [LOCAL] INFILE … INTO TABLE t: writes a table from a file (the client's, with LOCAL). */
export const load: Handler = (tokens, env, f) => {
  const w1 = word(tokens[1]);
  if (w1 !== "DATA" && w1 !== "XML") return writes(f, `LOAD ${w1 ?? ""}`.trim());
  const kind = `LOAD ${w1}`;
  const into = tokens.findIndex((t, k) => word(t) === "INTO" && word(tokens[k + 1]) === "TABLE");
  const table = into > 0 ? readName(tokens, into + 2) : undefined;
  writes(f, kind, table ? [table.name] : []);
  if (!table) f.opaque = true;
  // SET col = expr may hold subqueries and function calls: it must parse to be seen.
  if (indexOfWord(tokens, "SET") > 0 && !env.parseInto(tokens, { ...f, kinds: new Set() })) f.opaque = true;
  return kind;
};

/** HANDLER t OPEN [AS h] / READ / CLOSE: reads a table past the SQL layer; never read-only. */
export const handler: Handler = (tokens, _env, f) => {
  const table = readName(tokens, 1);
  const open = word(tokens[table?.next ?? 2]) === "OPEN";
  writes(f, "HANDLER", table && open ? [table.name] : []);
  if (!table || tokens.some((t) => t.value === "(" || t.type === "var")) f.opaque = true;
  return "HANDLER";
};

/** LOCK TABLES t READ, u WRITE (node-sql-parser reads most; this is the fallback). */
export const lock: Handler = (tokens, env, f) => {
  if (env.parseInto(tokens, f)) return writes(f, "LOCK TABLES");
  const at = word(tokens[1]) === "TABLES" || word(tokens[1]) === "TABLE" ? 2 : -1;
  if (at < 0) return opaque(f, "LOCK");
  const names = splitTopLevel(tokens.slice(at)).map((part) => readName(part, 0)?.name);
  if (names.some((n) => !n)) f.opaque = true;
  return writes(
    f,
    "LOCK TABLES",
    names.filter((n): n is string => !!n),
  );
};

/** GRANT/REVOKE, read by tokens: the relation after ON (`db.*` for a whole database). */
export const grant: Handler = (tokens, _env, f) => {
  const kind = word(tokens[0]) as string;
  const on = indexOfWord(tokens, "ON");
  let k = on + 1;
  if (["TABLE", "FUNCTION", "PROCEDURE", "PACKAGE"].includes(word(tokens[k]) ?? "")) k++;
  const target = on > 0 ? readName(tokens, k) : undefined;
  return writes(f, kind, target ? [target.name] : []);
};

/** CREATE/DROP/ALTER/RENAME USER or ROLE: also the PostgreSQL kinds (`DROP ROLE`). */
export function account(verb: string, what: string, f: Findings): string {
  writes(f, `${verb} ${what === "USER" ? "ROLE" : "USER"}`);
  return writes(f, `${verb} ${what}`);
}

/** Words that end a TABLE list in administration statements. */
const LIST_END = new Set([
  "with",
  "for",
  "read",
  "quick",
  "extended",
  "changed",
  "fast",
  "medium",
  "use_frm",
]);

/** Server administration: never read-only; the TABLE list, when there is one, names its objects. */
export const admin: Handler = (tokens, _env, f) => {
  const w0 = word(tokens[0]) as string;
  const w1 = word(tokens[1]);
  const twoWord = ["INSTALL", "UNINSTALL", "RESET", "START", "STOP", "CHANGE", "PURGE", "CACHE", "BACKUP"];
  let kind = twoWord.includes(w0) && w1 ? `${w0} ${w1}` : w0;
  if (kind === "INSTALL SONAME" || kind === "UNINSTALL SONAME") addKind(f, kind.replace("SONAME", "PLUGIN"));
  if (w0 === "BINLOG") return opaque(f, "BINLOG");
  const tableAt = tokens.findIndex((t) => word(t) === "TABLE" || word(t) === "TABLES");
  const names = tableAt >= 0 ? readNameList(tokens, tableAt + 1).names.filter((n) => !LIST_END.has(n)) : [];
  if (!plain(tokens.slice(1)) && w0 !== "KILL") f.opaque = true;
  if (w0 === "KILL") kind = "KILL";
  return writes(f, kind, names);
};
