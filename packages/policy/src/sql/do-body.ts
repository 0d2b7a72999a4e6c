import { type BodySink, TokenCursor } from "./plpgsql-cursor";
import { lexPlpgsql, literalValue, type Token, Uncertain } from "./plpgsql-lexer";

export type { BodySink };

/**
 * Reads a PL/pgSQL block (a DO body) the way the PL/pgSQL compiler splits it: block
 * structure, control statements, and the SQL statements and expressions (which PL/pgSQL
 * runs as `SELECT <expr>`) it hands to the SQL parser. Every piece of SQL goes to the sink;
 * anything that is not read with certainty — dynamic `EXECUTE` of a non-literal, a form this
 * reader does not model, a piece the SQL parser rejects — makes the whole block opaque.
 */

const RAISE_LEVELS = new Set(["debug", "log", "info", "notice", "warning", "exception"]);
const MAX_NESTING = 64;

class BlockReader extends TokenCursor {
  private nesting = 0;

  /** The whole body: one block, an optional `;`, nothing else. */
  readBody(): void {
    this.block();
    if (this.isPunct(";")) this.i++;
    if (this.i !== this.toks.length) throw new Uncertain("text after the block");
  }

  private label(): void {
    if (!this.isPunct("<<")) return;
    const name = this.peek(1);
    if (!(name?.type === "word" || name?.type === "qword") || !this.isPunct(">>", 2))
      throw new Uncertain("bad label");
    this.i += 3;
  }

  private block(): void {
    if (++this.nesting > MAX_NESTING) throw new Uncertain("nested too deep");
    this.label();
    if (this.isWord("declare")) {
      this.i++;
      while (!this.isWord("begin")) {
        if (this.i >= this.toks.length) throw new Uncertain("missing BEGIN");
        if (this.isWord("declare")) this.i++;
        else this.declaration();
      }
    }
    this.expectWord("begin");
    this.statements(["end", "exception"]);
    if (this.isWord("exception")) {
      this.i++;
      while (this.isWord("when")) {
        const then = this.toWord("then", this.i + 1);
        for (let j = this.i + 1; j < then; j++) {
          const t = this.toks[j] as Token;
          if (!(t.type === "word" || t.type === "string")) throw new Uncertain("bad exception condition");
        }
        this.i = then + 1;
        this.statements(["when", "end"]);
      }
    }
    this.expectWord("end");
    const after = this.peek();
    if ((after?.type === "word" || after?.type === "qword") && !this.isPunct(";")) this.i++;
    this.nesting--;
  }

  private declaration(): void {
    const end = this.toSemicolon();
    const cursorAt = this.scanTo((t) => t.type === "word" && t.lower === "cursor");
    if (cursorAt < end && cursorAt <= this.i + 3) {
      const isFor = (t: Token) => t.type === "word" && (t.lower === "for" || t.lower === "is");
      const q = this.scanTo(isFor, cursorAt + 1);
      if (q >= end) throw new Uncertain("cursor without a query");
      this.sql(this.text(q + 1, end));
    } else {
      const isDefault = (t: Token) =>
        (t.type === "punct" && t.text === ":=") ||
        (t.type === "op" && t.text === "=") ||
        (t.type === "word" && t.lower === "default");
      const d = this.scanTo(isDefault);
      if (d < end) this.expr(d + 1, end);
    }
    this.i = end + 1;
  }

  private statements(stops: string[]): void {
    for (;;) {
      const t = this.peek();
      if (!t) throw new Uncertain("unexpected end of block");
      if (t.type === "word" && stops.includes(t.lower)) return;
      this.statement();
    }
  }

  private statement(): void {
    const t = this.peek() as Token;
    if (this.isPunct("<<")) {
      this.label();
      if (this.isWord("declare") || this.isWord("begin")) {
        this.block();
        this.expectSemicolon();
      } else if (!["loop", "while", "for", "foreach"].some((w) => this.isWord(w))) {
        throw new Uncertain("label before a statement that takes none");
      } else this.statement();
      return;
    }
    if (t.type === "word") {
      const handled = this.control(t.lower);
      if (handled) return;
    }
    if (this.assignment()) return;
    this.sqlStatement();
  }

