import { type ColumnDefinition, parseColumnDefinition } from "./column-definition";
import { type PrepareOk, parsePrepareOk } from "./commands";
import { Capability, ServerStatus } from "./constants";
import { ProtocolError } from "./errors";
import { type ErrPacket, endStatus, isEofPacket, type OkPacket, parseErr, parseOk } from "./generic-packets";
import { PayloadReader } from "./payload-reader";

/** What a command's response looks like. */
export type ResponseShape =
  /** COM_QUERY, COM_STMT_EXECUTE: OK, ERR, LOCAL INFILE request or result set(s). */
  | "result"
  /** COM_STMT_FETCH: rows of an open cursor, then EOF. */
  | "rows"
  /** COM_STMT_PREPARE: PREPARE_OK, param and column definitions, or ERR. */
  | "prepare"
  /** COM_FIELD_LIST: column definitions until EOF, or ERR. */
  | "fields"
  /** Every other command with a response: one packet (OK, ERR, EOF or a string). */
  | "single";

/** The meaning of one response packet, as {@link ResponseTracker.classify} found it. */
export type ResponsePacket =
  | { kind: "ok"; ok: OkPacket }
  | { kind: "err"; err: ErrPacket }
  | { kind: "local_infile"; fileName: string }
  | { kind: "column_count"; count: number }
  | { kind: "column"; column: ColumnDefinition; last: boolean }
  | { kind: "columns_eof" }
  | { kind: "row" }
  | { kind: "result_end"; status: number }
  | { kind: "prepare_ok"; prepare: PrepareOk }
  | { kind: "param" }
  | { kind: "single" };

const ROW: ResponsePacket = { kind: "row" };
const PARAM: ResponsePacket = { kind: "param" };
const SINGLE: ResponsePacket = { kind: "single" };
const COLUMNS_EOF: ResponsePacket = { kind: "columns_eof" };

type State =
  | "idle"
  | "result_start"
  | "columns"
  | "columns_eof"
  | "rows"
  | "prepare_start"
  | "params"
  | "params_eof"
  | "prepare_columns"
  | "prepare_columns_eof"
  | "fields"
  | "single";

/**
 * Follows the response to one command packet by packet: where each result set starts and
 * ends, which packets are column definitions and rows, and when the command is complete
 * (including multi-result responses chained with SERVER_MORE_RESULTS_EXISTS). Pure: it
 * sees payloads and says what they are; it writes nothing.
 */
export class ResponseTracker {
  private state: State = "idle";
  private remaining = 0;
  private prepare: PrepareOk | undefined;
  /** Column definitions of the current result set (or prepare response). */
  columns: ColumnDefinition[] = [];
  /**
   * The previous result set's columns and their packets. A result set whose column packets
   * are the same bytes gets the same (read-only) array back, so what callers derive from
   * it per result set (maskers, recorded column lists) can be kept by identity.
   */
  private lastColumns: ColumnDefinition[] = [];
  private lastRaw: Buffer[] = [];
  private raw: Buffer[] = [];
  private reusing = false;

  constructor(private readonly capabilities: number) {}

  private get deprecateEof(): boolean {
    return (this.capabilities & Capability.DEPRECATE_EOF) !== 0;
  }

  get done(): boolean {
    return this.state === "idle";
  }

  /** True while rows of a result set are arriving. */
  get inRows(): boolean {
    return this.state === "rows";
  }

  start(shape: ResponseShape, columns: ColumnDefinition[] = []): void {
    this.columns = columns;
    this.state =
      shape === "result"
        ? "result_start"
        : shape === "rows"
          ? "rows"
          : shape === "prepare"
            ? "prepare_start"
            : shape === "fields"
              ? "fields"
              : "single";
  }

  /** After a LOAD DATA LOCAL file was sent (or refused): the server's OK/ERR follows. */
  awaitInfileResult(): void {
    this.state = "result_start";
  }

