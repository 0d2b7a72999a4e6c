import type { Classification } from "../sql/classify";
import { type LexOptions, lexMysql, type Token } from "./mysql-lexer";
import { word } from "./mysql-tokens";

/**
 * Statement verbs whose reading by the server and by this dialect cannot depend on the
 * values of their literals. In MySQL a string literal is never code inside these
 * statements: dynamic SQL exists only as PREPARE … FROM, EXECUTE IMMEDIATE and inside
 * stored programs (reached by CALL), and a stored function, the only program a SELECT or a
 * write can run, may not prepare statements. A literal's value never changes which tokens
 * the server sees either: its lexer reads the whole literal first. What the classifier
 * reads of these statements (kinds, relations, functions, INTO OUTFILE/DUMPFILE, bounded
 * writes) comes from keywords and names, which {@link mysqlLiteralBlind} confirms per
 * shape; `SET`, whose values do matter (sql_mode, names), and every other verb are left out.
 */
const LITERAL_BLIND = new Set(["SELECT", "INSERT", "REPLACE", "UPDATE", "DELETE", "WITH"]);

const isDot = (t: Token | undefined) => t?.type === "op" && t.value === ".";

/**
 * A number: digits only (a MySQL identifier may start with a digit but not be all digits).
 * One next to a dot is kept as written: `t.123`, `1.5` and `db.1e5`-like spellings are
 * where a name and a number can meet.
 */
function isPlainNumber(tokens: readonly Token[], k: number): boolean {
  const t = tokens[k] as Token;
  return t.type === "word" && /^[0-9]+$/.test(t.value) && !isDot(tokens[k - 1]) && !isDot(tokens[k + 1]);
}

/** The tokens of `sql` when it is one statement of a literal-blind verb, read with certainty. */
function blindTokens(sql: string, lex: LexOptions): Token[] | undefined {
  const r = lexMysql(sql, lex);
  if (!r.ok || r.statements.length !== 1) return undefined;
  const st = r.statements[0]!;
  if (st.uncertain) return undefined;
  const head = word(st.tokens[0]);
  return head !== undefined && LITERAL_BLIND.has(head) ? st.tokens : undefined;
}

/**
 * The text's literal shape under the session's lexical rules: its tokens, with string
 * literals and plain numbers replaced by placeholders and everything else (words as
 * written, identifiers, variables, operators, where the server saw a gap) kept. Two texts
 * with the same shape are the same statement apart from those literal values. `undefined`
 * when the text is not one statement of the verbs above, or cannot be read with certainty.
 */
export function mysqlLiteralShape(sql: string, lex: LexOptions): string | undefined {
  const tokens = blindTokens(sql, lex);
  if (!tokens) return undefined;
  let key = "";
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k] as Token;
    if (t.gap) key += " ";
    if (t.type === "string") key += "s";
    else if (isPlainNumber(tokens, k)) key += "n";
    // Length-prefixed, so no two token sequences share a key.
    else key += `${t.type[0]}${t.code.length}:${t.code}`;
  }
  return key;
}

/** A classification as JSON, without the statements' own text (sets sorted). */
function withoutText(c: Classification): string {
  if (!c.ok) return "error";
  return JSON.stringify(
    c.statements.map(({ text: _text, ...rest }) => rest),
    (_k, v: unknown) => (v instanceof Set ? [...v].sort() : v),
  );
}

/**
 * Whether `sql`, classified as `c`, classifies alike with other literal values: `probe`
 * (the same text with every placeholder literal replaced by a fresh value) must classify
 * the same but for its text. The parser may still read a literal where the server would
 * not accept one (`FROM 'name'` as a table name); such a literal shows in the result
 * (a relation named after it), so the probe tells those shapes apart.
 */
export function mysqlLiteralBlind(
  sql: string,
  c: Classification,
  lex: LexOptions,
  classify: (sql: string) => Classification,
): boolean {
  const tokens = blindTokens(sql, lex);
  if (!tokens || !c.ok) return false;
  let probe = "";
  let at = 0;
  let n = 0;
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k] as Token;
    const string = t.type === "string";
    if (!string && !isPlainNumber(tokens, k)) continue;
    n++;
    probe += `${sql.slice(at, t.start)}${string ? `'sluice_probe_${n}'` : String(7919 + n)}`;
    at = t.end;
  }
  if (n === 0) return true;
  probe += sql.slice(at);
  const key = mysqlLiteralShape(sql, lex);
  return (
    key !== undefined &&
    mysqlLiteralShape(probe, lex) === key &&
    withoutText(classify(probe)) === withoutText(c)
  );
}