  /** Control statements by their first word; false when the word starts none. */
  private control(word: string): boolean {
    switch (word) {
      case "declare":
      case "begin":
        this.block();
        this.expectSemicolon();
        return true;
      case "if":
        this.ifStatement();
        return true;
      case "case":
        this.caseStatement();
        return true;
      case "loop":
        this.i++;
        this.loopBody();
        return true;
      case "while": {
        const loop = this.toWord("loop", this.i + 1);
        this.expr(this.i + 1, loop);
        this.i = loop + 1;
        this.loopBody();
        return true;
      }
      case "for":
        this.forStatement();
        return true;
      case "foreach": {
        const arr = this.toWord("array", this.i + 1);
        const loop = this.toWord("loop", arr + 1);
        this.expr(arr + 1, loop);
        this.i = loop + 1;
        this.loopBody();
        return true;
      }
      case "exit":
      case "continue":
        this.exitStatement();
        return true;
      case "return":
        this.returnStatement();
        return true;
      case "raise":
        this.raiseStatement();
        return true;
      case "assert": {
        const end = this.toSemicolon(this.i + 1);
        this.exprList(this.i + 1, end);
        this.i = end + 1;
        return true;
      }
      case "perform": {
        const end = this.toSemicolon(this.i + 1);
        this.sql(`SELECT ${this.text(this.i + 1, end)}`);
        this.i = end + 1;
        return true;
      }
      case "null":
        this.i++;
        this.expectSemicolon();
        return true;
      case "get":
      case "fetch":
      case "move":
      case "close":
        this.plainWords();
        return true;
      case "open":
        this.openStatement();
        return true;
      case "execute":
        this.executeStatement();
        return true;
      default:
        return false;
    }
  }

  private loopBody(): void {
    this.statements(["end"]);
    this.expectWord("end");
    this.expectWord("loop");
    const label = this.peek();
    if (label?.type === "word" || label?.type === "qword") this.i++;
    this.expectSemicolon();
  }

  private ifStatement(): void {
    const then = this.toWord("then", this.i + 1);
    this.expr(this.i + 1, then);
    this.i = then + 1;
    this.statements(["elsif", "elseif", "else", "end"]);
    while (this.isWord("elsif") || this.isWord("elseif")) {
      const next = this.toWord("then", this.i + 1);
      this.expr(this.i + 1, next);
      this.i = next + 1;
      this.statements(["elsif", "elseif", "else", "end"]);
    }
    if (this.isWord("else")) {
      this.i++;
      this.statements(["end"]);
    }
    this.expectWord("end");
    this.expectWord("if");
    this.expectSemicolon();
  }

  private caseStatement(): void {
    this.i++;
    if (!this.isWord("when")) {
      const when = this.toWord("when");
      this.expr(this.i, when);
      this.i = when;
    }
    while (this.isWord("when")) {
      const then = this.toWord("then", this.i + 1);
      this.exprList(this.i + 1, then);
      this.i = then + 1;
      this.statements(["when", "else", "end"]);
    }
    if (this.isWord("else")) {
      this.i++;
      this.statements(["end"]);
    }
    this.expectWord("end");
    this.expectWord("case");
    this.expectSemicolon();
  }

  private forStatement(): void {
    const inAt = this.toWord("in", this.i + 1);
    for (let j = this.i + 1; j < inAt; j++) {
      const t = this.toks[j] as Token;
      if (!(t.type === "word" || t.type === "qword" || t.text === "," || t.text === "."))
        throw new Uncertain("bad FOR target");
    }
    let from = inAt + 1;
    const loop = this.toWord("loop", from);
    if (this.isWord("execute", from - this.i)) throw new Uncertain("FOR … IN EXECUTE");
    if (this.isWord("reverse", from - this.i)) from++;
    const dots = this.scanTo((t) => t.type === "punct" && t.text === "..", from);
    if (dots < loop) {
      const by = this.scanTo((t) => t.type === "word" && t.lower === "by", dots + 1);
      this.expr(from, dots);
      this.expr(dots + 1, Math.min(by, loop));
      if (by < loop) this.expr(by + 1, loop);
    } else if (loop - from === 1 && this.toks[from]?.type === "word") {
      // FOR r IN cursor_name LOOP: the cursor's query was read where it was declared.
    } else this.sql(this.text(from, loop));
    this.i = loop + 1;
    this.loopBody();
  }

  private exitStatement(): void {
    this.i++;
    const label = this.peek();
    if ((label?.type === "word" && label.lower !== "when") || label?.type === "qword") this.i++;
    if (this.isWord("when")) {
      const end = this.toSemicolon(this.i + 1);
      this.expr(this.i + 1, end);
      this.i = end;
    }
    this.expectSemicolon();
  }

  private returnStatement(): void {
    this.i++;
    if (this.isWord("query")) {
      if (this.isWord("execute", 1)) throw new Uncertain("RETURN QUERY EXECUTE");
      const end = this.toSemicolon(this.i + 1);
      this.sql(this.text(this.i + 1, end));
      this.i = end + 1;
      return;
    }
    if (this.isWord("next")) this.i++;
    const end = this.toSemicolon();
    if (end > this.i) this.expr(this.i, end);
    this.i = end + 1;
  }

