import { addKind, type Findings } from "./mysql-ast";
import type { Token } from "./mysql-lexer";
import { splitTopLevel, word } from "./mysql-tokens";

/** How one statement's classification reaches back into the classifier for nested pieces. */
export interface SetContext {
  /** The dialect reads strings with backslash escapes and `"` as strings (or does not know). */
  defaultParseState: boolean;
  /** Parses an expression (as `SELECT expr`) into `f`; false when it cannot be read. */
  visitExpression(tokens: Token[], f: Findings): boolean;
}

/** Client character sets whose bytes never hide a quote or backslash inside a multi-byte character. */
const SAFE_CHARSETS = new Set(["utf8", "utf8mb3", "utf8mb4", "latin1", "ascii", "binary"]);

/** sql_mode flags that change nothing about how a statement is read. */
const PARSE_NEUTRAL_MODES = new Set([
  "",
  "STRICT_TRANS_TABLES",
  "STRICT_ALL_TABLES",
  "ERROR_FOR_DIVISION_BY_ZERO",
  "NO_AUTO_CREATE_USER",
  "NO_ENGINE_SUBSTITUTION",
  "NO_ZERO_DATE",
  "NO_ZERO_IN_DATE",
  "ONLY_FULL_GROUP_BY",
  "TRADITIONAL",
  "NO_AUTO_VALUE_ON_ZERO",
  "NO_DIR_IN_CREATE",
  "NO_UNSIGNED_SUBTRACTION",
  "PAD_CHAR_TO_FULL_LENGTH",
  "REAL_AS_FLOAT",
  "ALLOW_INVALID_DATES",
  "NO_FIELD_OPTIONS",
  "NO_KEY_OPTIONS",
  "NO_TABLE_OPTIONS",
  "SIMULTANEOUS_ASSIGNMENT",
  "TIME_ROUND_FRACTIONAL",
  "EMPTY_STRING_IS_NULL",
]);

/** Session settings a read-only lane must not change (identity, binary logging, read-only mode). */
const GUARDED_SETTINGS = new Set([
  "transaction_read_only",
  "tx_read_only",
  "sql_log_bin",
  "sql_log_off",
  "pseudo_thread_id",
  "pseudo_slave_mode",
  "gtid_next",
  "gtid_seq_no",
  "insert_id",
  "last_insert_id",
  "sql_safe_updates",
  "skip_replication",
]);

const SCOPES = new Set(["GLOBAL", "SESSION", "LOCAL", "PERSIST", "PERSIST_ONLY"]);

/** True when an sql_mode value leaves the reading of statements as it is. */
export function parseNeutralMode(mode: string): boolean {
  return mode
    .toUpperCase()
    .split(",")
    .every((m) => PARSE_NEUTRAL_MODES.has(m.trim()));
}

function parseState(f: Findings): string {
  addKind(f, "SET PARSE STATE");
  f.opaque = true;
  return "SET PARSE STATE";
}

interface Target {
  scope: string;
  name: string;
  user: boolean;
}

function readTarget(tokens: Token[], scope: string): { target: Target; next: number } | undefined {
  let k = 0;
  let sc = scope;
  const w0 = word(tokens[0]);
  if (w0 && SCOPES.has(w0)) {
    sc = w0;
    k = 1;
  }
  const t = tokens[k];
  if (!t) return undefined;
  if (t.type === "var") {
    if (!t.value.startsWith("@@")) return { target: { scope: sc, name: t.value, user: true }, next: k + 1 };
    const m = /^@@(?:(global|session|local|persist|persist_only)\.)?([a-z0-9_$]+)$/.exec(t.value);
    if (!m?.[2]) return undefined;
    return { target: { scope: m[1] ? m[1].toUpperCase() : sc, name: m[2], user: false }, next: k + 1 };
  }
  if (t.type === "word" || t.type === "ident") {
    if (tokens[k + 1]?.value === ".") return undefined;
    return { target: { scope: sc, name: t.value.toLowerCase(), user: false }, next: k + 1 };
  }
  return undefined;
}

