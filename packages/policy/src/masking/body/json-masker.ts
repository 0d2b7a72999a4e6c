import { COLUMN_SLOT, type MaskContext } from "../value-masker";
import type { BodyPlan, JsonContext } from "./body-plan";
import {
  ACCEPTS_NUMBER,
  type ChunkMasker,
  LITERALS,
  MAX_JSON_DEPTH,
  MAX_JSON_KEY,
  MAX_JSON_VALUE,
  malformed,
  NUMBER_GRAMMAR,
  REDACTED_JSON,
} from "./json-grammar";
import { ByteBuffer, decodeJsonString } from "./json-string";
import { maskJsonValue, StringScan, scanString } from "./json-value";

const NUM = NUMBER_GRAMMAR;
const MAX_DEPTH = MAX_JSON_DEPTH;
const MAX_KEY = MAX_JSON_KEY;
const MAX_VALUE = MAX_JSON_VALUE;
const REDACTED_VALUE = REDACTED_JSON;
const LITERAL_TEXT = LITERALS;
const scanStr = scanString;
const maskJson = maskJsonValue;
const ACCEPTS = ACCEPTS_NUMBER;
const WHOLE_SLOT = COLUMN_SLOT;
const EMPTY = Buffer.alloc(0);

// parser states
const S_VALUE = 0;
const S_ARRAY_FIRST = 1;
const S_OBJECT_FIRST = 2;
const S_KEY = 3;
const S_COLON = 4;
const S_AFTER = 5;
const S_DONE = 6;
const S_STRING = 7;
const S_NUMBER = 8;
const S_LITERAL = 9;

// what happens to the bytes of the current token
const T_PASS = 0;
/** Withheld until the token ends, then replaced or sent as they were. */
const T_HOLD = 1;
/** Replaced by what was sent at its start. */
const T_DROP = 2;

const OBJECT = 1;
const ARRAY = 2;

/**
 * Masks a JSON document (or, with `multi`, a sequence of documents such as NDJSON) as it
 * streams. Bytes of tokens nothing masks pass through as they came; a masked value is
 * replaced by a JSON string. Throws `malformed_body` where the input stops being JSON;
 * the output of that chunk is withheld.
 */
export class JsonMasker implements ChunkMasker {
  private buf: Buffer = EMPTY;
  private len = 0;
  /** Input bytes before the current chunk (for error offsets). */
  private base = 0;
  private state = S_VALUE;
  private depth = 0;
  private readonly kinds = new Uint8Array(MAX_DEPTH + 1);
  private readonly indices = new Int32Array(MAX_DEPTH + 1);
  private readonly ctxs: JsonContext[] = [];
  private member: JsonContext;
  private readonly pieces: Buffer[] = [];
  private flushFrom = 0;
  private readonly scan = new StringScan();
  // the current token
  private mode = T_PASS;
  private tokStart = 0;
  private tokCtx: JsonContext;
  private carried = false;
  private readonly held = new ByteBuffer();
  private isKey = false;
  private numState = 0;
  private literal = "";
  private literalPos = 0;
  private failed = false;

  constructor(
    private readonly plan: BodyPlan,
    private readonly ctx: MaskContext,
    private readonly multi = false,
  ) {
    this.member = plan.root;
    this.tokCtx = plan.root;
  }

  write(chunk: Buffer): Buffer | undefined {
    if (this.failed) malformed("the masker already failed", this.base);
    this.buf = chunk;
    this.len = chunk.length;
    this.flushFrom = 0;
    this.tokStart = 0;
    this.scan.nextBs = -1;
    try {
      let i = 0;
      while (i < this.len) {
        if (this.state === S_STRING) i = this.string(i);
        else if (this.state === S_NUMBER) i = this.number(i);
        else if (this.state === S_LITERAL) i = this.literalBytes(i);
        else i = this.structural(i);
      }
      this.carry();
    } catch (err) {
      this.failed = true;
      this.pieces.length = 0;
      throw err;
    }
    this.base += this.len;
    return this.output();
  }

  end(): Buffer | undefined {
    if (this.failed) malformed("the masker already failed", this.base);
    this.buf = EMPTY;
    this.len = 0;
    this.flushFrom = 0;
    this.tokStart = 0;
    this.failed = true;
    if (this.state === S_NUMBER) {
      if (!ACCEPTS[this.numState]) malformed("truncated number", this.base);
      this.endScalar(0);
    }
    if (this.state !== S_DONE && !(this.state === S_VALUE && this.depth === 0)) {
      malformed("the document ends early", this.base);
    }
    return this.output();
  }

