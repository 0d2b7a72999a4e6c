import { EncodedPayload } from "@sluice/recording";
import type { PgRecordedResult, PgSessionRecorder } from "../postgres";
import type { EventSink } from "./event-sink";

export interface PgRecorderContext {
  sessionId: string;
  connection: string;
  identity: { id: string; name: string; kind: string };
  via: "grant" | "credential" | "tunnel";
}

type StatementEvent = Parameters<PgSessionRecorder["statement"]>[0];
type Columns = NonNullable<PgRecordedResult["columns"]>;

const str = JSON.stringify;

/** `pg.statement` payload JSON, as `JSON.stringify(ev)` would write it. */
export function statementJson(ev: StatementEvent): string {
  // `kind` is one of two fixed words; only the text needs escaping.
  let json = `{"kind":"${ev.kind}","text":${str(ev.text)}`;
  if (ev.params !== undefined) json += `,"params":${str(ev.params)}`;
  if (ev.statementName !== undefined) json += `,"statementName":${str(ev.statementName)}`;
  return `${json}}`;
}

/**
 * `pg.result` payload JSON, as `JSON.stringify(ev)` would write it; `columns` is encoded
 * by the caller, and so may `command` be (the same tag comes back statement after statement).
 */
export function resultJson(
  ev: PgRecordedResult,
  columns: string | undefined,
  command: string | undefined = ev.command === undefined ? undefined : str(ev.command),
): string {
  let json = columns === undefined ? "{" : `{"columns":${columns},`;
  json += `"rows":${str(ev.rows)},"rowCount":${num(ev.rowCount)},"truncated":${ev.truncated},"durationMs":${millis(ev.durationMs)}`;
  if (command !== undefined) json += `,"command":${command}`;
  if (ev.error !== undefined) json += `,"error":${str(ev.error)}`;
  return `${json}}`;
}

function num(n: number): string {
  return Number.isFinite(n) ? String(n) : "null";
}

/**
 * A duration in ms with at most 3 decimals, written from integer microseconds (small
 * integers convert to text much faster than doubles); parses to the same number as
 * `JSON.stringify` of the rounded value.
 */
export function millis(ms: number): string {
  const us = Math.round(ms * 1000);
  if (us < 0 || us > 0x3fffffff || us / 1000 !== ms) return num(ms);
  const whole = Math.floor(us / 1000);
  let frac = us - whole * 1000;
  if (frac === 0) return String(whole);
  let digits = 3;
  while (frac % 10 === 0) {
    frac /= 10;
    digits--;
  }
  const f = String(frac);
  return `${whole}.${f.length < digits ? "0".repeat(digits - f.length) + f : f}`;
}

/**
 * Writes one Postgres session's events to the spool (masked values only: the policy
 * gate rewrites DataRows before the tracker sees them). Statement and result payloads
 * are encoded here, with the result columns encoded once per distinct column list.
 */
class PgRecorder implements PgSessionRecorder {
  private columns: Columns | undefined;
  private columnsJson = "";
  private command: string | undefined;
  private commandJson = "";

  constructor(
    private readonly sink: EventSink,
    private readonly ctx: PgRecorderContext,
  ) {}

  sessionStart(info: Parameters<PgSessionRecorder["sessionStart"]>[0]): void {
    const ctx = this.ctx;
    this.sink.append(ctx.sessionId, "session.start", {
      connection: ctx.connection,
      protocol: "postgres",
      identity: ctx.identity,
      via: ctx.via,
      database: info.database,
      user: info.user,
      clientAddress: info.remoteAddress,
      applicationName: info.applicationName ?? null,
    });
  }

  statement(ev: StatementEvent): void {
    this.sink.append(this.ctx.sessionId, "pg.statement", new EncodedPayload(statementJson(ev)));
  }

  result(ev: PgRecordedResult): void {
    const columns = ev.columns;
    if (columns !== undefined && columns !== this.columns) {
      this.columns = columns;
      this.columnsJson = str(columns);
    }
    const command = ev.command;
    if (command !== undefined && command !== this.command) {
      this.command = command;
      this.commandJson = str(command);
    }
    const json = resultJson(
      ev,
      columns === undefined ? undefined : this.columnsJson,
      command === undefined ? undefined : this.commandJson,
    );
    this.sink.append(this.ctx.sessionId, "pg.result", new EncodedPayload(json));
  }

  notice(ev: { code?: string; message: string }): void {
    this.sink.append(this.ctx.sessionId, "pg.notice", ev);
  }

  sessionEnd(ev: { reason: string; bytesIn: number; bytesOut: number }): void {
    this.sink.append(this.ctx.sessionId, "session.end", ev);
    this.sink.endSession(this.ctx.sessionId);
  }
}

export function createPgRecorder(sink: EventSink, ctx: PgRecorderContext): PgSessionRecorder {
  return new PgRecorder(sink, ctx);
}
