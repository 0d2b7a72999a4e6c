import type { ColumnDefinition } from "./column-definition";
import type { ClientCommand, ExecuteParam } from "./commands";
import type { ErrPacket } from "./generic-packets";

/** Allow a command, or refuse it with an ERR packet the client shows. */
export type Verdict =
  | { action: "allow" }
  | {
      action: "deny";
      /** Shown to the client; name the rule, never a secret. */
      message: string;
      /** Default 1142 (ER_TABLEACCESS_DENIED_ERROR-like "command denied"). */
      errorCode?: number;
      /** Default "42000". */
      sqlState?: string;
    };

/** A verdict now, or later: while the promise is pending the command is held and the client waits. */
export type VerdictResult = Verdict | Promise<Verdict>;

export interface CommandContext {
  /** Agent-chosen connection id the client sees. */
  connectionId: number;
  upstreamThreadId: number;
  /** 1 for the first command of the session. */
  commandNumber: number;
}

export interface PreparedStatementInfo {
  statementId: number;
  sql: string;
  paramCount: number;
  columnCount: number;
}

/** A KILL of another (or this) session, from `KILL [QUERY|CONNECTION] <id>` or COM_PROCESS_KILL. */
export interface KillRequest {
  kind: "query" | "connection";
  /** The id the client named: an agent-chosen connection id. */
  connectionId: number;
  via: "statement" | "command";
}

/** Kill the given upstream thread instead, or refuse. */
export type KillDecision =
  | { action: "allow"; upstreamThreadId: number }
  | Extract<Verdict, { action: "deny" }>;

/**
 * Rewrites one non-NULL cell. Receives the value in its text-protocol form (for binary
 * results the engine converts numbers and dates to the text the server would have sent),
 * returns the replacement (a string is UTF-8 encoded) or null. Returning equal bytes keeps
 * the cell. In binary results a replacement that does not fit the column type becomes NULL.
 */
export type CellMasker = (value: Buffer, column: ColumnDefinition) => Buffer | string | null;

/** Per column index (0-based) of a result set, the masker of that column. */
export type ResultMasker = ReadonlyMap<number, CellMasker>;

export interface ResultContext extends CommandContext {
  command: "COM_QUERY" | "COM_STMT_EXECUTE" | "COM_STMT_FETCH";
  sql: string;
  /** 0 for the first result set of the command. */
  resultIndex: number;
  binary: boolean;
}

export interface CommandSummary {
  commandNumber: number;
  /** e.g. "COM_QUERY". */
  command: string;
  sql?: string;
  statementId?: number;
  /** "denied" when a hook refused it (it never reached the server). */
  outcome: "ok" | "error" | "denied";
  /** ERR sent to the client (after `maskError`), for "error" and "denied". */
  error?: ErrPacket;
  resultSets: number;
  rows: number;
  affectedRows: bigint;
  lastInsertId: bigint;
  warnings: number;
  maskedCells: number;
  bytesToClient: number;
  /** From receiving the command to its last response packet, hold time included. */
  durationMs: number;
  /** Time spent waiting for a held verdict. */
  heldMs: number;
}

/**
 * The agent's view of the command phase. Every hook is optional; a missing verdict hook
 * allows. Hooks must not throw: a throwing verdict hook denies the command, a throwing
 * masker makes the cell NULL, a throwing `maskError` replaces the message with a generic one.
 */
export interface MysqlProxyHooks {
  /** COM_QUERY (SQL text as sent, possibly several statements with CLIENT_MULTI_STATEMENTS). */
  onQuery?(sql: string, ctx: CommandContext): VerdictResult;
  /** COM_STMT_PREPARE. */
  onPrepare?(sql: string, ctx: CommandContext): VerdictResult;
  /** COM_STMT_EXECUTE, with the statement's SQL and decoded parameters. */
  onExecute?(stmt: PreparedStatementInfo, params: ExecuteParam[], ctx: CommandContext): VerdictResult;
  /** Every other command the engine relays (COM_INIT_DB, COM_PING, COM_RESET_CONNECTION, COM_FIELD_LIST...). */
  onCommand?(command: ClientCommand, ctx: CommandContext): VerdictResult;
  /**
   * Maps a KILL to the upstream thread to kill. Without this hook only the session's own
   * connection id is mapped (to its own upstream thread); other ids are refused.
   */
  onKill?(request: KillRequest, ctx: CommandContext): KillDecision | Promise<KillDecision>;
  /** Called once per result set when its column definitions are complete; undefined passes rows unchanged. */
  maskerFor?(columns: readonly ColumnDefinition[], ctx: ResultContext): ResultMasker | undefined;
  /**
   * Sees each row exactly as the client receives it (after masking), e.g. to record it.
   * `binary` tells the row encoding (COM_STMT_EXECUTE results). Must not throw; it is called
   * before the row is written to the client.
   */
  onRow?(payload: Buffer, columns: readonly ColumnDefinition[], binary: boolean): void;
  /** Rewrites an ERR from the server before the client sees it (e.g. a duplicate-key message quoting a value). */
  maskError?(err: ErrPacket, ctx: CommandContext): ErrPacket | undefined;
  /** LOAD DATA LOCAL INFILE request from the server (only when `allowLocalInfile`); false refuses. */
  onLocalInfile?(fileName: string, ctx: CommandContext): boolean;
  /**
   * Called when each command's response is complete (or it was denied), before the packet
   * that completes it is written to the client: a hook that must make the result durable
   * first can do so here, and stop the session (`MysqlProxy.stop`) to withhold it.
   */
  onCommandEnd?(summary: CommandSummary): void;
}

export interface MysqlProxyLimits {
  /** Bound of one joined packet payload in either direction; default 64 MiB. */
  maxPayload?: number;
  /** Pause the upstream socket while more than this is queued toward the client; default 1 MiB. */
  clientHighWaterMark?: number;
  /** Pause the client socket while more than this is queued toward upstream; default 1 MiB. */
  upstreamHighWaterMark?: number;
  /** Relay LOAD DATA LOCAL INFILE (both handshakes must also have allowed it). Default false. */
  allowLocalInfile?: boolean;
  /** A held verdict not settled in time denies the command. Default 15 min. */
  holdTimeoutMs?: number;
}

export type ProxyEndReason =
  | "client_quit"
  | "client_closed"
  | "upstream_closed"
  | "protocol_error"
  | "stopped";

export interface ProxyStats {
  bytesFromClient: number;
  bytesToClient: number;
  bytesFromUpstream: number;
  bytesToUpstream: number;
  commands: number;
  deniedCommands: number;
}

export interface ProxyEnd {
  reason: ProxyEndReason;
  /** Problem that ended the session, if any (no secrets). */
  detail?: string;
  stats: ProxyStats;
}
