import { createHash } from "node:crypto";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import net from "node:net";
import type { Duplex } from "node:stream";
import tls from "node:tls";
import { AppError, isAppError } from "@sluice/errors";
import type { Logger } from "@sluice/logger";
import { checkRequestHead, type NormalizedTarget } from "@sluice/policy";
import type { AuthorizedSession, Authorizer } from "./authorizer";
import type { SessionBroker, SessionContext, Via } from "./broker";
import { listen } from "./listen";
import type { ClientStream, NativeListener } from "./protocol";

/** Sessions one client connection may hold (one per connection and caller credential). */
const MAX_SESSIONS_PER_SOCKET = 8;
/** A client that has not finished its TLS handshake by then is disconnected (unless configured). */
const HANDSHAKE_MS = 10_000;
/** A client that has not sent a whole request head by then is disconnected (unless configured). */
const HEADERS_MS = 30_000;
const CONNECTION_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** What an HTTP-borne protocol session must expose to the front. */
export interface FrontSession {
  ctx: SessionContext;
  bytesIn: number;
  bytesOut: number;
}

/** How a protocol answers an error in its own words (a JSON error body, a Kubernetes Status). */
export interface FrontErrors {
  reply(
    res: ServerResponse,
    status: number,
    code: string,
    message: string,
    opts?: { close?: boolean; headers?: Record<string, string> },
  ): void;
  /** A complete response written on a raw socket (before or outside node's HTTP server). */
  raw(socket: Duplex, status: number, code: string, message: string): void;
}

export interface HttpFrontDeps<S extends FrontSession> {
  /** The connection type and the endpoint name announced for the native listener. */
  type: string;
  listenOn: string;
  plaintext: boolean;
  /** Host routing: `<connection>.<domain>` names the connection. */
  routeDomain?: string;
  handshakeTimeoutSeconds?: number;
  authorizer: Pick<Authorizer, "authorize">;
  broker: SessionBroker;
  tls: () => tls.SecureContext | undefined;
  logger: Logger;
  errors: FrontErrors;
  /** Builds the protocol's session once the broker opened it (credential, upstream pool). */
  start(ctx: SessionContext): Promise<S>;
  /** Serves one request of a session. */
  exchange(
    s: S,
    req: IncomingMessage,
    res: ServerResponse,
    target: NormalizedTarget,
    expectContinue: boolean,
  ): Promise<void>;
  /** Serves an upgrade request of a session (WebSocket, SPDY). */
  upgrade(s: S, req: IncomingMessage, socket: Duplex, head: Buffer, target: NormalizedTarget): void;
  /** Stops what the protocol holds besides the listener (upstream pools). */
  close(): void;
  /** Words for an upgrade the front refuses (an older client's SPDY stream), in the protocol's terms. */
  upgradeRefusal?(req: IncomingMessage, message: string): string;
}

function serverOptions(headersTimeout: number): http.ServerOptions {
  return {
    maxHeaderSize: 32 * 1024,
    // Uploads may be large; a client that stalls sending its headers is cut off by headersTimeout.
    requestTimeout: 0,
    headersTimeout,
    keepAliveTimeout: 30_000,
    // How often that bound is checked (every 30 s by default, which would let a short one run long).
    connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(headersTimeout / 4))),
  };
}

/**
 * Node checks headersTimeout from a timer it starts when a server begins listening. Servers
 * that are handed their sockets (after TLS, or from the tunnel) never listen, so a client
 * could trickle a request head forever: start the checks as listening would.
 */
function enforceDeadlines(server: http.Server): http.Server {
  server.emit("listening");
  return server;
}

