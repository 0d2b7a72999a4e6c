import type { ServerError, StatementResult } from "@sluice/client";
import { jsonValue, renderSqlTable, rowCount, serverErrorLine } from "@sluice/client";

export const DEFAULT_MAX_ROWS = 200;
export const MAX_ROWS_LIMIT = 10_000;
export const DEFAULT_MAX_BYTES = 1024 * 1024;
export const MAX_BYTES_LIMIT = 16 * 1024 * 1024;
/** Cells longer than this are clipped in the text rendering (the structured rows keep them whole). */
const TEXT_CELL = 200;

/**
 * The rows a tool call may return across all of its statements: at most `maxRows` rows and
 * `maxBytes` bytes of cell text. Rows past either cap are dropped as they arrive.
 */
export class RowBudget {
  private rows = 0;
  private bytes = 0;
  truncated = false;

  constructor(
    readonly maxRows: number,
    readonly maxBytes: number,
  ) {}

  /** True when the row fits; false (and `truncated`) once a cap is reached. */
  take(fields: (string | null)[]): boolean {
    if (this.truncated) return false;
    const size = fields.reduce((n, f) => n + (f === null ? 4 : Buffer.byteLength(f) + 2), 2);
    if (this.rows >= this.maxRows || this.bytes + size > this.maxBytes) {
      this.truncated = true;
      return false;
    }
    this.rows++;
    this.bytes += size;
    return true;
  }
}

export interface StatementOutput {
  command: string;
  /** Rows the statement returned or changed, from its command tag (null when the tag has no count). */
  rowCount: number | null;
  columns?: string[];
  rows?: unknown[][];
  /** Some of this statement's rows were left out by the row or byte cap. */
  truncated: boolean;
}

/** One statement's result as tool output: values typed as JSON where the column type allows. */
export function toStatementOutput(result: StatementResult): StatementOutput {
  const count = /(\d+)(?: rows affected)?$/.exec(result.command);
  const out: StatementOutput = {
    command: result.command,
    rowCount: count ? Number(count[1]) : null,
    truncated: false,
  };
  if (result.columns) {
    const columns = result.columns;
    out.columns = columns.map((c) => c.name);
    out.rows = result.rows.map((row) => columns.map((c, i) => jsonValue(row[i] ?? null, c.typeOid)));
    out.truncated = out.rowCount !== null && out.rowCount > result.rows.length;
  }
  return out;
}

function cellText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** A compact psql-like rendering of statement outputs, saying where rows were left out. */
export function renderStatements(statements: StatementOutput[]): string {
  const parts = statements.map((s) => {
    if (!s.columns) return s.command;
    const table = renderSqlTable(
      s.columns,
      (s.rows ?? []).map((r) => r.map(cellText)),
      TEXT_CELL,
    );
    const shown = s.rows?.length ?? 0;
    const note =
      s.truncated && s.rowCount !== null
        ? `(${shown} of ${rowCount(s.rowCount)} shown: the row or byte cap was reached)`
        : `(${rowCount(shown)})`;
    return `${table}${note}`;
  });
  return parts.join("\n\n");
}

/** The hint the agent puts on a refusal: `Sluice rule: <name>`. */
export function refusingRule(err: ServerError): string | undefined {
  return /^Sluice rule: (.+)$/.exec(err.hint ?? "")?.[1];
}

/** A statement's error as a tool error's text, naming the Sluice rule when the agent refused it. */
export function statementErrorText(err: ServerError, reviewId?: string): string {
  const rule = refusingRule(err);
  const lines = [
    rule ? `refused by Sluice rule "${rule}": ${serverErrorLine(err)}` : `ERROR: ${serverErrorLine(err)}`,
  ];
  if (err.detail) lines.push(`DETAIL: ${err.detail}`);
  if (err.hint && !rule) lines.push(`HINT: ${err.hint}`);
  if (reviewId) lines.push(`review: ${reviewId}`);
  return lines.join("\n");
}

/** Caps a text body at `maxBytes` bytes without splitting a UTF-8 character. */
export function capText(body: Buffer, maxBytes: number): { text: string; truncated: boolean } {
  if (body.length <= maxBytes) return { text: body.toString("utf8"), truncated: false };
  let end = maxBytes;
  // Step back over continuation bytes (10xxxxxx) so the cut lands on a character boundary.
  while (end > 0 && ((body[end] ?? 0) & 0xc0) === 0x80) end--;
  return { text: body.subarray(0, end).toString("utf8"), truncated: true };
}

/** True for content types whose body is text an assistant can read. */
export function isTextual(contentType: string | undefined): boolean {
  if (!contentType) return true;
  return /^text\/|[/+](json|xml|csv|javascript|x-www-form-urlencoded|yaml)\b/i.test(contentType);
}
