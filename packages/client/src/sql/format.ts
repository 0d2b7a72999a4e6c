import type { SqlColumn, StatementResult } from "./simple-query";

export type SqlOutputFormat = "table" | "csv" | "json";

/** Rows as an aligned psql-style table; NULL is an empty cell, line breaks show as `\n`. */
export function renderSqlTable(columns: string[], rows: (string | null)[][], maxCell = Infinity): string {
  const cell = (value: string | null | undefined) => clip(oneLine(value ?? ""), maxCell);
  const header = columns.map((c) => cell(c));
  const body = rows.map((row) => columns.map((_, i) => cell(row[i])));
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? "").length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => ` ${v.padEnd(widths[i] ?? 0)} `)
      .join("|")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w + 2)).join("+");
  return `${[line(header), rule, ...body.map(line)].join("\n")}\n`;
}

export function rowCount(n: number): string {
  return n === 1 ? "1 row" : `${n} rows`;
}

/** One result for the terminal: a table with its row count, or the command tag. */
export function renderResultTable(result: StatementResult): string {
  if (!result.columns) return `${result.command}\n`;
  const names = result.columns.map((c) => c.name);
  return `${renderSqlTable(names, result.rows)}(${rowCount(result.rows.length)})\n`;
}

/** A header line and the rows as RFC 4180 CSV; NULL is an empty field. */
export function renderCsv(result: StatementResult): string {
  if (!result.columns) return "";
  const lines = [result.columns.map((c) => csvField(c.name)), ...result.rows.map((r) => r.map(csvField))];
  return lines.map((l) => `${l.join(",")}\r\n`).join("");
}

function csvField(value: string | null): string {
  if (value === null) return "";
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export interface JsonResult {
  command: string;
  rowCount: number | null;
  columns?: SqlColumn[];
  rows?: Record<string, unknown>[];
}

/** A result for `-o json`: rows as objects keyed by column name, values typed where JSON can. */
export function toJsonResult(result: StatementResult): JsonResult {
  const count = /(\d+)$/.exec(result.command);
  const out: JsonResult = { command: result.command, rowCount: count ? Number(count[1]) : null };
  if (result.columns) {
    const columns = result.columns;
    out.columns = columns;
    out.rows = result.rows.map((row) =>
      Object.fromEntries(columns.map((c, i) => [c.name, jsonValue(row[i] ?? null, c.typeOid)])),
    );
  }
  return out;
}

const BOOL = 16;
const INT8 = 20;
const NUMBER_OIDS = new Set([21, 23, 26, 700, 701]);
const JSON_OIDS = new Set([114, 3802]);

/** Postgres text output → a JSON value: booleans, numbers that fit, json/jsonb parsed; else the text. */
export function jsonValue(text: string | null, typeOid: number): unknown {
  if (text === null) return null;
  if (typeOid === BOOL) return text === "t";
  if (NUMBER_OIDS.has(typeOid) || typeOid === INT8) {
    const n = Number(text);
    if (!Number.isFinite(n) || (typeOid === INT8 && !Number.isSafeInteger(n))) return text;
    return n;
  }
  if (JSON_OIDS.has(typeOid)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

function oneLine(text: string): string {
  return text.replace(/\r?\n/g, "\\n");
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
