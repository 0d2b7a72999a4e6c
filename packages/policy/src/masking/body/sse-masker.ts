import type { ColumnPlan } from "../column-plan";
import { MaskingError } from "../errors";
import type { MaskContext } from "../value-masker";
import type { BodyPlan } from "./body-plan";
import type { ChunkMasker } from "./json-grammar";
import { JsonMasker } from "./json-masker";
import { maskTextBytes } from "./text-stream";

/** Longest event-stream line (a `data:` line carries one JSON document); longer is an error. */
export const MAX_SSE_LINE = 1024 * 1024;

const DATA = Buffer.from("data:");

function isLineEnd(b: number): boolean {
  return b === 0x0a || b === 0x0d;
}

/**
 * Masks a `text/event-stream` line by line, sending every complete line on as soon as it
 * arrives (events are never held back past their own line). A `data:` value is masked as
 * a JSON document when it is one, else as text (detectors); other lines (event names,
 * ids, comments) go through the detectors. Line terminators are kept byte for byte.
 * A JSON document split over several `data:` lines is masked as text, line by line.
 */
export class SseMasker implements ChunkMasker {
  private pending: Buffer = Buffer.alloc(0);
  private readonly json: JsonMasker;

  constructor(
    plan: BodyPlan,
    private readonly text: ColumnPlan | undefined,
    private readonly ctx: MaskContext,
  ) {
    this.json = new JsonMasker(plan, ctx);
  }

  write(chunk: Buffer): Buffer | undefined {
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    let lineStart = 0;
    for (let i = this.pending.length; i < buf.length; i++) {
      if (!isLineEnd(buf[i]!)) continue;
      this.line(buf, lineStart, i, out);
      out.push(buf.subarray(i, i + 1));
      lineStart = i + 1;
    }
    if (buf.length - lineStart > MAX_SSE_LINE) {
      throw new MaskingError("malformed_body", `event-stream line longer than ${MAX_SSE_LINE} bytes`);
    }
    this.pending = Buffer.from(buf.subarray(lineStart));
    return out.length === 0 ? undefined : Buffer.concat(out);
  }

  end(): Buffer | undefined {
    const rest = this.pending;
    this.pending = Buffer.alloc(0);
    if (rest.length === 0) return undefined;
    const out: Buffer[] = [];
    this.line(rest, 0, rest.length, out);
    return Buffer.concat(out);
  }

  private line(buf: Buffer, start: number, end: number, out: Buffer[]): void {
    if (end === start) return;
    if (end - start >= DATA.length && buf.compare(DATA, 0, DATA.length, start, start + DATA.length) === 0) {
      let value = start + DATA.length;
      if (buf[value] === 0x20) value++;
      out.push(buf.subarray(start, value));
      const json = this.maskJson(buf.subarray(value, end));
      if (json) out.push(json);
      else if (this.text) out.push(maskTextBytes(this.text, buf, value, end, this.ctx));
      else out.push(buf.subarray(value, end));
      return;
    }
    out.push(this.text ? maskTextBytes(this.text, buf, start, end, this.ctx) : buf.subarray(start, end));
  }

  /** The masked document, or undefined when the value is not one JSON document. */
  private maskJson(value: Buffer): Buffer | undefined {
    const first = value.find((b) => b !== 0x20 && b !== 0x09);
    if (first === undefined || !isJsonStart(first)) return undefined;
    this.json.reset();
    try {
      const a = this.json.write(value);
      const b = this.json.end();
      if (!a && !b) return Buffer.alloc(0);
      return a && b ? Buffer.concat([a, b]) : (a ?? b);
    } catch (err) {
      if (err instanceof MaskingError) return undefined;
      throw err;
    }
  }
}

function isJsonStart(b: number): boolean {
  return (
    b === 0x7b ||
    b === 0x5b ||
    b === 0x22 ||
    b === 0x2d ||
    (b >= 0x30 && b <= 0x39) ||
    b === 0x74 ||
    b === 0x66 ||
    b === 0x6e
  );
}