function assignmentValue(tokens: Token[], at: number): Token[] | undefined {
  const a = tokens[at];
  if (a?.type === "op" && a.value === "=") return tokens.slice(at + 1);
  if (a?.type === "op" && a.value === ":" && tokens[at + 1]?.value === "=") return tokens.slice(at + 2);
  return undefined;
}

/** One `name = value` of a SET list; returns the scope it leaves for the next one, or undefined if unreadable. */
function assignment(part: Token[], scope: string, ctx: SetContext, f: Findings): string | undefined {
  const read = readTarget(part, scope);
  if (!read) return undefined;
  const { target } = read;
  const value = assignmentValue(part, read.next);
  if (!value || value.length === 0) return undefined;
  const single = value.length === 1 ? value[0] : undefined;
  if (!single && !ctx.visitExpression(value, f)) return undefined;
  if (target.user) return target.scope;
  const global = target.scope === "GLOBAL" || target.scope.startsWith("PERSIST");
  if (global) {
    addKind(f, "SET GLOBAL");
    if (target.scope.startsWith("PERSIST")) addKind(f, "SET PERSIST");
    f.writes = true;
    return target.scope;
  }
  if (target.name === "sql_mode") {
    const neutral = single?.type === "string" && parseNeutralMode(single.value) && ctx.defaultParseState;
    if (!neutral) parseState(f);
  }
  if (target.name === "character_set_client" || target.name === "character_set_connection") {
    const cs =
      single && (single.type === "string" || single.type === "word") ? single.value.toLowerCase() : "";
    if (!SAFE_CHARSETS.has(cs)) parseState(f);
  }
  if (GUARDED_SETTINGS.has(target.name)) f.writes = true;
  return target.scope;
}

function setNames(tokens: Token[], at: number, f: Findings): string {
  const v = tokens[at];
  const cs =
    v && (v.type === "word" || v.type === "string" || v.type === "ident") ? v.value.toLowerCase() : "";
  if (!SAFE_CHARSETS.has(cs)) return parseState(f);
  addKind(f, "SET NAMES");
  return "SET NAMES";
}

/** Classifies a SET statement by its tokens: session settings, globals, parse-state changes, identity. */
export function classifySet(tokens: Token[], ctx: SetContext, f: Findings): string {
  const w1 = word(tokens[1]);
  if (w1 === "NAMES" || w1 === "CHARSET") return setNames(tokens, 2, f);
  if (w1 === "CHARACTER" && word(tokens[2]) === "SET") return setNames(tokens, 3, f);
  if (w1 === "PASSWORD" || w1 === "ROLE" || (w1 === "DEFAULT" && word(tokens[2]) === "ROLE")) {
    const kind = w1 === "DEFAULT" ? "SET DEFAULT ROLE" : `SET ${w1}`;
    addKind(f, kind);
    f.writes = true;
    return kind;
  }
  if (w1 === "STATEMENT") {
    addKind(f, "SET STATEMENT");
    f.opaque = true;
    return "SET STATEMENT";
  }
  const scoped = w1 !== undefined && SCOPES.has(w1);
  if (word(tokens[scoped ? 2 : 1]) === "TRANSACTION") {
    addKind(f, "SET TRANSACTION");
    if (scoped && w1 !== "SESSION" && w1 !== "LOCAL") {
      addKind(f, "SET GLOBAL");
      f.writes = true;
    }
    if (tokens.some((t, k) => word(t) === "READ" && word(tokens[k + 1]) === "WRITE")) f.writes = true;
    return "SET TRANSACTION";
  }
  addKind(f, "SET");
  let scope = "SESSION";
  for (const part of splitTopLevel(tokens.slice(1))) {
    const next = assignment(part, scope, ctx, f);
    if (next === undefined) {
      f.opaque = true;
      break;
    }
    scope = next;
  }
  if (f.kinds.has("SET PARSE STATE")) return "SET PARSE STATE";
  return f.kinds.has("SET GLOBAL") ? "SET GLOBAL" : "SET";
}
