/**
 * Splits MySQL/MariaDB query text into the statements the server runs, with the server's
 * lexical rules: `'…'`/`"…"` strings with backslash escapes (unless NO_BACKSLASH_ESCAPES)
 * and doubled quotes, `"…"` identifiers under ANSI_QUOTES, `` `…` `` identifiers, `#` and
 * `-- ` line comments, non-nesting `/* … *\/` comments, and executable comments: `/*! … *\/`,
 * `/*!50001 … *\/` (run when the server is at least that version) and MariaDB's `/*M! … *\/`,
 * whose content is code. For each statement it produces the tokens and a rewritten text
 * for the parser: comments gone, executable comments unwrapped, strings and identifiers in
 * one plain spelling, so the parser cannot read the text differently from the server.
 */

export interface LexOptions {
  backslashEscapes: boolean;
  ansiQuotes: boolean;
  /** `undefined`: not known, so `/*M!` comments are uncertain. */
  flavor?: "mysql" | "mariadb";
  /** MMmmpp (10.11.19 → 101119); `undefined`: versioned comments are uncertain. */
  serverVersion?: number;
  /** Only token boundaries matter (a second reading under another sql_mode): names are not checked. */
  shapeOnly?: boolean;
}

export type TokenType = "word" | "ident" | "string" | "var" | "op";

export interface Token {
  type: TokenType;
  /** Words upper case; identifiers and strings their decoded value; variables as written, lower case. */
  value: string;
  /** Offset in the input. */
  start: number;
  /** Offset just past it in the input (a prefixed string's prefix and quotes included). */
  end: number;
  /** Its spelling in the rewritten text, and whether a space precedes it there. */
  code: string;
  gap: boolean;
}

export interface LexedStatement {
  /** Offsets of the statement's text in the input. */
  start: number;
  end: number;
  tokens: Token[];
  /** The text handed to the parser. */
  code: string;
  /** Why the statement cannot be read with certainty (a versioned comment on an unknown server…). */
  uncertain?: string;
}

export type LexResult =
  | { ok: true; statements: LexedStatement[] }
  | { ok: false; error: string; position: number };

const WORD = /[A-Za-z0-9_$\u0080-\uffff]/;

class LexError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
  }
}

/** Characters kept as they are in a rewritten string literal; anything else becomes `_`. */
const PLAIN_STRING_CHAR = /[A-Za-z0-9 _.,:%@+=*()[\]{}<>!?^~|&\u0080-\uffff-]/;

function plainString(value: string): string {
  let out = "'";
  for (const ch of value) out += PLAIN_STRING_CHAR.test(ch) ? ch : "_";
  return `${out}'`;
}

interface State {
  src: string;
  i: number;
  opts: LexOptions;
  /** Inside an executable comment (its content is code). */
  inExec: boolean;
  /** Whitespace, a comment or a comment marker since the last token. */
  gap: boolean;
  tokens: Token[];
  code: string;
  stmtStart: number;
  uncertain?: string;
  statements: LexedStatement[];
}

function readQuoted(s: State, quote: string, escapes: boolean): string {
  const { src } = s;
  const open = s.i;
  let i = s.i + 1;
  let value = "";
  for (;;) {
    if (i >= src.length) throw new LexError(`unterminated ${quote}…${quote}`, open);
    const c = src[i] as string;
    if (escapes && c === "\\") {
      if (i + 1 >= src.length) throw new LexError(`unterminated ${quote}…${quote}`, open);
      value += src[i + 1];
      i += 2;
      continue;
    }
    if (c === quote) {
      if (src[i + 1] === quote) {
        value += quote;
        i += 2;
        continue;
      }
      s.i = i + 1;
      return value;
    }
    value += c;
    i++;
  }
}