/** The caller's Sluice credential: `Authorization`/`Proxy-Authorization` Bearer, or Basic with it as the password. */
export function callerToken(req: IncomingMessage): string | undefined {
  for (const value of [req.headers["proxy-authorization"], req.headers.authorization]) {
    if (!value) continue;
    const m = /^(Bearer|Basic)\s+(\S{1,8192})$/i.exec(value.trim());
    if (!m) continue;
    if (m[1]?.toLowerCase() === "bearer") return m[2];
    const decoded = Buffer.from(m[2] ?? "", "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon >= 0 && decoded.length > colon + 1) return decoded.slice(colon + 1);
  }
  return undefined;
}

/** Which connection a native request is for, and its target on that connection. */
export function routeOf(
  req: IncomingMessage,
  domain: string | undefined,
): { connection: string; target: string } | { error: string } {
  const url = req.url ?? "";
  const host = (req.headers.host ?? "").toLowerCase().replace(/:\d+$/, "").replace(/\.$/, "");
  if (domain && host.endsWith(`.${domain.toLowerCase()}`)) {
    const label = host.slice(0, -(domain.length + 1));
    if (CONNECTION_NAME.test(label) && !label.includes(".")) return { connection: label, target: url };
  }
  if (!url.startsWith("/")) return { error: "the request target must start with /<connection>/" };
  const end = url.slice(1).search(/[/?]/);
  const name = end < 0 ? url.slice(1) : url.slice(1, end + 1);
  if (!CONNECTION_NAME.test(name)) {
    return { error: "the path must start with the connection's name: /<connection>/<path>" };
  }
  const rest = end < 0 ? "" : url.slice(end + 1);
  return { connection: name, target: rest.startsWith("/") ? rest : `/${rest}` };
}

/** The status and code a Sluice error is answered with. */
export function httpErrorOf(err: unknown): { status: number; code: string; message: string } {
  if (isAppError(err)) return { status: err.mapping.http, code: err.code, message: err.message };
  return { status: 500, code: "internal.unexpected", message: "internal error" };
}

/** Ends the connection; the socket goes once the last bytes had a moment to leave (the client may never close its side). */
export function closeSoon(socket: Duplex): void {
  socket.end();
  setTimeout(() => socket.destroy(), 1_000).unref();
}

/**
 * The front of every protocol carried over HTTP/1.1 (internal HTTP APIs, Kubernetes): a
 * native listener (TLS with the agent's certificate; the caller's Sluice token in
 * `Authorization: Bearer`, routed by `/<connection>/…` or Host), sessions arriving
 * through the tunnel (identity proven by the grant), request framing checks, pipelining
 * in order, and the session's end when its client connection closes.
 */
export function createHttpFront<S extends FrontSession>(deps: HttpFrontDeps<S>) {
  const native = new WeakMap<net.Socket, Map<string, Promise<S>>>();
  const tunneled = new WeakMap<object, S>();
  const configuredMs = (deps.handshakeTimeoutSeconds ?? 0) * 1000;
  const handshakeMs = configuredMs || HANDSHAKE_MS;
  const headersMs = configuredMs || HEADERS_MS;
  const { errors } = deps;

  async function start(ctx: SessionContext, socket: Duplex): Promise<S> {
    let s: S;
    try {
      s = await deps.start(ctx);
    } catch (err) {
      await ctx.end();
      throw err instanceof AppError
        ? err
        : new AppError(
            "service.unavailable",
            "the upstream client could not be prepared for this connection",
          );
    }
    ctx.onTerminate((reason) => {
      ctx.logger.info({ reason }, `${deps.type} session terminated`);
      socket.destroy();
    });
    socket.once(
      "close",
      () => void ctx.end({ reason: "client closed", bytesIn: s.bytesIn, bytesOut: s.bytesOut }),
    );
    return s;
  }

  function open(session: AuthorizedSession, via: Via, clientAddress: string): Promise<SessionContext> {
    return deps.broker.open(session, { type: deps.type, via, clientAddress });
  }

  function sessionFor(socket: net.Socket, connection: string, token: string): Promise<S> {
    let held = native.get(socket);
    if (!held) {
      held = new Map();
      native.set(socket, held);
    }
    const key = `${connection}\0${createHash("sha256").update(token).digest("base64")}`;
    const existing = held.get(key);
    if (existing) return existing;
    if (held.size >= MAX_SESSIONS_PER_SOCKET) {
      return Promise.reject(new AppError("request.invalid", "too many sessions on one client connection"));
    }
    const address = socket.remoteAddress ?? "";
    const created = deps.authorizer
      .authorize({
        connectionName: connection,
        credential: token,
        clientAddress: address,
        protocol: deps.type,
      })
      .then((s) => open(s, s.via, address))
      .then((ctx) => start(ctx, socket));
    // A failed authorization is not cached: the next request on the connection tries again.
    created.catch(() => held?.delete(key));
    held.set(key, created);
    return created;
  }

  type Finder = (req: IncomingMessage) => Promise<{ session: S; target: string }>;

  function headOf(req: IncomingMessage, target: string) {
    return checkRequestHead({
      method: req.method ?? "",
      target,
      httpVersion: req.httpVersion,
      rawHeaders: req.rawHeaders,
    });
  }

  async function serve(req: IncomingMessage, res: ServerResponse, find: Finder, expectContinue: boolean) {
    let found: { session: S; target: string };
    try {
      found = await find(req);
    } catch (err) {
      const e = httpErrorOf(err);
      const headers = e.status === 401 ? { "www-authenticate": 'Bearer realm="sluice"' } : undefined;
      return errors.reply(res, e.status, e.code, e.message, { close: true, ...(headers ? { headers } : {}) });
    }
    const check = headOf(req, found.target);
    if (!check.ok) return errors.reply(res, 400, "request.invalid", check.message, { close: true });
    await deps.exchange(found.session, req, res, check.target, expectContinue).catch((err: unknown) => {
      found.session.ctx.logger.error({ err }, `${deps.type} exchange failed`);
      errors.reply(res, 500, "internal.unexpected", "internal error");
    });
  }

  const findNative: Finder = async (req) => {
    const route = routeOf(req, deps.routeDomain);
    if ("error" in route) throw new AppError("request.invalid", route.error);
    const token = callerToken(req);
    if (!token) {
      throw new AppError(
        "auth.missing_credentials",
        "send your Sluice API key, access token or grant as Authorization: Bearer <token>",
      );
    }
    return { session: await sessionFor(req.socket, route.connection, token), target: route.target };
  };
  const findTunneled: Finder = async (req) => {
    const session = tunneled.get(req.socket);
    if (!session) throw new AppError("session.not_found", "this tunnel has no session");
    return { session, target: req.url ?? "" };
  };

  function wire(server: http.Server, find: Finder): http.Server {
    // Requests pipelined on one connection are served one after the other, and none after a
    // response that closes it (RFC 9112 §9.6): what hides behind a request refused for its
    // framing, or for its credential, never runs.
    const queues = new WeakMap<Duplex, Promise<unknown>>();
    const closing = new WeakSet<Duplex>();
    const latest = new WeakMap<Duplex, { req: IncomingMessage; res: ServerResponse }>();
    const inTurn = (socket: Duplex, run: () => Promise<unknown>) => {
      const next = (queues.get(socket) ?? Promise.resolve())
        .then(() => (closing.has(socket) ? undefined : run()))
        .catch((err: unknown) => deps.logger.error({ err }, `${deps.type} request failed`));
      queues.set(socket, next);
    };
    const enqueue = (req: IncomingMessage, res: ServerResponse, expectContinue: boolean) => {
      const socket = req.socket;
      latest.set(socket, { req, res });
      res.once("close", () => latest.get(socket)?.res === res && latest.delete(socket));
      inTurn(socket, async () => {
        await serve(req, res, find, expectContinue);
        if (!res.shouldKeepAlive) closing.add(socket);
      });
    };
    server.on("request", (req: IncomingMessage, res: ServerResponse) => enqueue(req, res, false));
    server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => enqueue(req, res, true));
    server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (!socket.writable || err.code === "ECONNRESET") return socket.destroy();
      const last = latest.get(socket);
      // Malformed bytes after a complete request are not its answer: it keeps its own response.
      if (last?.req.complete) return void last.res.once("close", () => closeSoon(socket));
      if (last?.res.headersSent) return socket.destroy();
      if (err.code === "ERR_HTTP_REQUEST_TIMEOUT")
        return errors.raw(socket, 408, "request.invalid", "the request head did not arrive in time");
      errors.raw(socket, 400, "request.invalid", `malformed HTTP request (${err.code ?? "parse error"})`);
    });
    server.on("connect", (_req: IncomingMessage, socket: Duplex) => {
      socket.on("error", () => socket.destroy());
      errors.raw(socket, 400, "request.invalid", "CONNECT requests are not proxied");
    });
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      inTurn(socket, () =>
        find(req).then(
          ({ session, target }) => {
            const check = headOf(req, target);
            if (!check.ok) {
              const message = deps.upgradeRefusal?.(req, check.message) ?? check.message;
              return errors.raw(socket, 400, "request.invalid", message);
            }
            deps.upgrade(session, req, socket, head, check.target);
          },
          (err: unknown) => {
            const e = httpErrorOf(err);
            errors.raw(socket, e.status, e.code, e.message);
          },
        ),
      );
    });
    return server;
  }

  const nativeHttp = wire(http.createServer(serverOptions(headersMs)), findNative);
  if (!deps.plaintext) enforceDeadlines(nativeHttp);
  // TLS is terminated here rather than by an https server: clients that connect by IP send
  // no SNI, and the agent's certificate can change while it runs.
  const nativeServer = deps.plaintext
    ? nativeHttp
    : // No Nagle: a response's last small write (a chunk terminator) must not wait for the
      // client's delayed ACK (about 40 ms per rewritten response otherwise).
      net.createServer({ noDelay: true }, (socket) => {
        socket.on("error", () => socket.destroy());
        const context = deps.tls();
        if (!context) return socket.destroy();
        const secure = new tls.TLSSocket(socket, {
          isServer: true,
          secureContext: context,
          ALPNProtocols: ["http/1.1"],
        });
        const timer = setTimeout(() => secure.destroy(), handshakeMs);
        secure.on("error", () => secure.destroy());
        secure.once("secure", () => {
          clearTimeout(timer);
          nativeHttp.emit("connection", secure);
        });
        secure.once("close", () => clearTimeout(timer));
      });
  nativeServer.on("error", (err) => deps.logger.error({ err }, `${deps.type} listener error`));
  const tunnelServer = enforceDeadlines(wire(http.createServer(serverOptions(headersMs)), findTunneled));

  const listener: NativeListener = {
    endpoint: deps.type,
    hostPort: deps.listenOn,
    required: false,
    listen: () => listen(nativeServer, deps.listenOn),
    close: () => {
      nativeServer.close();
      nativeHttp.closeAllConnections();
      deps.close();
    },
  };

  return {
    listener,
    /** Serves a session that arrived through the tunnel (the grant proved the identity). */
    serveTunnel(session: AuthorizedSession, client: ClientStream): void {
      const socket = client.socket;
      socket.on("error", () => socket.destroy());
      open(session, "tunnel", client.clientAddress)
        .then((ctx) => start(ctx, socket))
        .then(
          (s) => {
            tunneled.set(socket, s);
            if (client.initial.length > 0) socket.unshift(client.initial);
            tunnelServer.emit("connection", socket);
            // The tunnel hands the socket over paused, and the HTTP parser reads new bytes from
            // the handle itself: a request that arrived before now waits in the stream's buffer
            // until the stream flows again.
            socket.resume();
          },
          (err: unknown) => {
            const e = httpErrorOf(err);
            errors.raw(socket, e.status, e.code, e.message);
          },
        );
    },
    refuse(client: Duplex, err: AppError): void {
      const e = httpErrorOf(err);
      errors.raw(client, e.status, e.code, e.message);
    },
  };
}
