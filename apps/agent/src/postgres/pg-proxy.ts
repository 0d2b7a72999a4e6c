import type net from "node:net";
import type { Duplex } from "node:stream";
import { isAppError } from "@sluice/errors";
import { backend, errorFrame, isProtocolError } from "@sluice/pg-wire";
import { CancelRegistry } from "./cancel-registry";
import { type ClientHello, clientHandshake } from "./client-handshake";
import { PgClientError, type PgClientOptions, type PgProxyDeps, type PgTarget } from "./pg-proxy-types";
import { relay } from "./pg-relay";
import { createStatementTracker } from "./statement-tracker";
import { connectUpstream, ignore, type UpstreamSession } from "./upstream-connect";

const DEFAULT_HANDSHAKE_MS = 30_000;
const DEFAULT_CONNECT_MS = 10_000;

export interface PgProxy {
  /** Serves one accepted client socket until the session ends. Never rejects. */
  handle(socket: net.Socket): Promise<void>;
  readonly cancels: CancelRegistry;
  /** Sessions currently being served. */
  readonly active: number;
}

/** Maps anything thrown during setup to what the client may see. */
export function toClientError(err: unknown, fallback: PgClientError): PgClientError {
  if (err instanceof PgClientError) return err;
  if (isProtocolError(err)) return new PgClientError("08P01", err.message, { cause: err });
  if (isAppError(err)) return new PgClientError(err.mapping.sqlState, err.message, { cause: err });
  return fallback;
}

export function createPgProxy(deps: PgProxyDeps): PgProxy {
  const cancels = deps.cancels ?? new CancelRegistry();
  let active = 0;
  return {
    cancels,
    get active() {
      return active;
    },
    async handle(socket) {
      active++;
      try {
        await handlePgClient(socket, { ...deps, cancels });
      } finally {
        active--;
      }
    },
  };
}

function reject(socket: Duplex, err: PgClientError): void {
  if (socket.writable) socket.end(errorFrame(err.sqlState, err.publicMessage));
  setTimeout(() => socket.destroy(), 1_000).unref();
}

/** Serves one client connection end to end: handshake, authorize, upstream, relay. */
export async function handlePgClient(
  socket: net.Socket,
  deps: PgProxyDeps & { cancels: CancelRegistry } & PgClientOptions,
): Promise<void> {
  socket.on("error", ignore);
  socket.setNoDelay?.(true);
  const remoteAddress = socket.remoteAddress ?? "";
  const log = deps.logger;
  let hello: ClientHello;
  try {
    hello = await clientHandshake(socket, deps, deps.timeouts?.handshakeMs ?? DEFAULT_HANDSHAKE_MS);
  } catch (err) {
    if (err instanceof PgClientError || isProtocolError(err)) {
      log.info({ remoteAddress, err: (err as Error).message }, "postgres client rejected during startup");
      reject(socket, toClientError(err, new PgClientError("08P01", "protocol violation")));
    } else socket.destroy();
    return;
  }
  if (hello.kind === "cancel") {
    socket.destroy();
    const done = await deps.cancels.cancel(hello.processId, hello.secretKey);
    log.debug({ remoteAddress, forwarded: done }, "postgres cancel request");
    return;
  }
  await serveSession(hello, remoteAddress, deps);
}

async function authorizeClient(
  hello: Extract<ClientHello, { kind: "session" }>,
  remoteAddress: string,
  deps: PgProxyDeps,
): Promise<PgTarget> {
  const user = hello.params.user ?? "";
  const applicationName = hello.params.application_name;
  try {
    return await deps.authorize({
      database: hello.params.database || user,
      user,
      password: hello.password,
      remoteAddress,
      ...(applicationName !== undefined ? { applicationName } : {}),
    });
  } catch (err) {
    deps.logger.info(
      { remoteAddress, err: err instanceof Error ? err.message : String(err) },
      "postgres session refused",
    );
    throw toClientError(err, new PgClientError("28000", "authorization failed"));
  }
}

