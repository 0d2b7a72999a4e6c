import {
  DataRowReader,
  formatAt,
  parseBind,
  parseClose,
  parseCommandComplete,
  parseExecute,
  parseNoticeFields,
  parseParse,
  parseQuery,
  parseRowDescription,
} from "@sluice/pg-wire";
import type { PgRecordedResult, PgSessionRecorder } from "./pg-proxy-types";

/** Longest value (parameter or column) kept in the recording; longer ones are cut. */
export const MAX_RECORDED_VALUE_BYTES = 64 * 1024;
/** Prepared statements/portals remembered per session (the oldest are forgotten first). */
const MAX_NAMED = 10_000;

type RecordedColumn = { name: string; typeOid: number };
type Row = (string | null)[];

interface Pending {
  kind: "query" | "execute" | "sync";
  startedAt: number;
  columns: RecordedColumn[] | undefined;
  formats: number[];
  rows: Row[];
  rowCount: number;
  truncated: boolean;
}

interface Portal {
  statement: string;
  params: (string | null)[];
  resultFormats: number[];
}

const NO_FORMATS: number[] = [];
/** Shared empty row list of a result that has no recorded rows yet; replaced on the first row. */
const NO_ROWS: Row[] = [];
/** Longest RowDescription body kept to recognise the next identical one. */
const MAX_CACHED_DESCRIPTION = 4096;
const SKIPPED = { code: "", message: "not executed: an earlier message in the pipeline failed" };

/** The row count at the end of a command tag ("SELECT 3", "INSERT 0 5"), or `fallback`. */
function tagRowCount(tag: string, fallback: number): number {
  let i = tag.length;
  while (i > 0) {
    const c = tag.charCodeAt(i - 1);
    if (c < 48 || c > 57) break;
    i--;
  }
  if (i === tag.length || i === 0) return fallback;
  if (tag.charCodeAt(i - 1) !== 32) {
    const m = /\s(\d+)$/.exec(tag);
    return m ? Number(m[1]) : fallback;
  }
  return Number(tag.slice(i));
}

function decodeValue(value: Buffer | null, format: number): string | null {
  if (value === null) return null;
  const v = value.length > MAX_RECORDED_VALUE_BYTES ? value.subarray(0, MAX_RECORDED_VALUE_BYTES) : value;
  return format === 1 ? `base64:${v.toString("base64")}` : v.toString("utf8");
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_NAMED) map.delete(map.keys().next().value as string);
}

const defaultNow = () => performance.now();

/**
 * Turns the decoded frames of both directions into recorder events. Statements are
 * matched to results in FIFO order: a simple Query stays current until ReadyForQuery
 * (one result per statement in it), an Execute completes at its CommandComplete,
 * ErrorResponse, EmptyQueryResponse or PortalSuspended. Recorded rows per statement
 * are capped at `rowsLimit`; rows beyond it are counted, not decoded.
 */
export class StatementTracker {
  private readonly queue: Pending[] = [];
  private statements: Map<string, string> | undefined;
  private portals: Map<string, Portal> | undefined;
  private row: DataRowReader | undefined;
  // Clients repeat the same result shape; the last RowDescription is decoded once.
  private lastDescription: Buffer | undefined;
  private lastColumns: RecordedColumn[] = [];
  private lastFormats: number[] = NO_FORMATS;

  constructor(
    private readonly recorder: PgSessionRecorder,
    private readonly rowsLimit: number,
    private readonly now: () => number = defaultNow,
  ) {}

  onQuery(body: Buffer): void {
    const text = parseQuery(body);
    this.pending("query", NO_FORMATS);
    this.recorder.statement({ kind: "query", text });
  }

  onParse(body: Buffer): void {
    const m = parseParse(body);
    this.statements ??= new Map();
    remember(this.statements, m.name, m.text);
  }

  onBind(body: Buffer): void {
    const m = parseBind(body);
    const params: (string | null)[] = [];
    for (let i = 0; i < m.values.length; i++)
      params.push(decodeValue(m.values[i] ?? null, formatAt(m.paramFormats, i)));
    this.portals ??= new Map();
    remember(this.portals, m.portal, {
      statement: m.statement,
      params,
      resultFormats: m.resultFormats,
    });
  }

