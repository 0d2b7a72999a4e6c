import { type ClientCommand, decodeExecuteParams, serializeProcessKill, serializeQuery } from "./commands";
import { Command, commandName } from "./constants";
import type { ErrPacket } from "./generic-packets";
import { isKillStatement, parseKillStatement } from "./kill-statement";
import type { InFlight, TrackedStatement } from "./proxy-commands";
import type { KillDecision, KillRequest, MysqlProxyHooks, Verdict } from "./proxy-hooks";
import type { ResponseShape } from "./response-tracker";

/** A value now, or later. Verdicts are usually synchronous: then no promise is made at all. */
export type Maybe<T> = T | Promise<T>;

export type Decision = { forward: Buffer; shape: ResponseShape | "none" } | { deny: ErrPacket };

export interface DecideDeps {
  hooks: MysqlProxyHooks;
  connectionId: number;
  upstreamThreadId: number;
  holdTimeoutMs: number;
  statements: Map<number, TrackedStatement>;
}

const MAX_LONG_DATA_PARAMS = 65_535;
const ALLOW: Verdict = { action: "allow" };
const UNEVALUATED: Verdict = { action: "deny", message: "Sluice could not evaluate this statement" };
const REVIEW_TIMEOUT: Verdict = { action: "deny", message: "The review of this statement timed out" };

function isThenable<T>(v: Maybe<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === "function";
}

/** Applies `f` to `v` at once when `v` is a value, after it settles when it is a promise. */
export function andThen<T, R>(v: Maybe<T>, f: (t: T) => Maybe<R>): Maybe<R> {
  return isThenable(v) ? Promise.resolve(v).then(f) : f(v);
}

export const deniedErr = (v: Extract<Verdict, { action: "deny" }>): ErrPacket => ({
  errorCode: v.errorCode ?? 1142,
  sqlState: v.sqlState ?? "42000",
  message: v.message.slice(0, 1024),
});

export const refuse = (message: string, errorCode = 1047, sqlState = "08S01"): { deny: ErrPacket } => ({
  deny: { errorCode, sqlState, message },
});

/** Decides, per client command, what reaches the server (synchronously unless a hook holds it). */
export function createDecider(d: DecideDeps) {
  const { hooks, statements } = d;

  /** Waits for a held verdict, at most the hold timeout; the wait counts as held time. */
  async function settle<T>(value: Promise<T>, cur: InFlight, onTimeout: T): Promise<T> {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        Promise.resolve(value),
        new Promise<T>((resolve) => {
          timer = setTimeout(() => resolve(onTimeout), d.holdTimeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      cur.summary.heldMs += Date.now() - started;
    }
  }

  function verdict(cur: InFlight, fn: () => Verdict | Promise<Verdict> | undefined): Maybe<Verdict> {
    let v: Verdict | Promise<Verdict> | undefined;
    try {
      v = fn();
    } catch {
      return UNEVALUATED;
    }
    if (v === undefined) return ALLOW;
    if (!isThenable(v)) return v;
    return settle(v, cur, REVIEW_TIMEOUT).catch(() => UNEVALUATED);
  }

  function kill(cur: InFlight, req: KillRequest): Maybe<KillDecision> {
    const failed: KillDecision = {
      action: "deny",
      message: "Sluice could not map this KILL",
      errorCode: 1094,
      sqlState: "HY000",
    };
    if (!hooks.onKill) {
      if (req.connectionId === d.connectionId)
        return { action: "allow", upstreamThreadId: d.upstreamThreadId };
      return {
        action: "deny",
        message: `Unknown thread id: ${req.connectionId}`,
        errorCode: 1094,
        sqlState: "HY000",
      };
    }
    let m: Maybe<KillDecision>;
    try {
      m = hooks.onKill(req, cur.ctx);
    } catch {
      return failed;
    }
    if (!isThenable(m)) return m;
    return settle(m, cur, { action: "deny", message: "KILL timed out" }).catch(() => failed);
  }

  function query(cur: InFlight, sql: string): Maybe<Decision> {
    return andThen(
      verdict(cur, () => hooks.onQuery?.(sql, cur.ctx)),
      (v): Maybe<Decision> => {
        if (v.action === "deny") return { deny: deniedErr(v) };
        const k = parseKillStatement(sql);
        if (k) {
          return andThen(kill(cur, { kind: k.kind, connectionId: k.connectionId, via: "statement" }), (m) =>
            m.action === "deny"
              ? { deny: deniedErr(m) }
              : { forward: serializeQuery(k.withId(m.upstreamThreadId)), shape: "result" as const },
          );
        }
        if (/(?:^|;)\s*KILL\s/i.test(sql) || isKillStatement(sql)) {
          return refuse("This form of KILL is not supported through Sluice", 1142, "42000");
        }
        return { forward: cur.payload, shape: "result" };
      },
    );
  }

  function execute(cur: InFlight, c: Extract<ClientCommand, { kind: "stmt_execute" }>): Maybe<Decision> {
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
    return andThen(
      verdict(cur, () => hooks.onExecute?.(info, decoded.params, cur.ctx)),
      (v) => {
        if (v.action === "deny") return { deny: deniedErr(v) };
        stmt.longData.clear();
        return { forward: cur.payload, shape: "result" as const };
      },
    );
  }

  function plain(cur: InFlight, shape: ResponseShape | "none"): Maybe<Decision> {
    return andThen(
      verdict(cur, () => hooks.onCommand?.(cur.command, cur.ctx)),
      (v) => (v.action === "deny" ? { deny: deniedErr(v) } : { forward: cur.payload, shape }),
    );
  }

  return function decide(cur: InFlight): Maybe<Decision> {
    const c = cur.command;
    switch (c.kind) {
      case "query":
        return query(cur, c.sql);
      case "stmt_prepare": {
        if (isKillStatement(c.sql)) return refuse("KILL cannot be prepared through Sluice", 1142, "42000");
        return andThen(
          verdict(cur, () => hooks.onPrepare?.(c.sql, cur.ctx)),
          (v) =>
            v.action === "deny"
              ? { deny: deniedErr(v) }
              : { forward: cur.payload, shape: "prepare" as const },
        );
      }
      case "stmt_execute":
        return execute(cur, c);
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
        return plain(cur, "single");
      case "process_kill":
        return andThen(
          kill(cur, { kind: "connection", connectionId: c.connectionId, via: "command" }),
          (m) =>
            m.action === "deny"
              ? { deny: deniedErr(m) }
              : { forward: serializeProcessKill(m.upstreamThreadId), shape: "single" as const },
        );
      case "change_user":
        return refuse(
          "COM_CHANGE_USER is not allowed through Sluice: the session's identity is fixed",
          1227,
          "42000",
        );
      case "field_list":
        return plain(cur, "fields");
      case "reset_connection":
      case "ping":
      case "init_db":
      case "statistics":
      case "set_option":
        return plain(cur, "single");
      case "quit":
        return { forward: cur.payload, shape: "none" };
      default:
        if (c.kind === "other" && c.code === Command.REFRESH) return plain(cur, "single");
        return refuse(
          `Command ${commandName(c.kind === "other" ? c.code : 0)} is not supported through Sluice`,
        );
    }
  };
}