  /** Back to the state of a new masker (for one document per SSE line). */
  reset(): void {
    this.state = S_VALUE;
    this.depth = 0;
    this.mode = T_PASS;
    this.carried = false;
    this.held.reset();
    this.failed = false;
    this.base = 0;
  }

  private output(): Buffer | undefined {
    const p = this.pieces;
    if (p.length === 0) return undefined;
    const out = p.length === 1 ? p[0]! : Buffer.concat(p);
    p.length = 0;
    return out;
  }

  private emitTo(pos: number): void {
    if (pos > this.flushFrom) this.pieces.push(this.buf.subarray(this.flushFrom, pos));
    this.flushFrom = pos;
  }

  /** End of a chunk inside a token: keep what the token needs for the next chunk. */
  private carry(): void {
    const tokenOpen = this.state >= S_STRING;
    if (!tokenOpen || this.mode === T_PASS) {
      if (tokenOpen && this.isKey && this.ctxs[this.depth]!.keySensitive)
        this.keepHeld(MAX_KEY, "object key too long");
      this.emitTo(this.len);
      return;
    }
    this.emitTo(this.tokStart);
    if (this.mode === T_HOLD) {
      if (this.held.length + this.len - this.tokStart > MAX_VALUE) {
        this.pieces.push(REDACTED_VALUE);
        this.counted();
        this.mode = T_DROP;
        this.held.reset();
      } else this.keepHeld(Number.POSITIVE_INFINITY, "");
    }
    this.flushFrom = this.len;
  }

  private keepHeld(limit: number, what: string): void {
    if (this.held.length + this.len - this.tokStart > limit) malformed(what, this.base + this.len);
    this.held.append(this.buf, this.tokStart, this.len);
    this.carried = true;
  }

  private counted(): void {
    this.ctx.tally[WHOLE_SLOT]!++;
    this.ctx.totals[WHOLE_SLOT]!++;
  }

