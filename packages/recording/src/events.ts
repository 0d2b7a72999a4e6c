/** An event ready for `spool.append(sessionId, event.kind, event.payload)`. */
export interface RecordingEvent<K extends string = string, P = unknown> {
  kind: K;
  payload: P;
}

export interface SessionIdentity {
  userId: string;
  email?: string;
}

export interface SessionStartPayload {
  connection: string;
  database?: string;
  user: string;
  clientAddress: string;
  identity: SessionIdentity;
}

export interface PgStatementPayload {
  text: string;
  params?: (string | null)[];
  statementName?: string;
}

export interface PgColumn {
  name: string;
  typeOid?: number;
}

export interface PgError {
  code: string;
  message: string;
}

export interface PgResultPayload {
  columns?: PgColumn[];
  /** Already masked by policy; at most the connection's row limit. */
  rows: (string | null)[][];
  rowCount: number;
  /** True when `rows` holds fewer rows than the statement returned. */
  truncated: boolean;
  command: string;
  durationMs: number;
  error?: PgError;
}

export interface PgNoticePayload {
  severity: string;
  code?: string;
  message: string;
}

export interface SessionEndPayload {
  reason: string;
  bytesIn: number;
  bytesOut: number;
}

export interface TcpStatsPayload {
  bytesIn: number;
  bytesOut: number;
}

export interface GapPayload {
  fromSeq: number;
  toSeq: number;
  reason: string;
}

export interface EventPayloads {
  "session.start": SessionStartPayload;
  "pg.statement": PgStatementPayload;
  "pg.result": PgResultPayload;
  "pg.notice": PgNoticePayload;
  "session.end": SessionEndPayload;
  "tcp.stats": TcpStatsPayload;
  gap: GapPayload;
}

export type EventKind = keyof EventPayloads;

export type KnownEvent = { [K in EventKind]: RecordingEvent<K, EventPayloads[K]> }[EventKind];

function event<K extends EventKind>(kind: K, payload: EventPayloads[K]): RecordingEvent<K, EventPayloads[K]> {
  return { kind, payload };
}

export const sessionStart = (p: SessionStartPayload) => event("session.start", p);
export const pgStatement = (p: PgStatementPayload) => event("pg.statement", p);
export const pgNotice = (p: PgNoticePayload) => event("pg.notice", p);
export const sessionEnd = (p: SessionEndPayload) => event("session.end", p);
export const tcpStats = (p: TcpStatsPayload) => event("tcp.stats", p);
export const gap = (p: GapPayload) => event("gap", p);

/** Keeps at most `maxRows` rows and marks the result truncated when rows were cut. */
export function pgResult(
  p: Omit<PgResultPayload, "truncated"> & { truncated?: boolean; maxRows: number },
): RecordingEvent<"pg.result", PgResultPayload> {
  const { maxRows, truncated = false, rows, ...rest } = p;
  const limit = Math.max(0, maxRows);
  return event("pg.result", {
    ...rest,
    rows: rows.length > limit ? rows.slice(0, limit) : rows,
    truncated: truncated || rows.length > limit,
  });
}

/** Parses a stored event's payload, returning undefined when it is not a JSON object. */
export function parsePayload(payloadJson: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(payloadJson);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
