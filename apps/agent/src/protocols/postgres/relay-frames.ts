import { BackendCode, type FrameSink, FrontendCode, frameTypes } from "@sluice/pg-wire";
import type { StatementTracker } from "./statement-tracker";

/** Client frames the relay reads: Terminate only, or everything the recording needs too. */
export const CLIENT_TYPES = frameTypes(FrontendCode.Terminate);
export const CLIENT_TYPES_RECORDED = frameTypes(
  FrontendCode.Terminate,
  FrontendCode.Query,
  FrontendCode.Parse,
  FrontendCode.Bind,
  FrontendCode.Execute,
  FrontendCode.Sync,
  FrontendCode.Close,
);
/** Upstream frames the relay reads: ErrorResponse only, or everything the recording needs too. */
export const UPSTREAM_TYPES = frameTypes(BackendCode.ErrorResponse);
export const UPSTREAM_TYPES_RECORDED = frameTypes(
  BackendCode.ErrorResponse,
  BackendCode.DataRow,
  BackendCode.RowDescription,
  BackendCode.CommandComplete,
  BackendCode.ReadyForQuery,
  BackendCode.EmptyQueryResponse,
  BackendCode.PortalSuspended,
  BackendCode.NoticeResponse,
);

/** What the relay learns from client frames: Terminate, and the statements for the tracker. */
export class ClientFrames implements FrameSink {
  /** The client sent Terminate. */
  terminated = false;

  constructor(private readonly tracker: StatementTracker | undefined) {}

  onFrame(type: number, buf: Buffer, start: number, end: number): void {
    if (type === FrontendCode.Terminate) {
      this.terminated = true;
      return;
    }
    const t = this.tracker;
    if (t === undefined) return;
    const body = start + 5;
    if (type === FrontendCode.Query) t.onQuery(buf, body, end);
    else if (type === FrontendCode.Parse) t.onParse(buf.subarray(body, end));
    else if (type === FrontendCode.Bind) t.onBind(buf.subarray(body, end));
    else if (type === FrontendCode.Execute) t.onExecute(buf.subarray(body, end));
    else if (type === FrontendCode.Sync) t.onSync();
    else if (type === FrontendCode.Close) t.onClose(buf.subarray(body, end));
  }

  collect(): boolean {
    return true;
  }

  onPassed(): void {}
}

/** What the relay learns from upstream frames: fatal errors, and the results for the tracker. */
export class UpstreamFrames implements FrameSink {
  /** The last ErrorResponse was FATAL or PANIC (the server is about to close). */
  fatal = false;

  constructor(private readonly tracker: StatementTracker | undefined) {}

  onFrame(type: number, buf: Buffer, start: number, end: number): void {
    const t = this.tracker;
    const body = start + 5;
    if (type === BackendCode.DataRow) {
      t?.onDataRow(buf, body, end);
      return;
    }
    if (type === BackendCode.ErrorResponse) {
      const severity = buf.toString("latin1", body, Math.min(body + 6, end));
      this.fatal = severity === "SFATAL" || severity === "SPANIC";
      t?.onError(buf.subarray(body, end));
      return;
    }
    if (t === undefined) return;
    if (type === BackendCode.RowDescription) t.onRowDescription(buf, body, end);
    else if (type === BackendCode.CommandComplete) t.onCommandComplete(buf, body, end);
    else if (type === BackendCode.ReadyForQuery) t.onReady();
    else if (type === BackendCode.EmptyQueryResponse) t.onEmptyQuery();
    else if (type === BackendCode.PortalSuspended) t.onPortalSuspended();
    else if (type === BackendCode.NoticeResponse) t.onNotice(buf.subarray(body, end));
  }

  /** A DataRow spanning chunks is copied only while the tracker still records rows. */
  collect(type: number): boolean {
    return type !== BackendCode.DataRow || this.tracker === undefined || this.tracker.wantsRow();
  }

  onPassed(type: number): void {
    if (type === BackendCode.DataRow) this.tracker?.onRowPassed();
  }
}
