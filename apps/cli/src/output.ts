import { formatTimestamp } from "@sluice/client";

export type OutputFormat = "table" | "json";
export const outputFormats: readonly OutputFormat[] = ["table", "json"];

export type Row = Record<string, unknown>;

export interface Column {
  header: string;
  value: (row: Row) => unknown;
}

const MAX_CELL = 60;

/** A column showing `row[key]`, optionally through a formatter. */
export function col(header: string, key: string, format?: (value: unknown, row: Row) => unknown): Column {
  return { header, value: (row) => (format ? format(row[key], row) : row[key]) };
}

export { formatTimestamp };

/** One compact line for any JSON value: `-` for empty, `k=v,…` for flat records, names for lists. */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined || value === "") return "-";
  if (typeof value === "string") return formatTimestamp(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return "-";
    return value.map(formatListItem).join(",");
  }
  if (isRecord(value)) {
    const entries = Object.entries(value);
    if (entries.length === 0) return "-";
    if (entries.every(([, v]) => isScalar(v))) return entries.map(([k, v]) => `${k}=${String(v)}`).join(",");
  }
  return compactJson(value);
}

function formatListItem(value: unknown): string {
  if (isRecord(value) && typeof value.name === "string") return value.name;
  return isScalar(value) ? formatValue(value) : compactJson(value);
}

export function renderTable(rows: Row[], columns: Column[]): string {
  const cells = rows.map((row) => columns.map((c) => truncate(oneLine(formatValue(c.value(row))))));
  const headers = columns.map((c) => c.header);
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return `${[line(headers), ...cells.map(line)].join("\n")}\n`;
}

/** A single object as aligned `key: value` lines, in the object's own field order. */
export function renderDetails(obj: Row): string {
  const keys = Object.keys(obj);
  const width = Math.max(0, ...keys.map((k) => k.length + 1));
  return `${keys.map((k) => `${`${k}:`.padEnd(width)}  ${oneLine(formatValue(obj[k]))}`).join("\n")}\n`;
}

export function renderJson(value: unknown): string {
  return `${JSON.stringify(value ?? null, null, 2)}\n`;
}

export function isRecord(value: unknown): value is Row {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isScalar(value: unknown): boolean {
  return value === null || ["string", "number", "boolean"].includes(typeof value);
}

function compactJson(value: unknown): string {
  return JSON.stringify(value) ?? "-";
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ");
}

function truncate(text: string): string {
  return text.length > MAX_CELL ? `${text.slice(0, MAX_CELL - 1)}…` : text;
}
