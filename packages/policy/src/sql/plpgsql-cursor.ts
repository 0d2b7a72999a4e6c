import { type Token, Uncertain } from "./plpgsql-lexer";

/**
 * Position in a PL/pgSQL token stream, with the pieces every statement reader needs:
 * looking ahead, finding the end of an expression at depth 0, and handing SQL text (or an
 * expression, which PL/pgSQL runs as `SELECT <expr>`) to the sink.
 */

export interface BodySink {
  /** Parses and records SQL text; false when it does not parse. */
  sql(text: string): boolean;
}

export class TokenCursor {
  protected i = 0;

  constructor(
    protected readonly src: string,
    protected readonly toks: Token[],
    protected readonly sink: BodySink,
  ) {}

  protected peek(offset = 0): Token | undefined {
    return this.toks[this.i + offset];
  }

  protected isWord(word: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t?.type === "word" && t.lower === word;
  }

  protected isPunct(p: string, offset = 0): boolean {
    const t = this.peek(offset);
    return (t?.type === "punct" || t?.type === "op") && t.text === p;
  }

  protected expectWord(word: string): void {
    if (!this.isWord(word)) throw new Uncertain(`expected ${word}`);
    this.i++;
  }

  protected expectSemicolon(): void {
    if (!this.isPunct(";")) throw new Uncertain("expected ;");
    this.i++;
  }

  protected text(from: number, to: number): string {
    const a = this.toks[from];
    const b = this.toks[to - 1];
    if (!a || !b || to <= from) throw new Uncertain("empty piece");
    return this.src.slice(a.start, b.end);
  }

  protected sql(text: string): void {
    if (!this.sink.sql(text)) throw new Uncertain("SQL that does not parse");
  }

  protected expr(from: number, to: number): void {
    this.sql(`SELECT ${this.text(from, to)}`);
  }

  /**
   * Index of the first token at depth 0 (parentheses, brackets, CASE…END) for which `stop`
   * holds, from the current position; the end of the tokens when none does.
   */
  protected scanTo(stop: (t: Token) => boolean, from = this.i): number {
    let depth = 0;
    let caseDepth = 0;
    for (let j = from; j < this.toks.length; j++) {
      const t = this.toks[j] as Token;
      if (depth === 0 && caseDepth === 0 && stop(t)) return j;
      if (t.type === "punct" && (t.text === "(" || t.text === "[")) depth++;
      else if (t.type === "punct" && (t.text === ")" || t.text === "]")) depth--;
      else if (t.type === "word" && t.lower === "case") caseDepth++;
      else if (t.type === "word" && t.lower === "end" && caseDepth > 0) caseDepth--;
      if (depth < 0) throw new Uncertain("unbalanced parentheses");
    }
    return this.toks.length;
  }

  protected toWord(word: string, from = this.i): number {
    const j = this.scanTo((t) => t.type === "word" && t.lower === word, from);
    if (j >= this.toks.length) throw new Uncertain(`missing ${word}`);
    return j;
  }

  protected toSemicolon(from = this.i): number {
    const j = this.scanTo((t) => t.type === "punct" && t.text === ";", from);
    if (j >= this.toks.length) throw new Uncertain("missing ;");
    return j;
  }

  /** Expressions separated by commas at depth 0, from `from` to `to`. */
  protected exprList(from: number, to: number): void {
    let start = from;
    while (start < to) {
      const comma = this.scanTo((t) => t.type === "punct" && t.text === ",", start);
      const end = Math.min(comma, to);
      this.expr(start, end);
      start = end + 1;
    }
  }

  /**
   * Any other statement is SQL. As in PL/pgSQL, `INTO target` (not after INSERT or MERGE,
   * nor in IMPORT) names variables and is not part of the SQL.
   */
  protected sqlStatement(): void {
    const start = this.i;
    let depth = 0;
    let beginDepth = 0;
    let j = start;
    const pieces: [number, number][] = [];
    let pieceStart = start;
    const firstWord = this.toks[start]?.lower;
    for (; j < this.toks.length; j++) {
      const t = this.toks[j] as Token;
      if (t.type === "punct" && t.text === ";" && depth === 0 && beginDepth === 0) break;
      if (t.type === "punct" && (t.text === "(" || t.text === "[")) depth++;
      else if (t.type === "punct" && (t.text === ")" || t.text === "]")) depth--;
      if (t.type === "word" && (t.lower === "begin" || t.lower === "case")) beginDepth++;
      else if (t.type === "word" && t.lower === "end" && beginDepth > 0) beginDepth--;
      if (t.type === "word" && t.lower === "into") {
        const prev = this.toks[j - 1];
        if (prev?.type === "word" && (prev.lower === "insert" || prev.lower === "merge")) continue;
        if (firstWord === "import") continue;
        pieces.push([pieceStart, j]);
        j = this.intoTargetEnd(j + 1) - 1;
        pieceStart = j + 1;
      }
    }
    if (j >= this.toks.length) throw new Uncertain("missing ;");
    pieces.push([pieceStart, j]);
    const sql = pieces
      .filter(([a, b]) => b > a)
      .map(([a, b]) => this.text(a, b))
      .join(" ");
    this.sql(sql);
    this.i = j + 1;
  }

  /** End (exclusive) of `[STRICT] name[.name] [, name…]` starting at `from`. */
  protected intoTargetEnd(from: number): number {
    let j = from;
    if (this.toks[j]?.type === "word" && this.toks[j]?.lower === "strict") j++;
    for (;;) {
      const t = this.toks[j];
      if (!(t?.type === "word" || t?.type === "qword")) throw new Uncertain("bad INTO target");
      j++;
      while (this.toks[j]?.text === "." && ["word", "qword"].includes(this.toks[j + 1]?.type ?? "")) j += 2;
      if (this.toks[j]?.text !== ",") return j;
      j++;
    }
  }
}
