import type net from "node:net";
import type { Duplex } from "node:stream";
import { isAppError } from "@sluice/errors";
import { BackendCode, backend, errorFrame, isProtocolError, parseParameterStatus } from "@sluice/pg-wire";
import { type CancelRegistration, CancelRegistry } from "./cancel-registry";
import { type ClientHello, clientHandshake } from "./client-handshake";
import { ConnectLimiter } from "./connect-limiter";
import {
  PgClientError,
  type PgClientOptions,
  type PgProxyDeps,
  type PgSessionRecorder,
  type PgTarget,
  SilentClose,
} from "./pg-proxy-types";
import { type RelayEnd, type RelaySession, relay } from "./pg-relay";
import { PolicyGate } from "./policy-gate";
import { refusedStartupParams } from "./startup-params";
import { createStatementTracker } from "./statement-tracker";
import { connectUpstream, ignore, type UpstreamSession } from "./upstream-connect";
import { upstreamQuery } from "./upstream-query";

const DEFAULT_HANDSHAKE_MS = 30_000;
const DEFAULT_CONNECT_MS = 10_000;
/** Authentications in flight on one target from this agent; more wait their turn. */
const CONNECTS_PER_TARGET = 64;
const connects = new ConnectLimiter(CONNECTS_PER_TARGET);

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
  const withCancels = { ...deps, cancels };
  let active = 0;
  const done = () => {
    active--;
  };
  return {
    cancels,
    get active() {
      return active;
    },
    handle(socket) {
      active++;
      return handlePgClient(socket, withCancels).finally(done);
    },
  };
}

function reject(socket: Duplex, err: PgClientError): void {
  if (socket.writable) socket.end(errorFrame(err.sqlState, err.publicMessage));
  setTimeout(() => socket.destroy(), 1_000).unref();
}

/**
 * What PostgreSQL closes on without a reply during startup (it only logs it): a packet whose
 * declared length cannot be a startup or password message, e.g. from a client speaking
 * another protocol, or node-postgres's Terminate sent before its StartupMessage
 * (`client.connect(); client.end()`), which an ErrorResponse would turn into an error there.
 */
function closesSilently(err: unknown): boolean {
  if (err instanceof SilentClose) return true;
  return isProtocolError(err) && (err.code === "frame_too_short" || err.code === "frame_too_large");
}

/** Ends the connection without a word; the socket goes once the FIN had a moment to leave. */
function closeSilently(client: Duplex, raw: Duplex): void {
  client.end();
  setTimeout(() => {
    client.destroy();
    raw.destroy();
  }, 1_000).unref();
}

type ClientDeps = PgProxyDeps & { cancels: CancelRegistry } & PgClientOptions;

/**
 * Serves one client connection end to end: handshake, authorize, upstream, relay. The
 * returned promise settles when the session has ended; while it relays, nothing of the
 * setup stays suspended (only the relay and what the session's end needs are kept).
 */
export function handlePgClient(socket: net.Socket, deps: ClientDeps): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    startClient(socket, deps, resolve).catch(reject);
  });
}