function pushToken(s: State, type: TokenType, value: string, start: number, code: string): void {
  // Keep tokens apart exactly where the server saw a gap, and never let `- -` become a comment.
  // (The previous token, not s.code: reading the end of a growing string would flatten it each time.)
  const prev = s.tokens[s.tokens.length - 1];
  const sep = s.gap || (prev?.code.endsWith("-") === true && code.startsWith("-"));
  s.tokens.push({ type, value, start, end: s.i, code, gap: sep });
  s.code += sep ? ` ${code}` : code;
  s.gap = false;
}

function endStatement(s: State, end: number): void {
  if (s.tokens.length > 0) {
    s.statements.push({
      start: s.stmtStart,
      end,
      tokens: s.tokens,
      code: s.code.trim(),
      ...(s.uncertain ? { uncertain: s.uncertain } : {}),
    });
  }
  s.tokens = [];
  s.code = "";
  s.gap = false;
  s.uncertain = undefined;
  s.stmtStart = end + 1;
}

function skipLine(s: State): void {
  const nl = s.src.indexOf("\n", s.i);
  s.i = nl < 0 ? s.src.length : nl + 1;
}

/** Reads `/*` at s.i: a plain comment is skipped, an executable one is entered. */
function openComment(s: State): void {
  const { src } = s;
  const start = s.i;
  let j = start + 2;
  let mariaOnly = false;
  if (src[j] === "M" && src[j + 1] === "!") {
    mariaOnly = true;
    j += 2;
  } else if (src[j] === "!") j += 1;
  else {
    skipPlainComment(s, start);
    return;
  }
  if (s.inExec) throw new LexError("an executable comment inside an executable comment", start);
  const digits = /^\d{5,6}/.exec(src.slice(j, j + 6))?.[0];
  if (mariaOnly && s.opts.flavor === "mysql") {
    skipPlainComment(s, start);
    return;
  }
  if (mariaOnly && s.opts.flavor === undefined) s.uncertain ??= "a /*M! comment on a server of unknown kind";
  if (digits) {
    const version = Number(digits);
    const known = s.opts.serverVersion !== undefined && (digits.length === 5 || s.opts.flavor === "mariadb");
    if (!known) s.uncertain ??= `a /*!${digits} comment on a server of unknown version`;
    else if (version > (s.opts.serverVersion as number)) {
      skipPlainComment(s, start);
      return;
    }
    j += digits.length;
  }
  s.inExec = true;
  s.i = j;
}

function skipPlainComment(s: State, start: number): void {
  const close = s.src.indexOf("*/", start + 2);
  if (close < 0) throw new LexError("unterminated comment", start);
  s.i = close + 2;
}

