/**
 * Splits PL/pgSQL source into tokens by the rules of PostgreSQL's core scanner
 * (standard_conforming_strings on). Anything it does not model with certainty is an
 * `Uncertain` error, and the caller treats the whole block as opaque.
 */

export type TokenType = "word" | "qword" | "string" | "dollar" | "number" | "param" | "op" | "punct";

export interface Token {
  type: TokenType;
  /** Source text of the token. */
  text: string;
  /** Lower-cased text for unquoted words, the text otherwise. */
  lower: string;
  start: number;
  end: number;
}

export class Uncertain extends Error {}

const OP_CHARS = "~!@#^&|`?+-*/%<>=";
const MAX_TOKENS = 20_000;

function isIdentStart(c: string): boolean {
  return /[A-Za-z_]/.test(c) || c.charCodeAt(0) >= 0x80;
}

function isIdentChar(c: string): boolean {
  return /[A-Za-z0-9_$]/.test(c) || c.charCodeAt(0) >= 0x80;
}

function skipBlockComment(src: string, from: number): number {
  let level = 1;
  let i = from + 2;
  while (i < src.length && level > 0) {
    if (src.startsWith("/*", i)) {
      level++;
      i += 2;
    } else if (src.startsWith("*/", i)) {
      level--;
      i += 2;
    } else i++;
  }
  if (level > 0) throw new Uncertain("unterminated comment");
  return i;
}

function quotedEnd(src: string, from: number, q: string): number {
  let i = from + 1;
  while (i < src.length) {
    if (src[i] === q) {
      if (src[i + 1] === q) i += 2;
      else return i + 1;
    } else i++;
  }
  throw new Uncertain("unterminated quote");
}

function dollarEnd(src: string, from: number): { end: number; tag: string } | undefined {
  const m = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(src.slice(from, from + 200));
  if (!m) return undefined;
  const tag = m[0];
  const close = src.indexOf(tag, from + tag.length);
  if (close < 0) throw new Uncertain("unterminated dollar quote");
  return { end: close + tag.length, tag };
}

function numberEnd(src: string, from: number): number {
  const m = /^(?:\d+(?:\.(?!\.)\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(src.slice(from, from + 400));
  const end = from + (m?.[0].length ?? 1);
  // `123abc`, `1$`, `0x1F`, `1_000`: forms whose reading differs between server versions.
  if (end < src.length && isIdentChar(src[end] as string)) throw new Uncertain("number followed by a name");
  return end;
}

function operatorEnd(src: string, from: number): number {
  let i = from;
  while (i < src.length && OP_CHARS.includes(src[i] as string)) {
    if (i > from && (src.startsWith("--", i) || src.startsWith("/*", i))) break;
    i++;
  }
  // As in the server: a multi-character operator ends in + or - only if it holds one of ~!@#^&|`?%.
  while (i - from > 1 && "+-".includes(src[i - 1] as string) && !/[~!@#^&|`?%]/.test(src.slice(from, i))) i--;
  return i;
}

/** Tokens of `src`; throws `Uncertain` for text it cannot read with certainty. */
export function lexPlpgsql(src: string): Token[] {
  if (src.includes("\\")) throw new Uncertain("backslash");
  const out: Token[] = [];
  const push = (type: TokenType, start: number, end: number) => {
    const text = src.slice(start, end);
    out.push({ type, text, lower: type === "word" ? text.toLowerCase() : text, start, end });
    if (out.length > MAX_TOKENS) throw new Uncertain("too long");
  };
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    if (/\s/.test(c)) i++;
    else if (src.startsWith("--", i)) {
      const nl = src.indexOf("\n", i);
      i = nl < 0 ? src.length : nl + 1;
    } else if (src.startsWith("/*", i)) i = skipBlockComment(src, i);
    else if (c === "'") {
      const end = quotedEnd(src, i, "'");
      push("string", i, end);
      i = end;
    } else if (c === '"') {
      const end = quotedEnd(src, i, '"');
      if (end - i <= 2) throw new Uncertain("empty quoted name");
      push("qword", i, end);
      i = end;
    } else if (c === "$") {
      const p = /^\$\d+/.exec(src.slice(i, i + 12));
      if (p) {
        if (i + p[0].length < src.length && isIdentChar(src[i + p[0].length] as string))
          throw new Uncertain("parameter followed by a name");
        push("param", i, i + p[0].length);
        i += p[0].length;
        continue;
      }
      const d = dollarEnd(src, i);
      if (!d) throw new Uncertain("stray $");
      push("dollar", i, d.end);
      i = d.end;
    } else if (isIdentStart(c)) {
      let j = i + 1;
      while (j < src.length && isIdentChar(src[j] as string)) j++;
      // A string glued to a word (E'', U&'', B'', X'', N'') is a prefixed literal: the SQL
      // parser reads those pieces itself; EXECUTE accepts only plain literals.
      push("word", i, j);
      i = j;
    } else if (/\d/.test(c) || (c === "." && /\d/.test(src[i + 1] ?? ""))) {
      const end = numberEnd(src, i);
      push("number", i, end);
      i = end;
    } else if (src.startsWith(":=", i) || src.startsWith("::", i) || src.startsWith("..", i)) {
      push("punct", i, i + 2);
      i += 2;
    } else if ("()[],;:.".includes(c)) {
      push("punct", i, i + 1);
      i++;
    } else if (OP_CHARS.includes(c)) {
      const end = operatorEnd(src, i);
      push("op", i, end);
      i = end;
    } else throw new Uncertain(`unexpected character ${JSON.stringify(c)}`);
  }
  return out;
}

/** The value of a plain `'…'` or dollar-quoted literal token. */
export function literalValue(t: Token): string {
  if (t.type === "string") return t.text.slice(1, -1).replace(/''/g, "'");
  const tagLen = t.text.indexOf("$", 1) + 1;
  return t.text.slice(tagLen, t.text.length - tagLen);
}
