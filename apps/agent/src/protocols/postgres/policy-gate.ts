import {
  BackendCode,
  backend,
  type FrameReader,
  FrontendCode,
  parseParameterStatus,
  parseParse,
  parseQuery,
  parseReadyForQuery,
  parseRowDescription,
  type TransactionStatus,
} from "@sluice/pg-wire";
import {
  type Guard,
  type GuardVerdict,
  type ResultColumn,
  RowArena,
  type RowMasker,
  type TextMasker,
} from "@sluice/policy";
import type { HeldAction, PendingReview, PolicyEvent, ReviewOutcome } from "../../core/policy-types";
import { maskMessageFrame } from "./message-masking";

/** What a session enforces. Built by the agent from the connection's policies. */
export interface SessionPolicy {
  guard: Guard;
  /** Builds the masker of one result set; undefined when no masking rule can apply to it. */
  maskerFor?: (columns: ResultColumn[]) => RowMasker | undefined;
  /** Masks server text outside DataRows (errors, notices, notifications, settings); set on masked connections. */
  textMasker?: TextMasker;
  /** Asks for human approval; calls `onPending` once the review exists, resolves with the decision. */
  requestReview(
    held: HeldAction,
    onPending: (p: PendingReview) => void,
    signal: AbortSignal,
  ): Promise<ReviewOutcome>;
  record(ev: PolicyEvent): void;
  /** Called once when the session ends (e.g. to record what masking did). */
  end?(): void;
  /** Runs before relaying starts, with a way to query the target (catalog lookups for masking). */
  prepare?(query: (sql: string) => Promise<(string | null)[][]>): Promise<void>;
}

/** What the relay does with a client frame. */
export enum GateAction {
  Forward = 0,
  Drop = 1,
  Hold = 2,
}

const DENIED = "42501";

/**
 * Enforces a session's policy inside the relay, in protocol order:
 * - a denied simple Query is not forwarded; the client gets ErrorResponse + ReadyForQuery
 *   after the responses to everything it sent before;
 * - a denied Parse is not forwarded, and the rest of its extended-protocol group is
 *   dropped up to Sync; the Sync goes upstream and the ErrorResponse is placed just
 *   before the ReadyForQuery it produces;
 * - a statement that needs review is held (the client's input is paused) until a
 *   reviewer decides; the client sees a NoticeResponse with the review id meanwhile;
 * - DataRows are masked before they reach the client or the recording; a DataRow
 *   whose result columns are unknown on a masked connection ends the session;
 * - errors, notices, notifications and reported settings are masked too (maskMessage).
 */
export class PolicyGate {
  /** ReadyForQuery frames the upstream owes for what was forwarded. */
  private owed = 0;
  /** ReadyForQuery frames seen from the upstream. */
  private seen = 0;
  private status: TransactionStatus = "I";
  /** Extended protocol: dropping the rest of a denied group until Sync. */
  private discarding: Buffer | undefined;
  /** ErrorResponses to place before the n-th ReadyForQuery (denied extended-protocol groups). */
  private before = new Map<number, Buffer[]>();
  /** ErrorResponses of denied simple Queries, each answered after the n-th ReadyForQuery. */
  private after = new Map<number, Buffer[]>();
  private masker: RowMasker | undefined;
  /** Masked DataRows of the current result set are written here; released at ReadyForQuery. */
  readonly rows = new RowArena();
  private columnsKnown = false;
  private held: { frame: Buffer; type: number; approved?: boolean } | undefined;
  private abort = new AbortController();
  /** Aborted when the client cancels the statement it is waiting on; replaced per hold. */
  private cancelled = new AbortController();
  /**
   * With standard_conforming_strings off the server reads backslashes in '…' as escapes
   * and the parser does not, so on guarded connections such text is refused.
   */
  private escapeStrings: boolean;

  constructor(
    private readonly policy: SessionPolicy,
    private readonly toClient: (frames: Buffer[]) => void,
    private readonly fail: (message: string) => void,
    options: { standardConformingStrings?: boolean } = {},
  ) {
    this.escapeStrings = options.standardConformingStrings === false;
  }

  get masking(): boolean {
    return this.policy.maskerFor !== undefined;
  }