  onExecute(body: Buffer): void {
    const { portal: name } = parseExecute(body);
    const portal = this.portals?.get(name);
    const statementName = portal?.statement ?? "";
    this.pending("execute", portal?.resultFormats ?? NO_FORMATS);
    this.recorder.statement({
      kind: "execute",
      text: this.statements?.get(statementName) ?? "",
      params: portal?.params ?? [],
      ...(statementName ? { statementName } : {}),
    });
  }

  onClose(body: Buffer): void {
    const m = parseClose(body);
    (m.target === "S" ? this.statements : this.portals)?.delete(m.name);
  }

  onSync(): void {
    this.pending("sync", NO_FORMATS);
  }

  onRowDescription(body: Buffer): void {
    const p = this.head();
    if (!p) return;
    this.describe(body);
    p.columns = this.lastColumns;
    p.formats = this.lastFormats;
  }

  onDataRow(buf: Buffer, start: number, end: number): void {
    const p = this.head();
    if (!p) return;
    p.rowCount++;
    if (p.rows.length >= this.rowsLimit) {
      p.truncated = true;
      return;
    }
    this.row ??= new DataRowReader();
    const row = this.row;
    row.reset(buf, start, end);
    const n = row.columnCount;
    const values: Row = [];
    for (let i = 0; i < n; i++) values.push(decodeValue(row.bytes(i), formatAt(p.formats, i)));
    if (p.rows === NO_ROWS) p.rows = [values];
    else p.rows.push(values);
  }

  onCommandComplete(body: Buffer): void {
    this.complete(parseCommandComplete(body));
  }

  onEmptyQuery(): void {
    this.complete("");
  }

  onPortalSuspended(): void {
    this.complete("SUSPENDED");
  }

  onError(body: Buffer): void {
    const f = parseNoticeFields(body);
    this.complete(undefined, { code: f.C ?? "", message: f.M ?? "" });
  }

  onNotice(body: Buffer): void {
    const f = parseNoticeFields(body);
    this.recorder.notice?.({ ...(f.C ? { code: f.C } : {}), message: f.M ?? "" });
  }

  /** ReadyForQuery ends the current simple Query or Sync; Executes skipped after an error get an error result. */
  onReady(): void {
    const queue = this.queue;
    while (queue.length > 0) {
      const p = queue.shift()!;
      if (p.kind === "sync" || p.kind === "query") return;
      this.emit(p, undefined, { ...SKIPPED });
    }
  }

  private pending(kind: Pending["kind"], formats: number[]): void {
    this.queue.push({
      kind,
      startedAt: this.now(),
      columns: undefined,
      formats,
      rows: NO_ROWS,
      rowCount: 0,
      truncated: false,
    });
  }

  private head(): Pending | undefined {
    const h = this.queue[0];
    return h && h.kind !== "sync" ? h : undefined;
  }

  private emit(p: Pending, command: string | undefined, error?: { code: string; message: string }): void {
    const t = this.now();
    const rowCount = command ? tagRowCount(command, p.rowCount) : p.rowCount;
    const durationMs = Math.round((t - p.startedAt) * 1000) / 1000;
    const rows = p.rows === NO_ROWS ? [] : p.rows;
    const ev: PgRecordedResult = p.columns
      ? { columns: p.columns, rows, rowCount, truncated: p.truncated, durationMs }
      : { rows, rowCount, truncated: p.truncated, durationMs };
    if (error) ev.error = error;
    else ev.command = command;
    this.recorder.result(ev);
    p.startedAt = t;
    p.rows = NO_ROWS;
    p.rowCount = 0;
    p.truncated = false;
    p.columns = undefined;
  }

  private complete(command: string | undefined, error?: { code: string; message: string }): void {
    const p = this.head();
    if (!p) return;
    this.emit(p, command, error);
    if (p.kind === "execute") this.queue.shift();
  }

  private describe(body: Buffer): void {
    if (this.lastDescription?.equals(body)) return;
    const fields = parseRowDescription(body);
    const columns: RecordedColumn[] = [];
    const formats: number[] = [];
    for (const f of fields) {
      columns.push({ name: f.name, typeOid: f.typeOid });
      formats.push(f.format);
    }
    this.lastColumns = columns;
    this.lastFormats = formats;
    this.lastDescription = body.length <= MAX_CACHED_DESCRIPTION ? Buffer.from(body) : undefined;
  }
}

export function createStatementTracker(
  recorder: PgSessionRecorder,
  rowsLimit: number,
  now?: () => number,
): StatementTracker {
  return new StatementTracker(recorder, rowsLimit, now);
}