  private structural(start: number): number {
    const buf = this.buf;
    const len = this.len;
    let i = start;
    while (i < len) {
      const b = buf[i]!;
      if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) {
        i++;
        continue;
      }
      switch (this.state) {
        case S_VALUE:
          return this.value(i, b);
        case S_ARRAY_FIRST:
          if (b !== 0x5d) return this.value(i, b);
          this.pop();
          i++;
          break;
        case S_OBJECT_FIRST:
          if (b === 0x7d) {
            this.pop();
            i++;
            break;
          }
          return this.keyStart(i, b);
        case S_KEY:
          return this.keyStart(i, b);
        case S_COLON:
          if (b !== 0x3a) malformed("expected ':'", this.base + i);
          this.state = S_VALUE;
          i++;
          break;
        case S_AFTER: {
          const kind = this.kinds[this.depth];
          if (b === 0x2c) {
            if (kind === OBJECT) this.state = S_KEY;
            else {
              this.indices[this.depth]!++;
              this.state = S_VALUE;
            }
          } else if ((b === 0x7d && kind === OBJECT) || (b === 0x5d && kind === ARRAY)) this.pop();
          else malformed("expected ',' or the end of the container", this.base + i);
          i++;
          break;
        }
        default:
          if (!this.multi) malformed("data after the document", this.base + i);
          this.state = S_VALUE;
      }
    }
    return i;
  }

  private pop(): void {
    this.depth--;
    this.state = this.depth === 0 ? S_DONE : S_AFTER;
  }

  private value(i: number, b: number): number {
    const d = this.depth;
    const ctx =
      d === 0
        ? this.plan.root
        : this.kinds[d] === ARRAY
          ? this.ctxs[d]!.childOfIndex(this.indices[d]!)
          : this.member;
    if (b === 0x7b || b === 0x5b) {
      if (d === MAX_DEPTH) malformed(`nested deeper than ${MAX_DEPTH}`, this.base + i);
      this.depth = d + 1;
      this.kinds[d + 1] = b === 0x7b ? OBJECT : ARRAY;
      this.indices[d + 1] = 0;
      this.ctxs[d + 1] = ctx;
      this.state = b === 0x7b ? S_OBJECT_FIRST : S_ARRAY_FIRST;
      return i + 1;
    }
    this.tokStart = i;
    this.tokCtx = ctx;
    this.carried = false;
    if (b === 0x22) {
      this.state = S_STRING;
      this.isKey = false;
      this.scan.escape = false;
      this.scan.escSeen = false;
      this.startScalar(ctx, i);
      return i + 1;
    }
    if (b === 0x2d || (b >= 0x30 && b <= 0x39)) {
      this.state = S_NUMBER;
      this.numState = 0;
      this.startScalar(ctx, i);
      return i;
    }
    const lit = LITERAL_TEXT[b];
    if (lit === undefined) malformed("expected a value", this.base + i);
    this.state = S_LITERAL;
    this.literal = lit;
    this.literalPos = 1;
    if (ctx.whole && b !== 0x6e) this.drop(i);
    else this.mode = T_PASS;
    return i + 1;
  }

  private startScalar(ctx: JsonContext, i: number): void {
    if (ctx.whole) {
      if (ctx.wholeRedact) this.drop(i);
      else this.mode = T_HOLD;
    } else this.mode = ctx.detect ? T_HOLD : T_PASS;
  }

  /** Replaces the token starting at `i` by the redaction, sent now. */
  private drop(i: number): void {
    this.emitTo(i);
    this.pieces.push(REDACTED_VALUE);
    this.counted();
    this.mode = T_DROP;
  }

  private keyStart(i: number, b: number): number {
    if (b !== 0x22) malformed("expected an object key", this.base + i);
    this.state = S_STRING;
    this.isKey = true;
    this.mode = T_PASS;
    this.tokStart = i;
    this.carried = false;
    this.scan.escape = false;
    this.scan.escSeen = false;
    return i + 1;
  }

  private string(i: number): number {
    const q = scanStr(this.buf, i, this.len, this.scan);
    return q < 0 ? this.len : this.endString(q);
  }

  private endString(q: number): number {
    const end = q + 1;
    if (!this.isKey) {
      this.endScalar(end);
      return end;
    }
    const parent = this.ctxs[this.depth]!;
    if (parent.keySensitive) {
      const raw = this.carried ? this.held.concat(this.buf, q) : this.buf;
      const from = this.carried ? 1 : this.tokStart + 1;
      const to = this.carried ? raw.length : q;
      if (to - from > MAX_KEY) malformed("object key too long", this.base + q);
      if (this.scan.escSeen) {
        const key = decodeJsonString(raw, from, to);
        this.member = parent.childOfKeyBytes(key, 0, key.length);
      } else this.member = parent.childOfKeyBytes(raw, from, to);
    } else this.member = parent.childOfKeyBytes(this.buf, 0, 0);
    if (this.carried) {
      this.held.reset();
      this.carried = false;
    }
    this.state = S_COLON;
    return end;
  }

  private number(start: number): number {
    const buf = this.buf;
    const len = this.len;
    let st = this.numState;
    let i = start;
    while (i < len) {
      const next = NUM[(st << 8) | buf[i]!]!;
      if (next < 0) break;
      st = next;
      i++;
    }
    this.numState = st;
    if (i === len) return i;
    if (!ACCEPTS[st]) malformed("invalid number", this.base + i);
    this.endScalar(i);
    return i;
  }

  private literalBytes(start: number): number {
    const buf = this.buf;
    const lit = this.literal;
    let i = start;
    while (i < this.len && this.literalPos < lit.length) {
      if (buf[i] !== lit.charCodeAt(this.literalPos)) malformed("invalid literal", this.base + i);
      i++;
      this.literalPos++;
    }
    if (this.literalPos === lit.length) this.endScalar(i);
    return i;
  }

  /** The scalar token ends before `end` (exclusive) in the current chunk. */
  private endScalar(end: number): void {
    if (this.mode === T_HOLD) this.resolve(end);
    else if (this.mode === T_DROP) this.flushFrom = end;
    this.mode = T_PASS;
    if (this.carried) {
      this.held.reset();
      this.carried = false;
    }
    this.state = this.depth === 0 ? S_DONE : S_AFTER;
  }

  /** Decides a withheld token: its replacement, or its own bytes. */
  private resolve(end: number): void {
    const carried = this.carried;
    const raw = carried ? this.held.concat(this.buf, end) : this.buf;
    const from = carried ? 0 : this.tokStart;
    const to = carried ? raw.length : end;
    let out: Buffer | undefined;
    if (to - from > MAX_VALUE) {
      out = REDACTED_VALUE;
      this.counted();
    } else out = maskJson(this.tokCtx, raw, from, to, this.scan.escSeen, this.ctx);
    if (out === undefined) {
      if (carried) this.pieces.push(raw.subarray(0, this.held.length));
      return;
    }
    this.emitTo(carried ? 0 : this.tokStart);
    this.pieces.push(out);
    this.flushFrom = end;
  }
}