  /** Decides on one client frame. `onReleased` is called once a held frame is decided. */
  fromClient(r: FrameReader, onReleased: () => void): GateAction {
    const type = r.type;
    if (this.discarding) {
      if (type !== FrontendCode.Sync) return GateAction.Drop;
      this.placeBefore(this.seen + this.owed + 1, this.discarding);
      this.discarding = undefined;
      this.owed++;
      return GateAction.Forward;
    }
    if (type === FrontendCode.Query) return this.gate(type, parseQuery(r.body()), r, onReleased);
    if (type === FrontendCode.Parse) return this.gate(type, parseParse(r.body()).text, r, onReleased);
    if (type === FrontendCode.Sync) this.owed++;
    else if (type === FrontendCode.FunctionCall && this.policy.guard.active) {
      const rule = "sluice.function_call";
      this.policy.record({ decision: "denied", rule, statement: "<fast-path function call>" });
      this.deny(type, { rule, message: "Sluice does not allow fast-path function calls on this connection" });
      return GateAction.Drop;
    } else if (type === FrontendCode.FunctionCall) this.owed++;
    return GateAction.Forward;
  }

  private gate(type: number, sql: string, r: FrameReader, onReleased: () => void): GateAction {
    const verdict: GuardVerdict =
      this.escapeStrings && this.policy.guard.active && sql.includes("\\")
        ? {
            action: "deny",
            rule: "sluice.escape_strings",
            message:
              "Sluice cannot check statements with backslashes while standard_conforming_strings is off on this connection",
            statement: sql,
          }
        : this.policy.guard.evaluate(sql);
    if (verdict.action === "allow") {
      if (type === FrontendCode.Query) this.owed++;
      return GateAction.Forward;
    }
    if (verdict.action === "deny") {
      this.policy.record({
        decision: "denied",
        rule: verdict.rule,
        ...(verdict.policyId ? { policyId: verdict.policyId } : {}),
        ...(verdict.policyName ? { policy: verdict.policyName } : {}),
        statement: sql,
      });
      this.deny(type, verdict);
      return GateAction.Drop;
    }
    this.held = { frame: Buffer.from(r.buf.subarray(r.start, r.end)), type };
    this.review({ kind: "sql", text: sql, verdict }, onReleased);
    return GateAction.Hold;
  }

  private review(held: HeldAction, onReleased: () => void): void {
    const v = held.verdict;
    const base = { rule: v.rule, policyId: v.policyId, policy: v.policyName, statement: held.text };
    let reviewId: string | undefined;
    const onPending = (p: PendingReview) => {
      reviewId = p.reviewId;
      this.policy.record({ decision: "held", ...base, reviewId: p.reviewId });
      this.toClient([
        backend.noticeResponse({
          S: "NOTICE",
          V: "NOTICE",
          C: "01000",
          M: `${v.message}: waiting for approval of review ${p.reviewId}`,
          D: `Statement: ${truncate(held.text, 200)}`,
          H: `A reviewer approves with: sluice reviews approve ${p.reviewId}${p.url ? ` (${p.url})` : ""}`,
        }),
      ]);
    };
    this.cancelled = new AbortController();
    const signal = AbortSignal.any([this.abort.signal, this.cancelled.signal]);
    const cancelled = this.cancelled.signal;
    void this.policy
      .requestReview(held, onPending, signal)
      .then((outcome) =>
        cancelled.aborted && !outcome.approved
          ? { ...outcome, reason: "canceling statement due to user request" }
          : outcome,
      )
      .catch(
        (err: unknown): ReviewOutcome => ({
          approved: false,
          ...(reviewId ? { reviewId } : {}),
          reason: `the review could not be completed: ${(err as Error).message}`,
        }),
      )
      .then((outcome) => {
        const h = this.held;
        if (!h || this.abort.signal.aborted) return;
        if (outcome.approved) {
          this.policy.record({ decision: "approved", ...base, reviewId: outcome.reviewId });
          h.approved = true;
          if (h.type === FrontendCode.Query) this.owed++;
        } else {
          this.policy.record({
            decision: "rejected",
            ...base,
            ...(outcome.reviewId ? { reviewId: outcome.reviewId } : {}),
            reason: outcome.reason,
          });
          h.approved = false;
          this.deny(h.type, { rule: v.rule, message: `${v.message}: ${outcome.reason}` });
        }
        onReleased();
      });
  }

  /** After a hold is decided: the frame to forward (approved) or nothing (denied). */
  release(): Buffer | undefined {
    const h = this.held;
    this.held = undefined;
    return h?.approved ? h.frame : undefined;
  }