  private raiseStatement(): void {
    this.i++;
    const end = this.toSemicolon();
    const level = this.peek();
    if (level?.type === "word" && RAISE_LEVELS.has(level.lower)) this.i++;
    const using = this.scanTo((t) => t.type === "word" && t.lower === "using");
    const head = Math.min(using, end);
    const first = this.peek();
    if (this.i < head) {
      if (first?.type === "string" || first?.type === "dollar") {
        if (this.isPunct(",", 1)) this.exprList(this.i + 2, head);
        else if (this.i + 1 !== head) throw new Uncertain("RAISE format followed by text");
      } else if (first?.type === "word" && first.lower === "sqlstate") {
        if (this.toks[this.i + 1]?.type !== "string" || this.i + 2 !== head)
          throw new Uncertain("bad SQLSTATE");
      } else if (!(first?.type === "word" && this.i + 1 === head)) throw new Uncertain("bad RAISE");
    }
    if (using < end) this.raiseOptions(using + 1, end);
    this.i = end + 1;
  }

  /** `USING name = expr [, …]`. */
  private raiseOptions(from: number, to: number): void {
    let start = from;
    while (start < to) {
      const comma = Math.min(
        this.scanTo((t) => t.type === "punct" && t.text === ",", start),
        to,
      );
      const eq = this.toks[start + 1];
      if (this.toks[start]?.type !== "word" || !eq || !(eq.text === "=" || eq.text === ":="))
        throw new Uncertain("bad RAISE option");
      this.expr(start + 2, comma);
      start = comma + 1;
    }
  }

  /** GET DIAGNOSTICS, FETCH, MOVE, CLOSE: only names, numbers and a few signs, no expressions. */
  private plainWords(): void {
    const end = this.toSemicolon();
    for (let j = this.i; j < end; j++) {
      const t = this.toks[j] as Token;
      const ok =
        t.type === "word" ||
        t.type === "qword" ||
        t.type === "number" ||
        (["=", "-", "+"].includes(t.text) && t.type === "op") ||
        [",", ".", ":="].includes(t.text);
      if (!ok) throw new Uncertain("unexpected text in a cursor or diagnostics statement");
    }
    this.i = end + 1;
  }

  private openStatement(): void {
    const end = this.toSemicolon();
    const forAt = this.scanTo((t) => t.type === "word" && t.lower === "for");
    if (forAt < end) {
      if (this.isWord("execute", forAt + 1 - this.i)) throw new Uncertain("OPEN … FOR EXECUTE");
      this.sql(this.text(forAt + 1, end));
    } else if (this.isPunct("(", 2)) {
      this.expr(this.i + 2, end);
    } else if (end !== this.i + 2) throw new Uncertain("bad OPEN");
    this.i = end + 1;
  }

  /** `EXECUTE 'literal' [INTO [STRICT] target] [USING expr, …]`: the literal is SQL like any other. */
  private executeStatement(): void {
    const lit = this.peek(1);
    const prev = this.peek();
    const plain = lit && (lit.type === "string" || lit.type === "dollar") && prev && prev.end < lit.start;
    if (!plain) throw new Uncertain("EXECUTE of an expression");
    this.sql(literalValue(lit));
    this.i += 2;
    const end = this.toSemicolon();
    const using = this.scanTo((t) => t.type === "word" && t.lower === "using");
    if (this.isWord("into")) {
      const stop = Math.min(using, end);
      for (let j = this.i + 1; j < stop; j++) {
        const t = this.toks[j] as Token;
        if (!(t.type === "word" || t.type === "qword" || t.text === "," || t.text === "."))
          throw new Uncertain("bad INTO target");
      }
    } else if (this.i !== Math.min(using, end)) throw new Uncertain("text after EXECUTE literal");
    if (using < end) this.exprList(using + 1, end);
    this.i = end + 1;
  }

  /** `target := expr` or `target = expr`, where target is a name, a field or an element. */
  private assignment(): boolean {
    let j = this.i;
    const first = this.toks[j];
    if (!(first?.type === "word" || first?.type === "qword")) return false;
    j++;
    for (;;) {
      const t = this.toks[j];
      if (t?.type === "punct" && t.text === "." && ["word", "qword"].includes(this.toks[j + 1]?.type ?? ""))
        j += 2;
      else if (t?.type === "punct" && t.text === "[") {
        const close = this.scanTo((x) => x.type === "punct" && x.text === "]", j + 1);
        if (close >= this.toks.length) return false;
        this.expr(j + 1, close);
        j = close + 1;
      } else break;
    }
    const op = this.toks[j];
    if (!op || !((op.type === "punct" && op.text === ":=") || (op.type === "op" && op.text === "=")))
      return false;
    const end = this.toSemicolon(j + 1);
    this.expr(j + 1, end);
    this.i = end + 1;
    return true;
  }
}

/** Reads a PL/pgSQL body into the sink; false when any part of it is not read with certainty. */
export function readDoBody(body: string, sink: BodySink): boolean {
  try {
    new BlockReader(body, lexPlpgsql(body), sink).readBody();
    return true;
  } catch (err) {
    if (err instanceof Uncertain) return false;
    throw err;
  }
}