/** Runs the setup; `done` is called when the session is over (here on failure, else by the relay's end). */
async function startClient(socket: net.Socket, deps: ClientDeps, done: () => void): Promise<void> {
  socket.on("error", ignore);
  socket.setNoDelay?.(true);
  const remoteAddress = socket.remoteAddress ?? "";
  const log = deps.logger;
  let hello: ClientHello;
  // errors go on the stream the client speaks (the TLS socket once it upgraded)
  const current: { socket: Duplex } = { socket };
  try {
    hello = await clientHandshake(socket, deps, deps.timeouts?.handshakeMs ?? DEFAULT_HANDSHAKE_MS, current);
  } catch (err) {
    if (closesSilently(err)) {
      log.info(
        { remoteAddress, err: (err as Error).message },
        "postgres client closed: unreadable startup packet",
      );
      closeSilently(current.socket, socket);
    } else if (err instanceof PgClientError || isProtocolError(err)) {
      log.info({ remoteAddress, err: (err as Error).message }, "postgres client rejected during startup");
      reject(current.socket, toClientError(err, new PgClientError("08P01", "protocol violation")));
      if (current.socket !== socket) setTimeout(() => socket.destroy(), 1_000).unref();
    } else {
      log.debug({ remoteAddress, err: (err as Error).message }, "postgres client left during startup");
      current.socket.destroy();
      socket.destroy();
    }
    return done();
  }
  if (hello.kind === "cancel") {
    // a clean close: over TLS, end() sends close_notify once pending data is flushed
    hello.socket.end();
    setTimeout(() => socket.destroy(), 1_000).unref();
    const forwarded = await deps.cancels.cancel(hello.processId, hello.secretKey);
    log.debug({ remoteAddress, forwarded }, "postgres cancel request");
    return done();
  }
  await serveSession(hello, remoteAddress, deps, done);
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
  done: () => void,
): Promise<void> {
  const client = hello.stream.socket;
  let target: PgTarget;
  try {
    target = await authorizeClient(hello, remoteAddress, deps);
  } catch (err) {
    hello.stream.detach();
    reject(client, err as PgClientError);
    return done();
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
  const refused = target.policy ? refusedStartupParams(hello.params) : undefined;
  if (refused) {
    deps.logger.info({ sessionId: target.sessionId, err: refused.publicMessage }, "postgres startup refused");
    recorder?.sessionEnd({ reason: `startup refused: ${refused.publicMessage}`, bytesIn: 0, bytesOut: 0 });
    hello.stream.detach();
    reject(client, refused);
    await callOnEnd(target, deps);
    return done();
  }
  const upstream = await openUpstream(hello, target, deps);
  if (upstream && (await preparePolicy(hello, upstream, target, deps))) {
    return runSession(hello, upstream, target, deps, done);
  }
  await callOnEnd(target, deps);
  done();
}

/** Connects upstream; on failure tells the client, records the end and returns undefined. */
async function openUpstream(
  hello: Extract<ClientHello, { kind: "session" }>,
  target: PgTarget,
  deps: PgProxyDeps,
): Promise<UpstreamSession | undefined> {
  try {
    const timeout = deps.timeouts?.upstreamConnectMs ?? DEFAULT_CONNECT_MS;
    return await connects.run(`${target.host}:${target.port}`, () =>
      connectUpstream(target, hello.params, deps.limits, timeout),
    );
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

/** Lets the session's policy query the target before relaying; on failure refuses the session. */
async function preparePolicy(
  hello: Extract<ClientHello, { kind: "session" }>,
  upstream: UpstreamSession,
  target: PgTarget,
  deps: PgProxyDeps,
): Promise<boolean> {
  const prepare = target.policy?.prepare;
  if (!prepare) return true;
  const timeout = deps.timeouts?.upstreamConnectMs ?? DEFAULT_CONNECT_MS;
  try {
    await prepare.call(target.policy, (sql) => upstreamQuery(upstream, sql, timeout));
    return true;
  } catch (err) {
    const clientErr = toClientError(
      err,
      new PgClientError("42501", "Sluice could not prepare this connection's policy; the session is refused"),
    );
    deps.logger.warn(
      { sessionId: target.sessionId, err: (err as Error).message },
      "session policy preparation failed",
    );
    (target.recorder ?? deps.recorder)?.sessionEnd({
      reason: `policy: ${clientErr.publicMessage}`,
      bytesIn: 0,
      bytesOut: 0,
    });
    hello.stream.detach();
    upstream.stream.detach();
    upstream.socket.destroy();
    reject(hello.stream.socket, clientErr);
    return false;
  }
}

/** What a relaying session still needs when it ends; nothing else of its setup is kept. */
class LiveSession {
  unregister: (() => void) | undefined = undefined;

  constructor(
    private readonly deps: PgProxyDeps,
    private readonly target: PgTarget,
    private readonly recorder: PgSessionRecorder | undefined,
    private readonly registration: CancelRegistration | undefined,
    private readonly done: () => void,
  ) {}

  ended(end: RelayEnd): void {
    this.unregister?.();
    this.registration?.release();
    this.recorder?.sessionEnd({ reason: end.reason, bytesIn: end.bytesIn, bytesOut: end.bytesOut });
    const level = end.error && !isExpectedClose(end.error) ? "warn" : "info";
    this.deps.logger[level](
      { sessionId: this.target.sessionId, reason: end.reason, bytesIn: end.bytesIn, bytesOut: end.bytesOut },
      "postgres session ended",
    );
    void callOnEnd(this.target, this.deps).then(this.done);
  }
}

/** Hands the client its startup messages and starts relaying; `done` is called once the session has ended. */
function runSession(
  hello: Extract<ClientHello, { kind: "session" }>,
  upstream: UpstreamSession,
  target: PgTarget,
  deps: PgProxyDeps & { cancels: CancelRegistry },
  done: () => void,
): void {
  const registration = upstream.backendKey ? deps.cancels.register(target, upstream.backendKey) : undefined;
  const client = hello.stream.socket;
  hello.stream.detach();
  upstream.stream.detach();
  const standardConformingStrings =
    startupSetting(upstream.startupFrames, "standard_conforming_strings") !== "off";
  // Closures are made only for what asks for them: a session without policy or start hook keeps none.
  let session: RelaySession | undefined;
  const gate = target.policy
    ? new PolicyGate(
        target.policy,
        (frames) => {
          if (client.writable) for (const f of frames) client.write(f);
        },
        (reason) => session?.terminate(reason),
        { standardConformingStrings },
      )
    : undefined;
  client.cork();
  client.write(backend.authenticationOk());
  // startup settings and notices are masked like those sent later (an echoed application_name)
  for (const f of upstream.startupFrames) {
    const out = gate ? maskedStartupFrame(gate, f) : f;
    if (out) client.write(out);
  }
  if (registration) client.write(backend.backendKeyData(registration.key));
  client.write(upstream.readyFrame);
  client.uncork();
  deps.logger.info({ sessionId: target.sessionId, tls: hello.tls }, "postgres session started");
  const recorder = target.recorder ?? deps.recorder;
  const live = new LiveSession(deps, target, recorder, registration, done);
  session = relay({
    client,
    upstream: upstream.socket,
    clientReader: hello.stream.reader,
    upstreamReader: upstream.stream.reader,
    tracker: recorder ? createStatementTracker(recorder, target.recordRowsLimit) : undefined,
    gate,
    onEnd: live.ended.bind(live),
  });
  // The relay listens for errors on both sockets now; the setup's placeholders go.
  client.off("error", ignore);
  upstream.socket.off("error", ignore);
  if (gate) registration?.onCancel(() => gate.cancelHeld());
  if (target.onStart) {
    const relaying = session;
    live.unregister = target.onStart((reason) => relaying.terminate(reason));
  }
}

/** A startup frame as the client may see it; a malformed one that cannot be masked is dropped (fail closed). */
function maskedStartupFrame(gate: PolicyGate, frame: Buffer): Buffer | undefined {
  try {
    return gate.maskMessage(frame, 0, frame.length) ?? frame;
  } catch {
    return undefined;
  }
}

/** The value of one ParameterStatus the upstream sent during startup. */
function startupSetting(frames: Buffer[], name: string): string | undefined {
  for (const f of frames) {
    if (f[0] !== BackendCode.ParameterStatus) continue;
    const p = parseParameterStatus(f.subarray(5));
    if (p.name === name) return p.value;
  }
  return undefined;
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
