import type { Token } from "./mysql-lexer";

/** The token's upper-case word, or `undefined` when it is not a bare word. */
export function word(t: Token | undefined): string | undefined {
  return t?.type === "word" ? t.value : undefined;
}

/** Whether the tokens from `at` are these words, in order. */
export function wordsAt(tokens: readonly Token[], at: number, ...expected: string[]): boolean {
  return expected.every((w, k) => word(tokens[at + k]) === w);
}

export function indexOfWord(tokens: readonly Token[], w: string, from = 0): number {
  for (let k = from; k < tokens.length; k++) if (word(tokens[k]) === w) return k;
  return -1;
}

function nameText(t: Token | undefined): string | undefined {
  if (!t) return undefined;
  if (t.type === "ident") return t.value.toLowerCase();
  if (t.type === "word" && /^[A-Z0-9_$\u0080-\uffff]+$/i.test(t.value)) return t.value.toLowerCase();
  return undefined;
}

/** Reads `name`, `db.name` or `db.*` at `at`; returns the name and the index after it. */
export function readName(tokens: readonly Token[], at: number): { name: string; next: number } | undefined {
  const first = nameText(tokens[at]);
  if (!first) return undefined;
  const dot = tokens[at + 1];
  if (dot?.type === "op" && dot.value === ".") {
    const star = tokens[at + 2];
    if (star?.type === "op" && star.value === "*") return { name: `${first}.*`, next: at + 3 };
    const second = nameText(star);
    if (second) return { name: `${first}.${second}`, next: at + 3 };
    return undefined;
  }
  return { name: first, next: at + 1 };
}

/** Reads a comma-separated list of names at `at`. */
export function readNameList(tokens: readonly Token[], at: number): { names: string[]; next: number } {
  const names: string[] = [];
  let k = at;
  for (;;) {
    const n = readName(tokens, k);
    if (!n) break;
    names.push(n.name);
    k = n.next;
    if (tokens[k]?.type === "op" && tokens[k]?.value === ",") k++;
    else break;
  }
  return { names, next: k };
}

/** Splits tokens at top-level commas (outside parentheses). */
export function splitTopLevel(tokens: readonly Token[], sep = ","): Token[][] {
  const out: Token[][] = [[]];
  let depth = 0;
  for (const t of tokens) {
    if (t.type === "op" && t.value === "(") depth++;
    if (t.type === "op" && t.value === ")") depth--;
    if (depth === 0 && t.type === "op" && t.value === sep) out.push([]);
    else out[out.length - 1]?.push(t);
  }
  return out;
}
