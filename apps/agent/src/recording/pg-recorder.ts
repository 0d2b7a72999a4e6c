import type { PgSessionRecorder } from "../postgres";
import type { EventSink } from "./event-sink";

export interface PgRecorderContext {
  sessionId: string;
  connection: string;
  identity: { id: string; name: string; kind: string };
  via: "grant" | "credential" | "tunnel";
}

/** Writes one Postgres session's events to the spool (masked values only, once masking exists). */
export function createPgRecorder(sink: EventSink, ctx: PgRecorderContext): PgSessionRecorder {
  const { sessionId } = ctx;
  return {
    sessionStart(info) {
      sink.append(sessionId, "session.start", {
        connection: ctx.connection,
        protocol: "postgres",
        identity: ctx.identity,
        via: ctx.via,
        database: info.database,
        user: info.user,
        clientAddress: info.remoteAddress,
        applicationName: info.applicationName ?? null,
      });
    },
    statement(ev) {
      sink.append(sessionId, "pg.statement", ev);
    },
    result(ev) {
      sink.append(sessionId, "pg.result", ev);
    },
    notice(ev) {
      sink.append(sessionId, "pg.notice", ev);
    },
    sessionEnd(ev) {
      sink.append(sessionId, "session.end", ev);
      sink.endSession(sessionId);
    },
  };
}