  classify(payload: Buffer): ResponsePacket {
    const head = payload[0];
    if (this.state === "idle")
      throw new ProtocolError("unexpected_packet", "server sent a packet with no command pending");
    if (this.state === "single") {
      this.state = "idle";
      if (head === 0xff) return { kind: "err", err: parseErr(payload) };
      return SINGLE;
    }
    if (
      head === 0xff &&
      this.state !== "columns" &&
      this.state !== "params" &&
      this.state !== "prepare_columns"
    ) {
      this.state = "idle";
      return { kind: "err", err: parseErr(payload) };
    }
    switch (this.state) {
      case "result_start":
        return this.resultStart(payload);
      case "columns":
        return this.column(payload, "columns");
      case "columns_eof":
        return this.columnsEof(payload);
      case "rows":
        return this.row(payload);
      case "prepare_start":
        return this.prepareStart(payload);
      case "params":
      case "prepare_columns":
        return this.column(payload, this.state);
      case "params_eof":
      case "prepare_columns_eof":
        this.expectEof(payload);
        this.advancePrepare(this.state === "params_eof" ? "after_params" : "after_columns");
        return COLUMNS_EOF;
      case "fields":
        if (isEofPacket(payload, false) || (this.deprecateEof && isEofPacket(payload, true))) {
          this.state = "idle";
          return { kind: "result_end", status: endStatus(payload, this.capabilities) };
        }
        this.columns.push(parseColumnDefinition(payload));
        return { kind: "column", column: this.columns[this.columns.length - 1]!, last: false };
    }
    throw new ProtocolError("unexpected_packet", "unexpected packet in response");
  }

  private resultStart(payload: Buffer): ResponsePacket {
    const head = payload[0];
    if (head === 0x00) {
      const ok = parseOk(payload, this.capabilities);
      this.state = ok.status & ServerStatus.MORE_RESULTS_EXISTS ? "result_start" : "idle";
      return { kind: "ok", ok };
    }
    if (head === 0xfb) {
      return { kind: "local_infile", fileName: payload.subarray(1, 4097).toString("utf8") };
    }
    const r = new PayloadReader(payload);
    const count = r.lenencInt();
    if (count === 0 || !r.atEnd()) throw new ProtocolError("malformed_packet", "invalid column count packet");
    this.columns = [];
    this.raw = [];
    this.reusing = count === this.lastColumns.length;
    this.remaining = count;
    this.state = "columns";
    return { kind: "column_count", count };
  }

  private column(payload: Buffer, state: "columns" | "params" | "prepare_columns"): ResponsePacket {
    const column = state === "columns" ? this.resultColumn(payload) : parseColumnDefinition(payload);
    if (state !== "params") this.columns.push(column);
    this.remaining--;
    const last = this.remaining === 0;
    if (last && state === "columns") this.endColumns();
    if (last) {
      if (state === "columns") this.state = this.deprecateEof ? "rows" : "columns_eof";
      else if (this.deprecateEof) this.advancePrepare(state === "params" ? "after_params" : "after_columns");
      else this.state = state === "params" ? "params_eof" : "prepare_columns_eof";
    }
    return state === "params" ? PARAM : { kind: "column", column, last };
  }

  private resultColumn(payload: Buffer): ColumnDefinition {
    const i = this.columns.length;
    const prev = this.lastRaw[i];
    if (this.reusing && prev !== undefined && prev.equals(payload)) {
      this.raw.push(prev);
      return this.lastColumns[i]!;
    }
    this.reusing = false;
    this.raw.push(Buffer.from(payload));
    return parseColumnDefinition(payload);
  }

  private endColumns(): void {
    if (this.reusing) {
      this.columns = this.lastColumns;
    } else {
      this.lastColumns = this.columns;
      this.lastRaw = this.raw;
    }
    this.raw = [];
  }

  private columnsEof(payload: Buffer): ResponsePacket {
    this.expectEof(payload);
    const status = endStatus(payload, this.capabilities);
    if (status & ServerStatus.CURSOR_EXISTS) {
      this.state = "idle";
      return { kind: "result_end", status };
    }
    this.state = "rows";
    return COLUMNS_EOF;
  }

  private row(payload: Buffer): ResponsePacket {
    if (!isEofPacket(payload, this.deprecateEof)) return ROW;
    const status = endStatus(payload, this.capabilities);
    this.state = status & ServerStatus.MORE_RESULTS_EXISTS ? "result_start" : "idle";
    return { kind: "result_end", status };
  }

  private prepareStart(payload: Buffer): ResponsePacket {
    const prepare = parsePrepareOk(payload);
    this.prepare = prepare;
    this.columns = [];
    this.state = "params";
    this.remaining = prepare.numParams;
    if (prepare.numParams === 0) this.advancePrepare("after_params");
    return { kind: "prepare_ok", prepare };
  }

  private advancePrepare(step: "after_params" | "after_columns"): void {
    const p = this.prepare!;
    if (step === "after_params" && p.numColumns > 0) {
      this.state = "prepare_columns";
      this.remaining = p.numColumns;
      return;
    }
    this.state = "idle";
  }

  private expectEof(payload: Buffer): void {
    if (!isEofPacket(payload, this.deprecateEof) && !isEofPacket(payload, false)) {
      throw new ProtocolError("unexpected_packet", "expected an EOF packet after column definitions");
    }
  }
}
