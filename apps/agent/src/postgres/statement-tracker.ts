import {
  DataRowReader,
  type FieldDescription,
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
import type { PgSessionRecorder } from "./pg-proxy-types";

/** Longest value (parameter or column) kept in the recording; longer ones are cut. */
export const MAX_RECORDED_VALUE_BYTES = 64 * 1024;
/** Prepared statements/portals remembered per session (the oldest are forgotten first). */
const MAX_NAMED = 10_000;

interface Pending {
  kind: "query" | "execute" | "sync";
  startedAt: number;
  columns?: FieldDescription[];
  formats: number[];
  rows: (string | null)[][];
  rowCount: number;
  truncated: boolean;
}

interface Portal {
  statement: string;
  params: (string | null)[];
  resultFormats: number[];
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

/**
 * Turns the decoded frames of both directions into recorder events. Statements are
 * matched to results in FIFO order: a simple Query stays current until ReadyForQuery
 * (one result per statement in it), an Execute completes at its CommandComplete,
 * ErrorResponse, EmptyQueryResponse or PortalSuspended. Recorded rows per statement
 * are capped at `rowsLimit`; rows beyond it are counted, not decoded.
 */
export function createStatementTracker(
  recorder: PgSessionRecorder,
  rowsLimit: number,
  now = () => performance.now(),
) {
  const queue: Pending[] = [];
  const statements = new Map<string, string>();
  const portals = new Map<string, Portal>();
  const row = new DataRowReader();

  const pending = (kind: Pending["kind"], formats: number[] = []): Pending => {
    const p: Pending = { kind, startedAt: now(), formats, rows: [], rowCount: 0, truncated: false };
    queue.push(p);
    return p;
  };
  const head = (): Pending | undefined => {
    const h = queue[0];
    return h && h.kind !== "sync" ? h : undefined;
  };

  function emit(p: Pending, fields: { command?: string; error?: { code: string; message: string } }): void {
    const t = now();
    const tagCount = fields.command ? /\s(\d+)$/.exec(fields.command)?.[1] : undefined;
    recorder.result({
      ...(p.columns ? { columns: p.columns.map((c) => ({ name: c.name, typeOid: c.typeOid })) } : {}),
      rows: p.rows,
      rowCount: tagCount !== undefined ? Number(tagCount) : p.rowCount,
      truncated: p.truncated,
      durationMs: Math.round((t - p.startedAt) * 1000) / 1000,
      ...fields,
    });
    Object.assign(p, { startedAt: t, rows: [], rowCount: 0, truncated: false, columns: undefined });
  }

  function complete(fields: { command?: string; error?: { code: string; message: string } }): void {
    const p = head();
    if (!p) return;
    emit(p, fields);
    if (p.kind === "execute") queue.shift();
  }

  return {
    onQuery(body: Buffer): void {
      const text = parseQuery(body);
      pending("query");
      recorder.statement({ kind: "query", text });
    },
    onParse(body: Buffer): void {
      const m = parseParse(body);
      remember(statements, m.name, m.text);
    },
    onBind(body: Buffer): void {
      const m = parseBind(body);
      const params = m.values.map((v, i) => decodeValue(v, formatAt(m.paramFormats, i)));
      remember(portals, m.portal, { statement: m.statement, params, resultFormats: m.resultFormats });
    },
    onExecute(body: Buffer): void {
      const { portal: name } = parseExecute(body);
      const portal = portals.get(name);
      const statementName = portal?.statement ?? "";
      pending("execute", portal?.resultFormats);
      recorder.statement({
        kind: "execute",
        text: statements.get(statementName) ?? "",
        params: portal?.params ?? [],
        ...(statementName ? { statementName } : {}),
      });
    },
    onClose(body: Buffer): void {
      const m = parseClose(body);
      (m.target === "S" ? statements : portals).delete(m.name);
    },
    onSync(): void {
      pending("sync");
    },
    onRowDescription(body: Buffer): void {
      const p = head();
      if (!p) return;
      p.columns = parseRowDescription(body);
      p.formats = p.columns.map((c) => c.format);
    },
    onDataRow(buf: Buffer, start: number, end: number): void {
      const p = head();
      if (!p) return;
      p.rowCount++;
      if (p.rows.length >= rowsLimit) {
        p.truncated = true;
        return;
      }
      row.reset(buf, start, end);
      const values: (string | null)[] = new Array(row.columnCount);
      for (let i = 0; i < row.columnCount; i++) values[i] = decodeValue(row.bytes(i), formatAt(p.formats, i));
      p.rows.push(values);
    },
    onCommandComplete(body: Buffer): void {
      complete({ command: parseCommandComplete(body) });
    },
    onEmptyQuery(): void {
      complete({ command: "" });
    },
    onPortalSuspended(): void {
      complete({ command: "SUSPENDED" });
    },
    onError(body: Buffer): void {
      const f = parseNoticeFields(body);
      complete({ error: { code: f.C ?? "", message: f.M ?? "" } });
    },
    onNotice(body: Buffer): void {
      const f = parseNoticeFields(body);
      recorder.notice?.({ ...(f.C ? { code: f.C } : {}), message: f.M ?? "" });
    },
    /** ReadyForQuery ends the current simple Query or Sync; Executes skipped after an error get an error result. */
    onReady(): void {
      while (queue.length > 0) {
        const p = queue.shift()!;
        if (p.kind === "sync" || p.kind === "query") return;
        emit(p, { error: { code: "", message: "not executed: an earlier message in the pipeline failed" } });
      }
    },
  };
}

export type StatementTracker = ReturnType<typeof createStatementTracker>;
