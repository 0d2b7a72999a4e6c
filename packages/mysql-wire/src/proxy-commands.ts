import type { ColumnDefinition } from "./column-definition";
import type { ClientCommand, ParamType, PrepareOk } from "./commands";
import { commandName } from "./constants";
import type { ErrPacket } from "./generic-packets";
import { createDecider, type Decision, refuse } from "./proxy-decide";
import type {
  CommandContext,
  CommandSummary,
  MysqlProxyHooks,
  MysqlProxyLimits,
  ProxyEndReason,
  ProxyStats,
  ResultMasker,
} from "./proxy-hooks";
import type { ResponseTracker } from "./response-tracker";

/** Prepared statement as the engine tracks it (ids are the server's, passed through unchanged). */
export interface TrackedStatement {
  statementId: number;
  sql: string;
  paramCount: number;
  columnCount: number;
  types: ParamType[] | undefined;
  longData: Set<number>;
  columns: ColumnDefinition[];
}

/** One command from arrival to its last response packet. */
export interface InFlight {
  command: ClientCommand;
  payload: Buffer;
  /** The command packet as received, when it came as one physical packet. */
  frame: Buffer | undefined;
  summary: CommandSummary;
  startedAt: number;
  ctx: CommandContext;
  holding: boolean;
  localInfile: boolean;
  swallowInfile: boolean;
  noResponse: boolean;
  binary: boolean;
  sql: string;
  masker: ResultMasker | undefined;
  rowsReady: boolean;
  resultIndex: number;
  stmt: TrackedStatement | undefined;
}

export interface RouterDeps {
  hooks: MysqlProxyHooks;
  limits: MysqlProxyLimits;
  connectionId: number;
  upstreamThreadId: number;
  stats: ProxyStats;
  /** `frame` is the packet as received, to relay as is when its sequence id still fits. */
  sendUpstream(payload: Buffer, frame?: Buffer): void;
  denyToClient(err: ErrPacket): void;
  finish(): void;
  end(reason: ProxyEndReason, detail?: string): void;
  isEnded(): boolean;
}

export type CommandRouter = ReturnType<typeof createCommandRouter>;

const MAX_STATEMENTS = 65_536;

