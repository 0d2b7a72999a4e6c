import type { ColumnDefinition } from "./column-definition";
import {
  type ClientCommand,
  decodeExecuteParams,
  type PrepareOk,
  serializeProcessKill,
  serializeQuery,
} from "./commands";
import { Command, commandName } from "./constants";
import type { ErrPacket } from "./generic-packets";
import { isKillStatement, parseKillStatement } from "./kill-statement";
import type { TrackedStatement } from "./proxy-engine";
import type {
  CommandContext,
  CommandSummary,
  KillDecision,
  KillRequest,
  MysqlProxyHooks,
  MysqlProxyLimits,
  ProxyEndReason,
  ProxyStats,
  ResultMasker,
  Verdict,
} from "./proxy-hooks";
import type { ResponseShape, ResponseTracker } from "./response-tracker";

/** One command from arrival to its last response packet. */
export interface InFlight {
  command: ClientCommand;
  payload: Buffer;
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
  sendUpstream(payload: Buffer): void;
  denyToClient(err: ErrPacket): void;
  finish(): void;
  end(reason: ProxyEndReason, detail?: string): void;
  isEnded(): boolean;
}

export type CommandRouter = ReturnType<typeof createCommandRouter>;

type Decision = { forward: Buffer; shape: ResponseShape | "none" } | { deny: ErrPacket };

const MAX_STATEMENTS = 65_536;
const MAX_LONG_DATA_PARAMS = 65_535;

const deniedErr = (v: Extract<Verdict, { action: "deny" }>): ErrPacket => ({
  errorCode: v.errorCode ?? 1142,
  sqlState: v.sqlState ?? "42000",
  message: v.message.slice(0, 1024),
});

const refuse = (message: string, errorCode = 1047, sqlState = "08S01"): { deny: ErrPacket } => ({
  deny: { errorCode, sqlState, message },
});