  private deny(type: number, v: { message: string; rule: string }): void {
    const error = backend.errorResponse({
      S: "ERROR",
      V: "ERROR",
      C: DENIED,
      M: v.message,
      H: `Sluice rule: ${v.rule}`,
    });
    if (type !== FrontendCode.Query && type !== FrontendCode.FunctionCall) {
      // Extended protocol: drop the rest of the group; the error goes before its ReadyForQuery.
      this.discarding = error;
      return;
    }
    if (this.owed === 0) {
      this.toClient([error, backend.readyForQuery(this.status)]);
      return;
    }
    const at = this.seen + this.owed;
    const list = this.after.get(at) ?? [];
    list.push(error);
    this.after.set(at, list);
  }

  private placeBefore(n: number, frame: Buffer): void {
    const list = this.before.get(n) ?? [];
    list.push(frame);
    this.before.set(n, list);
  }

  /**
   * Masks the current DataRow on a masked connection: returns the offset in `rows.bytes`
   * of its masked copy (which ends at `rows.pos`), or -1 to forward it unchanged. A row
   * whose result columns are unknown ends the session.
   */
  maskDataRow(r: FrameReader): number {
    if (!this.policy.maskerFor) return -1;
    if (!this.columnsKnown) {
      this.fail("Sluice cannot tell which result columns to mask (no RowDescription); ending the session");
      return -1;
    }
    const masker = this.masker;
    return masker === undefined ? -1 : masker.maskRowInto(r.buf, r.start, r.end, this.rows);
  }

  /**
   * Inspects one upstream frame. Returns the bytes to send instead of it, or undefined
   * to forward it unchanged (DataRows: see maskDataRow, which the relay calls instead).
   */
  fromUpstream(r: FrameReader): Buffer | undefined {
    const type = r.type;
    if (type === BackendCode.DataRow) {
      const at = this.maskDataRow(r);
      return at < 0 ? undefined : this.rows.bytes.subarray(at, this.rows.pos);
    }
    if (type === BackendCode.RowDescription) {
      if (this.policy.maskerFor) {
        const cols: ResultColumn[] = parseRowDescription(r.body()).map((f) => ({
          name: f.name,
          tableOid: f.tableOid,
          typeOid: f.typeOid,
          format: f.format,
        }));
        this.masker = this.policy.maskerFor(cols);
        this.columnsKnown = true;
      }
      return undefined;
    }
    if (type === BackendCode.ParameterStatus) {
      const { name, value } = parseParameterStatus(r.body());
      if (name === "standard_conforming_strings") this.escapeStrings = value !== "on";
      return undefined;
    }
    if (type === BackendCode.BindComplete || type === BackendCode.NoData) {
      this.columnsKnown = false;
      this.masker = undefined;
      return undefined;
    }
    if (type !== BackendCode.ReadyForQuery) return undefined;
    this.status = parseReadyForQuery(r.body());
    this.seen++;
    if (this.owed > 0) this.owed--;
    this.columnsKnown = false;
    this.masker = undefined;
    this.rows.release();
    const pre = this.before.get(this.seen);
    const post = this.after.get(this.seen);
    if (!pre && !post) return undefined;
    this.before.delete(this.seen);
    this.after.delete(this.seen);
    const frame = r.buf.subarray(r.start, r.end);
    const parts: Buffer[] = [...(pre ?? []), frame];
    // A denied simple Query answers with its error and a ReadyForQuery of its own.
    for (const error of post ?? []) parts.push(error, backend.readyForQuery(this.status));
    return Buffer.concat(parts);
  }

  /**
   * On a masked connection, the masked copy of an ErrorResponse, NoticeResponse,
   * NotificationResponse or ParameterStatus frame (`buf[start]` is its type byte), or
   * undefined to forward it unchanged. Sluice's own errors and notices never pass here.
   */
  maskMessage(buf: Buffer, start: number, end: number): Buffer | undefined {
    const masker = this.policy.textMasker;
    if (masker === undefined) return undefined;
    const type = buf[start];
    if (
      type !== BackendCode.ErrorResponse &&
      type !== BackendCode.NoticeResponse &&
      type !== BackendCode.NotificationResponse &&
      type !== BackendCode.ParameterStatus
    ) {
      return undefined;
    }
    return maskMessageFrame(buf, start, end, masker);
  }

  /** The client cancelled: a held statement is withdrawn (true); otherwise the cancel goes upstream. */
  cancelHeld(): boolean {
    if (!this.held || this.held.approved !== undefined) return false;
    this.cancelled.abort();
    return true;
  }

  /** Ends any wait; called when the session ends. */
  close(): void {
    if (this.abort.signal.aborted) return;
    this.abort.abort();
    this.policy.end?.();
  }
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n)}…`;
}
