import { createServer, type Server, type Socket } from "node:net";
import { connectUpstream } from "../client-handshake";
import { createConnectionRegistry } from "../connection-registry";
import { isProtocolError } from "../errors";
import { type MysqlProxy, startMysqlProxy } from "../proxy-engine";
import type { CommandSummary, MysqlProxyHooks, MysqlProxyLimits, ProxyEnd } from "../proxy-hooks";
import { ACCESS_DENIED, readClientLogin } from "../server-handshake";
import { createTlsUpgrader } from "../tls-upgrade";
import { MARIADB } from "./test-db";

export interface LoopbackOptions {
  token: string;
  upstream: { user: string; password: string; database: string };
  hooks?: MysqlProxyHooks;
  limits?: MysqlProxyLimits;
  tls?: { key: string; cert: string };
  allowPlaintextPassword?: boolean;
  /** Offer CLIENT_LOCAL_FILES in the handshake (the engine still needs `limits.allowLocalInfile`). */
  allowLocalInfile?: boolean;
  serverVersion?: string;
  /** Accept any login without asking for a token (as the agent does for tunnel sessions). */
  preauthorized?: boolean;
}

export interface LoopbackProxy {
  port: number;
  sessions: MysqlProxy[];
  ends: ProxyEnd[];
  summaries: CommandSummary[];
  loginErrors: string[];
  /** Each successful login: the user the client named and whether it used TLS. */
  logins: { user: string; tls: boolean }[];
  close(): Promise<void>;
}

/**
 * A minimal agent for tests: listens on a free port, runs the server-side handshake with a
 * fixed token, logs in to the local MariaDB as the test user, and runs the engine with the
 * given hooks (plus KILL mapping through a connection registry and a summary recorder).
 */
export async function startLoopbackProxy(o: LoopbackOptions): Promise<LoopbackProxy> {
  const registry = createConnectionRegistry();
  const result: Omit<LoopbackProxy, "port" | "close"> = {
    sessions: [],
    ends: [],
    summaries: [],
    loginErrors: [],
    logins: [],
  };
  const sockets = new Set<Socket>();
  const hooks: MysqlProxyHooks = {
    onKill: (req) => registry.killHook(req),
    ...o.hooks,
    onCommandEnd: (s) => {
      result.summaries.push(s);
      o.hooks?.onCommandEnd?.(s);
    },
  };
  const upgradeToTls = o.tls ? createTlsUpgrader(o.tls) : undefined;
  async function handle(socket: Socket): Promise<void> {
    const connectionId = registry.allocate();
    const login = await readClientLogin(socket, {
      connectionId,
      ...(upgradeToTls ? { upgradeToTls } : {}),
      ...(o.allowPlaintextPassword ? { allowPlaintextPassword: true } : {}),
      ...(o.allowLocalInfile ? { allowLocalInfile: true } : {}),
      ...(o.serverVersion ? { serverVersion: o.serverVersion } : {}),
      ...(o.preauthorized ? { preauthorized: true } : {}),
    });
    if (!o.preauthorized && login.token !== o.token) return login.reject(ACCESS_DENIED(login.user));
    result.logins.push({ user: login.user, tls: login.tls });
    const upstream = await connectUpstream({
      ...MARIADB,
      ...o.upstream,
      database: login.database ?? o.upstream.database,
      capabilities: login.capabilities,
      collation: login.collation,
      tls: "prefer",
    });
    const session = login.accept({ status: upstream.status });
    registry.register(connectionId, upstream.threadId);
    const proxy = startMysqlProxy(session, upstream, hooks, o.limits ?? {});
    result.sessions.push(proxy);
    const end = await proxy.done;
    registry.release(connectionId);
    result.ends.push(end);
  }
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    handle(socket).catch((err) => {
      result.loginErrors.push(isProtocolError(err) ? err.code : String(err));
      socket.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    ...result,
    port: typeof address === "object" && address ? address.port : 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of result.sessions) s.stop();
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