async function serveSession(
  hello: Extract<ClientHello, { kind: "session" }>,
  remoteAddress: string,
  deps: PgProxyDeps & { cancels: CancelRegistry },
): Promise<void> {
  const client = hello.stream.socket;
  let target: PgTarget;
  try {
    target = await authorizeClient(hello, remoteAddress, deps);
  } catch (err) {
    hello.stream.detach();
    return reject(client, err as PgClientError);
  }
  const applicationName = hello.params.application_name;
  const recorder = target.recorder ?? deps.recorder;
  recorder?.sessionStart({
    sessionId: target.sessionId,
    database: hello.params.database || (hello.params.user ?? ""),
    user: hello.params.user ?? "",
    remoteAddress,
    ...(applicationName !== undefined ? { applicationName } : {}),
  });
  const upstream = await openUpstream(hello, target, deps);
  if (upstream) await runSession(hello, upstream, target, deps);
  await callOnEnd(target, deps);
}

/** Connects upstream; on failure tells the client, records the end and returns undefined. */
async function openUpstream(
  hello: Extract<ClientHello, { kind: "session" }>,
  target: PgTarget,
  deps: PgProxyDeps,
): Promise<UpstreamSession | undefined> {
  try {
    const timeout = deps.timeouts?.upstreamConnectMs ?? DEFAULT_CONNECT_MS;
    return await connectUpstream(target, hello.params, deps.limits, timeout);
  } catch (err) {
    const fallback = new PgClientError("08006", "could not connect to the target database");
    const clientErr = toClientError(err, fallback);
    deps.logger.warn(
      { sessionId: target.sessionId, err: clientErr.publicMessage },
      "postgres upstream connection failed",
    );
    const reason = `upstream connection failed: ${clientErr.publicMessage}`;
    (target.recorder ?? deps.recorder)?.sessionEnd({ reason, bytesIn: 0, bytesOut: 0 });
    hello.stream.detach();
    reject(hello.stream.socket, clientErr);
    return undefined;
  }
}

async function runSession(
  hello: Extract<ClientHello, { kind: "session" }>,
  upstream: UpstreamSession,
  target: PgTarget,
  deps: PgProxyDeps & { cancels: CancelRegistry },
): Promise<void> {
  const registration = upstream.backendKey ? deps.cancels.register(target, upstream.backendKey) : undefined;
  const client = hello.stream.socket;
  hello.stream.detach();
  upstream.stream.detach();
  client.cork();
  client.write(backend.authenticationOk());
  for (const f of upstream.startupFrames) client.write(f);
  if (registration) client.write(backend.backendKeyData(registration.key));
  client.write(upstream.readyFrame);
  client.uncork();
  // Idle sessions stay suspended here: keep nothing the relay does not need.
  upstream.startupFrames.length = 0;
  deps.logger.info({ sessionId: target.sessionId, tls: hello.tls }, "postgres session started");
  const recorder = target.recorder ?? deps.recorder;
  const session = relay({
    client,
    upstream: upstream.socket,
    clientReader: hello.stream.reader,
    upstreamReader: upstream.stream.reader,
    tracker: recorder ? createStatementTracker(recorder, target.recordRowsLimit) : undefined,
  });
  const unregister = target.onStart?.(session.terminate);
  const end = await session.done;
  unregister?.();
  registration?.release();
  recorder?.sessionEnd({ reason: end.reason, bytesIn: end.bytesIn, bytesOut: end.bytesOut });
  const level = end.error && !isExpectedClose(end.error) ? "warn" : "info";
  deps.logger[level](
    { sessionId: target.sessionId, reason: end.reason, bytesIn: end.bytesIn, bytesOut: end.bytesOut },
    "postgres session ended",
  );
}

async function callOnEnd(target: PgTarget, deps: PgProxyDeps): Promise<void> {
  try {
    await target.onEnd?.();
  } catch (err) {
    deps.logger.warn(
      { sessionId: target.sessionId, err: (err as Error).message },
      "postgres session end hook failed",
    );
  }
}

function isExpectedClose(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ECONNRESET" || code === "EPIPE";
}
