import {
  type ClientLogin,
  type ConnectionRegistry,
  type connectUpstream,
  type KillDecision,
  type MysqlProxyHooks,
  startMysqlProxy,
  type TlsMode,
  type UpstreamSession,
  upstreamQuery,
  type Verdict,
  type VerdictResult,
} from "@sluice/mysql-wire";
import type { SessionContext } from "../../core/broker";
import { type MysqlSessionPolicy, mysqlSessionPolicy } from "./mysql-policy";
import { createMysqlRecorder } from "./mysql-recorder";

export interface MysqlSessionDeps {
  ids: ConnectionRegistry;
  owners: Map<number, string>;
  maxPayload: number;
  connect: typeof connectUpstream;
}

const UNKNOWN_THREAD = (id: number): Extract<Verdict, { action: "deny" }> => ({
  action: "deny",
  message: `Unknown thread id: ${id}`,
  errorCode: 1094,
  sqlState: "HY000",
});

const ALLOW: Verdict = { action: "allow" };

function then(v: VerdictResult, f: (v: Verdict) => void): VerdictResult {
  if (v instanceof Promise) return v.then((r) => (f(r), r));
  f(v);
  return v;
}

async function openUpstream(
  l: ClientLogin,
  ctx: SessionContext,
  deps: MysqlSessionDeps,
): Promise<UpstreamSession | undefined> {
  const conn = ctx.connection;
  const settings = conn.settings?.$case === "mysql" ? conn.settings.value : undefined;
  try {
    const cred = await ctx.credential();
    return await deps.connect({
      host: conn.host,
      port: conn.port,
      user: cred.username,
      password: cred.secret,
      ...(conn.database ? { database: conn.database } : {}),
      capabilities: l.capabilities,
      collation: l.collation,
      tls: (conn.tls?.mode || "disable") as TlsMode,
      ...(conn.tls?.caPem ? { ca: conn.tls.caPem } : {}),
      ...(conn.tls?.serverName ? { servername: conn.tls.serverName } : {}),
      ...(settings?.serverPublicKeyPem ? { serverPublicKey: settings.serverPublicKeyPem } : {}),
      connectTimeoutMs: 10_000,
      maxPayload: deps.maxPayload,
    });
  } catch (err) {
    // The server's message may name the account; the client learns only that the dial failed.
    const detail = (err as Error).message.slice(0, 300);
    ctx.logger.warn({ err: detail }, "mysql upstream connection failed");
    l.reject({
      errorCode: 2003,
      sqlState: "HY000",
      message: "Sluice could not connect to the target database",
    });
    await ctx.end({ reason: `upstream connection failed: ${detail}`, bytesIn: 0, bytesOut: 0 });
    return undefined;
  }
}

/**
 * The session's policy, with the guard classifying as this server parses: its version
 * (executable comments) and its `sql_mode` (quotes and backslashes), read before relaying.
 */
async function preparePolicy(
  l: ClientLogin,
  ctx: SessionContext,
  opened: UpstreamSession,
): Promise<{ upstream: UpstreamSession; policy: MysqlSessionPolicy | undefined } | undefined> {
  if (!ctx.policy) return { upstream: opened, policy: undefined };
  try {
    const { rows, upstream } = await upstreamQuery(opened, "SELECT @@SESSION.sql_mode");
    const sqlMode = rows[0]?.[0] ?? "";
    return { upstream, policy: mysqlSessionPolicy(ctx, { version: opened.serverVersion, sqlMode }) };
  } catch (err) {
    ctx.logger.warn({ err: (err as Error).message }, "mysql session policy preparation failed");
    opened.socket.destroy();
    l.reject({
      errorCode: 1227,
      sqlState: "42000",
      message: "Sluice could not prepare this connection's policy; the session is refused",
    });
    await ctx.end({ reason: "policy preparation failed", bytesIn: 0, bytesOut: 0 });
    return undefined;
  }
}

/** Runs one authorized MySQL session: upstream login, then the command phase under policy. */
export async function runMysqlSession(
  l: ClientLogin,
  ctx: SessionContext,
  deps: MysqlSessionDeps,
): Promise<void> {
  const conn = ctx.connection;
  const settings = conn.settings?.$case === "mysql" ? conn.settings.value : undefined;
  ctx.started({ database: conn.database, user: l.user.slice(0, 64), target: `${conn.host}:${conn.port}` });
  const opened = await openUpstream(l, ctx, deps);
  if (!opened) return;
  const prepared = await preparePolicy(l, ctx, opened);
  if (!prepared) return;
  const { upstream, policy } = prepared;
  const client = l.accept({ status: upstream.status });
  const id = client.connectionId;
  deps.ids.register(id, upstream.threadId);
  deps.owners.set(id, ctx.identity.id);
  const abort = new AbortController();
  let reason: string | undefined;
  // What was recorded reaches the kernel before the client sees what it records; if that
  // fails the session ends and the client never sees an unrecorded result.
  const commit = (): void => {
    try {
      ctx.commit();
    } catch (err) {
      ctx.logger.error({ err: (err as Error).message }, "mysql session recording failed; ending it");
      reason = "recording failed";
      proxy.stop("Sluice could not record this session, so it was ended");
    }
  };
  const recorder = createMysqlRecorder(ctx, conn.recordRowsLimit, commit);
  const judge = (kind: "query" | "prepare", sql: string): VerdictResult => {
    if (!policy) {
      recorder.statement(kind, sql);
      return ALLOW;
    }
    return then(policy.verdict(sql, abort.signal), (v) => {
      if (v.action === "allow") recorder.statement(kind, sql);
    });
  };
  const hooks: MysqlProxyHooks = {
    onQuery: (sql) => judge("query", sql),
    onPrepare: (sql) => judge("prepare", sql),
    // The statement was judged when it was prepared; its parameters are data.
    onExecute: (stmt, params) => {
      recorder.execute(stmt.statementId, stmt.sql, params);
      return ALLOW;
    },
    onKill: (req): KillDecision => {
      const thread = deps.ids.upstreamThreadId(req.connectionId);
      if (thread === undefined || deps.owners.get(req.connectionId) !== ctx.identity.id) {
        return UNKNOWN_THREAD(req.connectionId);
      }
      return { action: "allow", upstreamThreadId: thread };
    },
    ...(policy?.maskerFor ? { maskerFor: (columns) => policy.maskerFor?.(columns) } : {}),
    ...(policy?.maskMessage
      ? { maskError: (err) => ({ ...err, message: policy.maskMessage?.(err.message) ?? err.message }) }
      : {}),
    onRow: (payload, columns, binary) => recorder.row(payload, columns, binary),
    // The result is recorded and handed to the kernel before its last packet reaches the client.
    onCommandEnd: (s) => {
      recorder.end(s);
      commit();
    },
  };
  const proxy = startMysqlProxy(client, upstream, hooks, {
    maxPayload: deps.maxPayload,
    allowLocalInfile: settings?.allowLocalInfile === true,
  });
  ctx.onTerminate((r) => {
    reason = r;
    proxy.stop(`Sluice ended this session: ${r}`);
  });
  const end = await proxy.done;
  recorder.close();
  deps.ids.release(id);
  deps.owners.delete(id);
  abort.abort();
  policy?.end();
  await ctx.end({
    reason: reason ?? end.reason.replace("_", " "),
    bytesIn: end.stats.bytesFromClient,
    bytesOut: end.stats.bytesToClient,
    ...(end.detail ? { error: end.detail } : {}),
  });
}
