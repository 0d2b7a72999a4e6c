import { EncodedPayload } from "@sluice/recording";
import type { SessionContext } from "../../core/broker";
import { millis, num } from "../../core/json-numbers";
import type { PgRecordedResult, PgSessionRecorder } from "./pg-proxy-types";

/** Where a Postgres session's events go: the session's recording, through the broker. */
export type PgRecorderSession = Pick<SessionContext, "record" | "commit" | "started" | "end">;

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

  constructor(private readonly session: PgRecorderSession) {}

  sessionStart(info: Parameters<PgSessionRecorder["sessionStart"]>[0]): void {
    this.session.started({
      database: info.database,
      user: info.user,
      applicationName: info.applicationName ?? null,
    });
  }

  statement(ev: StatementEvent): void {
    this.session.record("pg.statement", encoded(statementJson(ev)));
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
    this.session.record("pg.result", encoded(json));
  }

  notice(ev: { code?: string; message: string }): void {
    this.session.record("pg.notice", ev);
  }

  commit(): void {
    this.session.commit();
  }

  sessionEnd(ev: { reason: string; bytesIn: number; bytesOut: number }): void {
    void this.session.end(ev);
  }
}

/** A payload already encoded as JSON, appended to the spool as it is. */
function encoded(json: string): Record<string, unknown> {
  return new EncodedPayload(json) as unknown as Record<string, unknown>;
}

export function createPgRecorder(session: PgRecorderSession): PgSessionRecorder {
  return new PgRecorder(session);
}
