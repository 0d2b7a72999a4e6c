import {
  formatAt,
  ProtocolError,
  parseBind,
  parseClose,
  parseExecute,
  parseNoticeFields,
  parseParse,
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
const NO_COLUMNS: RecordedColumn[] = [];
/** Shared empty row list of a result that has no recorded rows yet; replaced on the first row. */
const NO_ROWS: Row[] = [];
/** Longest RowDescription body kept to recognise the next identical one. */
const MAX_CACHED_DESCRIPTION = 4096;
/** Longest CommandComplete body kept to recognise the next identical one. */
const MAX_CACHED_TAG = 64;
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

/**
 * The NUL-terminated string filling `buf[start, end)` (Query, CommandComplete). UTF-8
 * decoding turns a NUL byte into U+0000 and nothing else into it, so an inner NUL is
 * found in the decoded text.
 */
function wholeCString(buf: Buffer, start: number, end: number, what: string): string {
  if (end > start && buf[end - 1] === 0) {
    const text = buf.toString("utf8", start, end - 1);
    if (!text.includes("\0")) return text;
  }
  throw new ProtocolError("malformed_message", `malformed ${what} message: unterminated string`);
}

/** Whether `buf[start, end)` holds the same bytes as `last`. */
function sameBytes(last: Buffer, buf: Buffer, start: number, end: number): boolean {
  const n = last.length;
  if (n !== end - start) return false;
  if (n > 64) return last.compare(buf, start, end) === 0;
  for (let i = 0; i < n; i++) if (last[i] !== buf[start + i]) return false;
  return true;
}

function decodeValue(value: Buffer | null, format: number): string | null {
  if (value === null) return null;
  return decodeRange(value, 0, value.length, format);
}

/** A recorded value from `buf[start, start + length)`, cut at MAX_RECORDED_VALUE_BYTES. */
function decodeRange(buf: Buffer, start: number, length: number, format: number): string {
  const end = start + Math.min(length, MAX_RECORDED_VALUE_BYTES);
  return format === 1 ? `base64:${buf.toString("base64", start, end)}` : buf.toString("utf8", start, end);
}

function malformedRow(detail: string): never {
  throw new ProtocolError("malformed_message", `malformed DataRow message: ${detail}`);
}

/** Decodes the DataRow body `buf[start, end)` into recorded values (checked like DataRowReader). */
function decodeRow(buf: Buffer, start: number, end: number, formats: number[]): Row {
  if (end - start < 2) malformedRow("truncated int16");
  const n = buf.readInt16BE(start);
  if (n < 0 || n * 4 > end - start - 2) malformedRow(`count ${n} does not fit in the message`);
  const values: Row = new Array(n);
  let pos = start + 2;
  for (let i = 0; i < n; i++) {
    if (end - pos < 4) malformedRow("truncated int32");
    const len = buf.readInt32BE(pos);
    pos += 4;
    if (len === -1) {
      values[i] = null;
      continue;
    }
    if (len < 0) malformedRow(`column ${i} has length ${len}`);
    if (end - pos < len) malformedRow("truncated bytes");
    values[i] = decodeRange(buf, pos, len, formatAt(formats, i));
    pos += len;
  }
  if (pos !== end) malformedRow(`${end - pos} unexpected trailing bytes`);
  return values;
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
 * are capped at `rowsLimit`; rows beyond it are counted, not decoded. `commit()` hands the
 * events recorded since the last one to the recorder's storage, before the relay forwards
 * the frames that completed them.
 */
export class StatementTracker {
  /** Events were recorded since the last commit. */
  private uncommitted = false;
  /** Statements waiting for their results, oldest first; created on the first one. */
  private queue: Pending[] | undefined = undefined;
  private statements: Map<string, string> | undefined;
  private portals: Map<string, Portal> | undefined;
  // Clients repeat the same result shape; the last RowDescription is decoded once.
  private lastDescription: Buffer | undefined;
  private lastColumns: RecordedColumn[] = NO_COLUMNS;
  private lastFormats: number[] = NO_FORMATS;
  // ...and the same command tag ("SELECT 1") is decoded once.
  private lastTagBytes: Buffer | undefined;
  private lastTag = "";

  constructor(
    private readonly recorder: PgSessionRecorder,
    private readonly rowsLimit: number,
    private readonly now: () => number = defaultNow,
  ) {}

  onQuery(buf: Buffer, start = 0, end = buf.length): void {
    const text = wholeCString(buf, start, end, "Query");
    this.pending("query", NO_FORMATS);
    this.uncommitted = true;
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
    this.uncommitted = true;
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

  onRowDescription(buf: Buffer, start = 0, end = buf.length): void {
    const p = this.head();
    if (!p) return;
    this.describe(buf, start, end);
    p.columns = this.lastColumns;
    p.formats = this.lastFormats;
  }

  /** Whether the next DataRow is recorded (false: it is only counted, and need not be decoded). */
  wantsRow(): boolean {
    const p = this.head();
    return p !== undefined && p.rows.length < this.rowsLimit;
  }

  /** A DataRow that went by without being read (see `wantsRow`). */
  onRowPassed(): void {
    const p = this.head();
    if (!p) return;
    p.rowCount++;
    if (p.rows.length >= this.rowsLimit) p.truncated = true;
  }

  onDataRow(buf: Buffer, start: number, end: number): void {
    const p = this.head();
    if (!p) return;
    p.rowCount++;
    if (p.rows.length >= this.rowsLimit) {
      p.truncated = true;
      return;
    }
    const values = decodeRow(buf, start, end, p.formats);
    if (p.rows === NO_ROWS) p.rows = [values];
    else p.rows.push(values);
  }

  onCommandComplete(buf: Buffer, start = 0, end = buf.length): void {
    this.complete(this.commandTag(buf, start, end));
  }

  /** The tag of a CommandComplete body; the previous tag's text when the bytes repeat. */
  private commandTag(buf: Buffer, start: number, end: number): string {
    const last = this.lastTagBytes;
    if (last !== undefined && sameBytes(last, buf, start, end)) return this.lastTag;
    const tag = wholeCString(buf, start, end, "CommandComplete");
    if (end - start <= MAX_CACHED_TAG) {
      this.lastTagBytes = Buffer.from(buf.subarray(start, end));
      this.lastTag = tag;
    }
    return tag;
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
    this.uncommitted = true;
    this.recorder.notice?.({ ...(f.C ? { code: f.C } : {}), message: f.M ?? "" });
  }

  /**
   * Makes the events recorded since the last call survive the agent's death (one write to
   * the kernel for all of them; nothing to do when none were). Throws when the recorder
   * cannot write them; they are then still uncommitted.
   */
  commit(): void {
    if (!this.uncommitted) return;
    this.recorder.commit?.();
    this.uncommitted = false;
  }

  /** ReadyForQuery ends the current simple Query or Sync; Executes skipped after an error get an error result. */
  onReady(): void {
    const queue = this.queue;
    if (queue === undefined) return;
    while (queue.length > 0) {
      const p = queue.shift()!;
      if (p.kind === "sync" || p.kind === "query") return;
      this.emit(p, undefined, { ...SKIPPED });
    }
  }

  private pending(kind: Pending["kind"], formats: number[]): void {
    this.queue ??= [];
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
    const h = this.queue?.[0];
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
    this.uncommitted = true;
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
    if (p.kind === "execute") this.queue!.shift();
  }

  private describe(buf: Buffer, start: number, end: number): void {
    const last = this.lastDescription;
    if (last !== undefined && sameBytes(last, buf, start, end)) return;
    const body = buf.subarray(start, end);
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