/** Decides, per client command, what reaches the server; keeps the prepared statements. */
export function createCommandRouter(d: RouterDeps) {
  const statements = new Map<number, TrackedStatement>();
  let commandNumber = 0;
  const decide = createDecider({
    hooks: d.hooks,
    connectionId: d.connectionId,
    upstreamThreadId: d.upstreamThreadId,
    holdTimeoutMs: d.limits.holdTimeoutMs ?? 15 * 60 * 1000,
    statements,
  });
  const couldNotEvaluate = () => refuse("Sluice could not evaluate this command", 1142, "42000");

  function apply(cur: InFlight, decision: Decision, tracker: ResponseTracker): void {
    if (d.isEnded()) return;
    if ("deny" in decision) {
      d.stats.deniedCommands++;
      cur.summary.outcome = "denied";
      cur.summary.error = decision.deny;
      cur.holding = false;
      d.denyToClient(decision.deny);
      d.finish();
      return;
    }
    cur.holding = false;
    const frame = decision.forward === cur.payload ? cur.frame : undefined;
    if (decision.shape === "none") {
      cur.noResponse = true;
      d.sendUpstream(decision.forward, frame);
      d.finish();
      if (cur.command.kind === "quit") d.end("client_quit");
      return;
    }
    tracker.start(decision.shape, decision.shape === "rows" ? (cur.stmt?.columns ?? []) : []);
    if (decision.shape === "rows") cur.rowsReady = false;
    d.sendUpstream(decision.forward, frame);
  }

  return {
    begin(command: ClientCommand, payload: Buffer, frame?: Buffer): InFlight {
      commandNumber++;
      d.stats.commands++;
      const ctx: CommandContext = {
        connectionId: d.connectionId,
        upstreamThreadId: d.upstreamThreadId,
        commandNumber,
      };
      const sql = command.kind === "query" || command.kind === "stmt_prepare" ? command.sql : "";
      const summary: CommandSummary = {
        commandNumber,
        command: commandName(payload[0] ?? 0),
        ...(sql ? { sql } : {}),
        ...("statementId" in command ? { statementId: command.statementId } : {}),
        outcome: "ok",
        resultSets: 0,
        rows: 0,
        affectedRows: 0n,
        lastInsertId: 0n,
        warnings: 0,
        maskedCells: 0,
        bytesToClient: 0,
        durationMs: 0,
        heldMs: 0,
      };
      return {
        command,
        payload,
        frame,
        summary,
        startedAt: performance.now(),
        ctx,
        holding: true,
        localInfile: false,
        swallowInfile: false,
        noResponse: false,
        binary: command.kind === "stmt_execute" || command.kind === "stmt_fetch",
        sql,
        masker: undefined,
        rowsReady: false,
        resultIndex: 0,
        stmt: undefined,
      };
    },

    /** Decides and relays the command: at once when the verdict is, else once it settles. */
    run(cur: InFlight, tracker: ResponseTracker): void {
      let decision: ReturnType<typeof decide>;
      try {
        decision = decide(cur);
      } catch {
        decision = couldNotEvaluate();
      }
      if (decision instanceof Promise) {
        decision.then(
          (v) => apply(cur, v, tracker),
          () => apply(cur, couldNotEvaluate(), tracker),
        );
      } else apply(cur, decision, tracker);
    },

    prepared(cur: InFlight, ok: PrepareOk): void {
      if (statements.size >= MAX_STATEMENTS) return;
      statements.set(ok.statementId, {
        statementId: ok.statementId,
        sql: cur.sql,
        paramCount: ok.numParams,
        columnCount: ok.numColumns,
        types: undefined,
        longData: new Set(),
        columns: [],
      });
      cur.summary.statementId = ok.statementId;
    },

    rowsStart(cur: InFlight, columns: ColumnDefinition[]): void {
      cur.rowsReady = true;
      if (cur.stmt && cur.command.kind === "stmt_execute") cur.stmt.columns = columns;
      if (!d.hooks.maskerFor) return;
      const command =
        cur.command.kind === "query"
          ? "COM_QUERY"
          : cur.command.kind === "stmt_fetch"
            ? "COM_STMT_FETCH"
            : "COM_STMT_EXECUTE";
      try {
        cur.masker = d.hooks.maskerFor(columns, {
          ...cur.ctx,
          command,
          sql: cur.sql,
          resultIndex: cur.resultIndex,
          binary: cur.binary,
        });
      } catch {
        const nullAll = () => null;
        cur.masker = new Map(columns.map((_, i) => [i, nullAll]));
      }
    },

    maskError(err: ErrPacket): ErrPacket {
      if (!d.hooks.maskError) return err;
      try {
        return (
          d.hooks.maskError(err, {
            connectionId: d.connectionId,
            upstreamThreadId: d.upstreamThreadId,
            commandNumber,
          }) ?? err
        );
      } catch {
        return { ...err, message: "The server returned an error (message withheld by Sluice)" };
      }
    },

    allowInfile(fileName: string): boolean {
      if (!d.limits.allowLocalInfile) return false;
      try {
        return (
          d.hooks.onLocalInfile?.(fileName, {
            connectionId: d.connectionId,
            upstreamThreadId: d.upstreamThreadId,
            commandNumber,
          }) ?? true
        );
      } catch {
        return false;
      }
    },

    complete(cur: InFlight): void {
      if (cur.command.kind === "reset_connection" && cur.summary.outcome === "ok") statements.clear();
      cur.summary.durationMs = performance.now() - cur.startedAt;
      try {
        d.hooks.onCommandEnd?.(cur.summary);
      } catch {
        // a recorder failure must not break the session
      }
    },
  };
}