/** Decides, per client command, what reaches the server; keeps the prepared statements. */
export function createCommandRouter(d: RouterDeps) {
  const statements = new Map<number, TrackedStatement>();
  let commandNumber = 0;
  const holdTimeout = d.limits.holdTimeoutMs ?? 15 * 60 * 1000;

  async function settle<T>(value: T | Promise<T>, cur: InFlight, onTimeout: T): Promise<T> {
    if (!(value instanceof Promise)) return value;
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        value,
        new Promise<T>((resolve) => {
          timer = setTimeout(() => resolve(onTimeout), holdTimeout);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      cur.summary.heldMs += Date.now() - started;
    }
  }

  async function verdict(cur: InFlight, fn: () => Verdict | Promise<Verdict> | undefined): Promise<Verdict> {
    try {
      const v = fn();
      if (v === undefined) return { action: "allow" };
      return await settle(v, cur, { action: "deny", message: "The review of this statement timed out" });
    } catch {
      return { action: "deny", message: "Sluice could not evaluate this statement" };
    }
  }

  async function kill(cur: InFlight, req: KillRequest): Promise<KillDecision> {
    if (!d.hooks.onKill) {
      if (req.connectionId === d.connectionId)
        return { action: "allow", upstreamThreadId: d.upstreamThreadId };
      return {
        action: "deny",
        message: `Unknown thread id: ${req.connectionId}`,
        errorCode: 1094,
        sqlState: "HY000",
      };
    }
    try {
      return await settle(d.hooks.onKill(req, cur.ctx), cur, { action: "deny", message: "KILL timed out" });
    } catch {
      return {
        action: "deny",
        message: "Sluice could not map this KILL",
        errorCode: 1094,
        sqlState: "HY000",
      };
    }
  }

  async function decideQuery(cur: InFlight, sql: string): Promise<Decision> {
    const v = await verdict(cur, () => d.hooks.onQuery?.(sql, cur.ctx));
    if (v.action === "deny") return { deny: deniedErr(v) };
    const k = parseKillStatement(sql);
    if (k) {
      const m = await kill(cur, { kind: k.kind, connectionId: k.connectionId, via: "statement" });
      if (m.action === "deny") return { deny: deniedErr(m) };
      return { forward: serializeQuery(k.withId(m.upstreamThreadId)), shape: "result" };
    }
    if (/(?:^|;)\s*KILL\s/i.test(sql) || isKillStatement(sql)) {
      return refuse("This form of KILL is not supported through Sluice", 1142, "42000");
    }
    return { forward: cur.payload, shape: "result" };
  }

  async function decideExecute(
    cur: InFlight,
    c: Extract<ClientCommand, { kind: "stmt_execute" }>,
  ): Promise<Decision> {
    const stmt = statements.get(c.statementId);
    if (!stmt)
      return refuse(
        `Unknown prepared statement handler (${c.statementId}) given to mysqld_stmt_execute`,
        1243,
        "HY000",
      );
    let decoded: ReturnType<typeof decodeExecuteParams>;
    try {
      decoded = decodeExecuteParams(cur.payload, stmt.paramCount, stmt.types, stmt.longData);
    } catch {
      return refuse("Malformed COM_STMT_EXECUTE packet", 1835, "HY000");
    }
    stmt.types = decoded.types;
    cur.stmt = stmt;
    cur.sql = stmt.sql;
    cur.summary.sql = stmt.sql;
    const info = {
      statementId: stmt.statementId,
      sql: stmt.sql,
      paramCount: stmt.paramCount,
      columnCount: stmt.columnCount,
    };
    const v = await verdict(cur, () => d.hooks.onExecute?.(info, decoded.params, cur.ctx));
    if (v.action === "deny") return { deny: deniedErr(v) };
    stmt.longData.clear();
    return { forward: cur.payload, shape: "result" };
  }

  async function decide(cur: InFlight): Promise<Decision> {
    const c = cur.command;
    const plain = async (shape: ResponseShape | "none"): Promise<Decision> => {
      const v = await verdict(cur, () => d.hooks.onCommand?.(c, cur.ctx));
      return v.action === "deny" ? { deny: deniedErr(v) } : { forward: cur.payload, shape };
    };
    switch (c.kind) {
      case "query":
        return decideQuery(cur, c.sql);
      case "stmt_prepare": {
        if (isKillStatement(c.sql)) return refuse("KILL cannot be prepared through Sluice", 1142, "42000");
        const v = await verdict(cur, () => d.hooks.onPrepare?.(c.sql, cur.ctx));
        return v.action === "deny" ? { deny: deniedErr(v) } : { forward: cur.payload, shape: "prepare" };
      }
      case "stmt_execute":
        return decideExecute(cur, c);
      case "stmt_fetch": {
        const stmt = statements.get(c.statementId);
        cur.stmt = stmt;
        cur.sql = stmt?.sql ?? "";
        return { forward: cur.payload, shape: "rows" };
      }
      case "stmt_close":
        statements.delete(c.statementId);
        return { forward: cur.payload, shape: "none" };
      case "stmt_send_long_data": {
        const stmt = statements.get(c.statementId);
        if (stmt && c.paramId < MAX_LONG_DATA_PARAMS) stmt.longData.add(c.paramId);
        return { forward: cur.payload, shape: "none" };
      }
      case "stmt_reset":
        statements.get(c.statementId)?.longData.clear();
        return plain("single");
      case "process_kill": {
        const m = await kill(cur, { kind: "connection", connectionId: c.connectionId, via: "command" });
        if (m.action === "deny") return { deny: deniedErr(m) };
        return { forward: serializeProcessKill(m.upstreamThreadId), shape: "single" };
      }
      case "change_user":
        return refuse(
          "COM_CHANGE_USER is not allowed through Sluice: the session's identity is fixed",
          1227,
          "42000",
        );
      case "field_list":
        return plain("fields");
      case "reset_connection":
      case "ping":
      case "init_db":
      case "statistics":
      case "set_option":
        return plain("single");
      case "quit":
        return { forward: cur.payload, shape: "none" };
      default:
        if (c.kind === "other" && c.code === Command.REFRESH) return plain("single");
        return refuse(
          `Command ${commandName(c.kind === "other" ? c.code : 0)} is not supported through Sluice`,
        );
    }
  }

  return {
    begin(command: ClientCommand, payload: Buffer): InFlight {
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

    async run(cur: InFlight, tracker: ResponseTracker): Promise<void> {
      let decision: Decision;
      try {
        decision = await decide(cur);
      } catch {
        decision = refuse("Sluice could not evaluate this command", 1142, "42000");
      }
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
      if (decision.shape === "none") {
        cur.noResponse = true;
        d.sendUpstream(decision.forward);
        d.finish();
        if (cur.command.kind === "quit") d.end("client_quit");
        return;
      }
      tracker.start(decision.shape, decision.shape === "rows" ? (cur.stmt?.columns ?? []) : []);
      if (decision.shape === "rows") cur.rowsReady = false;
      d.sendUpstream(decision.forward);
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