function lexOne(s: State): void {
  const { src } = s;
  const c = src[s.i] as string;
  const next = src[s.i + 1];
  const start = s.i;
  // How the server treats a NUL byte between tokens is not something to guess at.
  if (c === "\u0000") throw new LexError("a NUL character outside a string", start);
  if (c <= " " || c === "\u007f") {
    s.i++;
    s.gap = true;
    return;
  }
  if (c === "#" || (c === "/" && next === "*") || (c === "*" && next === "/" && s.inExec)) s.gap = true;
  if (c === "#") {
    skipLine(s);
    return;
  }
  if (c === "-" && next === "-") {
    const after = src.charCodeAt(s.i + 2);
    if (s.i + 2 >= src.length || after <= 0x20 || after === 0x7f) {
      s.gap = true;
      skipLine(s);
      return;
    }
  }
  if (c === "/" && next === "*") {
    openComment(s);
    return;
  }
  if (c === "*" && next === "/" && s.inExec) {
    s.inExec = false;
    s.i += 2;
    return;
  }
  if (c === ";") {
    if (s.inExec) throw new LexError("';' inside an executable comment", start);
    endStatement(s, start);
    s.i++;
    return;
  }
  if (c === "'" || (c === '"' && !s.opts.ansiQuotes)) {
    const v = readQuoted(s, c, s.opts.backslashEscapes);
    pushToken(s, "string", v, start, plainString(v));
    return;
  }
  if (c === "`" || c === '"') {
    const v = readQuoted(s, c, false);
    if (!s.opts.shapeOnly && (/[`\\'"]/.test(v) || v === ""))
      throw new LexError("a quoted identifier Sluice does not read", start);
    pushToken(s, "ident", v, start, `\`${v}\``);
    return;
  }
  if (c === "@") {
    lexVariable(s);
    return;
  }
  if (WORD.test(c)) {
    let j = s.i + 1;
    while (j < src.length && WORD.test(src[j] as string)) j++;
    const word = src.slice(s.i, j);
    s.i = j;
    // X'…', B'…', N'…' and _charset'…' are strings with a prefix.
    if (src[j] === "'" && /^(?:[xXbBnN]|_[A-Za-z0-9]+)$/.test(word)) {
      const v = readQuoted(s, "'", /^[nN_]/.test(word) && s.opts.backslashEscapes);
      pushToken(s, "string", v, start, plainString(v));
      return;
    }
    pushToken(s, "word", word.toUpperCase(), start, word);
    return;
  }
  s.i++;
  pushToken(s, "op", c, start, c);
}

/** `@name`, `@'name'`, `@@name`, `@@global.name`: kept whole, lower case. */
function lexVariable(s: State): void {
  const { src } = s;
  const start = s.i;
  let j = s.i + 1;
  if (src[j] === "@") j++;
  const q = src[j];
  const prev = s.tokens[s.tokens.length - 1];
  if (j === start + 1 && (q === "'" || q === '"' || q === "`") && prev && !s.gap && prev.type !== "op") {
    // 'user'@'host': the @ between two quoted names.
    s.i = j;
    pushToken(s, "op", "@", start, "@");
    return;
  }
  if (q === "'" || q === '"' || q === "`") {
    s.i = j;
    const v = readQuoted(s, q, q !== "`" && s.opts.backslashEscapes);
    if (!/^[A-Za-z0-9_$.]+$/.test(v))
      throw new LexError("a quoted variable name Sluice does not read", start);
    pushToken(s, "var", `${src.slice(start, j)}${v}`.toLowerCase(), start, `${src.slice(start, j)}${v}`);
    return;
  }
  while (j < src.length && (WORD.test(src[j] as string) || src[j] === ".")) j++;
  const text = src.slice(start, j);
  s.i = j;
  pushToken(s, "var", text.toLowerCase(), start, text);
}

/** Splits and tokenizes `src`; lexical errors (unterminated strings or comments) are `ok: false`. */
export function lexMysql(src: string, opts: LexOptions): LexResult {
  const s: State = {
    src,
    i: 0,
    opts,
    inExec: false,
    gap: false,
    tokens: [],
    code: "",
    stmtStart: 0,
    statements: [],
  };
  try {
    while (s.i < src.length) lexOne(s);
    if (s.inExec) throw new LexError("unterminated executable comment", src.length);
    endStatement(s, src.length);
    return { ok: true, statements: s.statements };
  } catch (err) {
    if (err instanceof LexError) return { ok: false, error: err.message, position: err.position };
    throw err;
  }
}

/** Token boundaries and classes, to compare two readings of the same text. */
export function lexShape(r: LexResult): string {
  if (!r.ok) return `error@${r.position}`;
  return r.statements
    .map((st) => st.tokens.map((t) => `${t.start}${t.type === "ident" ? "string" : t.type}`).join(","))
    .join(";");
}

/** The rewritten text of a run of tokens. */
export function codeOf(tokens: readonly Token[]): string {
  let out = "";
  let last = "";
  for (const t of tokens) {
    const sep = out !== "" && (t.gap || (last.endsWith("-") && t.code.startsWith("-")));
    out += sep ? ` ${t.code}` : t.code;
    last = t.code;
  }
  return out;
}
