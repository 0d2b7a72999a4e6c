import type { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import ssh2, { type AuthContext, type Client, type Connection } from "ssh2";
import { type Bridge, type BridgeHooks, type BridgeStats, bridge } from "./bridge";
import { offeredKey } from "./client-key";
import { coalesceWrites } from "./coalesce";

/** How the client proved who it is. */
export type ClientCredential =
  /** What the client typed as password (or answered to the keyboard-interactive prompt). */
  | { kind: "secret"; secret: string }
  /** A public key (`<type> <base64>`) whose private key signed this connection's session id. */
  | { kind: "publickey"; publicKey: string }
  /** An OpenSSH certificate (`<cert-type> <base64>`) whose key signed this connection's session id. */
  | { kind: "certificate"; certificate: string };

export interface AuthRequest {
  /** The SSH user name: the connection the client wants. */
  username: string;
  credential: ClientCredential;
  clientAddress: string;
}

/** An authorized connection: how to reach the target and what to observe. */
export interface ProxySession {
  hooks: BridgeHooks;
  /** Connects and authenticates to the target. */
  upstream(): Promise<Client>;
  /** The client's SSH connection is ready; `bridge.terminate` ends it. */
  onStart?(bridge: Bridge): void;
  onEnd(stats: BridgeStats, error?: string): void;
}

export interface SshProxyServerOptions {
  /** The agent's host key (OpenSSH private key text). */
  hostKey: string;
  /** Resolves to a session, or rejects: the client then sees a generic authentication failure. */
  authenticate(req: AuthRequest): Promise<ProxySession>;
  /** Added to every failed password attempt, to slow down guessing. */
  failureDelayMs?: number;
  /** Failed password attempts before the connection is closed. */
  maxAuthAttempts?: number;
  /** Refused public keys before the connection is closed (a client offers each key it holds). */
  maxKeyAttempts?: number;
  /** Authentication requests of any method (none, queries, failures) before the connection is closed. */
  maxAuthRequests?: number;
  /** A connection that has not authenticated this long after it was accepted is closed (default 30 s). */
  authTimeoutMs?: number;
}

export const DEFAULT_AUTH_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_AUTH_REQUESTS = 20;
/** How long a client may take to read the disconnect message before its socket is destroyed. */
const DISCONNECT_GRACE_MS = 1000;

/**
 * Arms a deadline on every socket the server accepts (listened or injected), from the
 * first byte on: a client that never speaks, stops after the banner, or never finishes
 * authenticating is closed. `settle` disarms it once the client is authenticated.
 */
function authDeadlines(server: ssh2.Server, timeoutMs: number) {
  const timers = new WeakMap<object, NodeJS.Timeout>();
  const connections = new WeakMap<object, Connection>();
  const accepted = (server as unknown as { _srv: EventEmitter })._srv;
  accepted.on("connection", (socket: Duplex) => {
    const timer = setTimeout(() => {
      const conn = connections.get(socket);
      if (!conn) return socket.destroy();
      conn.end();
      setTimeout(() => socket.destroy(), DISCONNECT_GRACE_MS).unref();
    }, timeoutMs);
    timer.unref();
    timers.set(socket, timer);
    socket.once("close", () => clearTimeout(timer));
  });
  return {
    track(socket: object, conn: Connection): void {
      connections.set(socket, conn);
    },
    settle(socket: object): void {
      clearTimeout(timers.get(socket));
    },
  };
}

const METHODS: AuthContext["method"][] = ["publickey", "password", "keyboard-interactive"];

/**
 * The client-facing SSH server. Sockets accepted by `server` authenticate with a
 * Sluice credential as password; sockets passed to `handle` arrive already authorized.
 */
export function createSshProxyServer(o: SshProxyServerOptions) {
  const preauthorized = new WeakMap<object, ProxySession>();
  const server = new ssh2.Server({ hostKeys: [o.hostKey], ident: "Sluice" });
  const deadlines = authDeadlines(server, o.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS);
  const maxAuthRequests = o.maxAuthRequests ?? DEFAULT_MAX_AUTH_REQUESTS;
  server.on("connection", (conn: Connection, info) => {
    const socket = (conn as unknown as { _sock: Socket })._sock;
    if (typeof socket.cork === "function") coalesceWrites(socket);
    deadlines.track(socket, conn);
    let session = preauthorized.get(socket);
    const given = session !== undefined;
    let failures = 0;
    let keyFailures = 0;
    let requests = 0;
    conn.on("error", () => undefined);
    conn.on("authentication", (ctx) => {
      if (given) return ctx.accept();
      requests += 1;
      if (requests > maxAuthRequests) return conn.end();
      const check = (credential: ClientCredential) => {
        o.authenticate({ username: ctx.username, credential, clientAddress: info.ip }).then(
          (s) => {
            session = s;
            ctx.accept();
          },
          () => {
            if (credential.kind !== "secret") return refuseKey();
            failures += 1;
            setTimeout(() => {
              if (failures >= (o.maxAuthAttempts ?? 3)) conn.end();
              else ctx.reject(METHODS);
            }, o.failureDelayMs ?? 500);
          },
        );
      };
      const refuseKey = () => {
        keyFailures += 1;
        if (keyFailures >= (o.maxKeyAttempts ?? 6)) conn.end();
        else ctx.reject(METHODS);
      };
      if (ctx.method === "password") return check({ kind: "secret", secret: ctx.password });
      if (ctx.method === "keyboard-interactive") {
        return ctx.prompt([{ prompt: "Sluice token: ", echo: false }], "Sluice", "", (answers) =>
          check({ kind: "secret", secret: answers[0] ?? "" }),
        );
      }
      if (ctx.method === "publickey") {
        const offered = offeredKey(ctx.key.algo, ctx.key.data);
        if (!offered) return refuseKey();
        // Without a signature the client only asks whether the key would do: say yes, then
        // check the signature and ask the control plane once the client has signed.
        if (!ctx.signature) return ctx.accept();
        if (!ctx.blob || !offered.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) return refuseKey();
        return check(offered.credential);
      }
      ctx.reject(METHODS);
    });
    conn.on("ready", () => {
      const s = session;
      if (!s) return conn.end();
      deadlines.settle(socket);
      const upstream = s.upstream();
      upstream.catch(() => undefined);
      const b = bridge(conn, upstream, s.hooks, (stats, error) => s.onEnd(stats, error));
      s.onStart?.(b);
    });
  });

  return {
    server,
    /** Serves a connection whose identity is already proven; `initial` holds bytes read past a preamble. */
    handle(socket: Duplex, session: ProxySession, initial?: Buffer): void {
      preauthorized.set(socket, session);
      if (initial && initial.length > 0) socket.unshift(initial);
      server.injectSocket(socket as never);
      // The tunnel hands the socket over paused: the client's version line may already wait in it.
      socket.resume();
    },
  };
}

export type SshProxyServer = ReturnType<typeof createSshProxyServer>;
