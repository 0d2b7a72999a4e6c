import net from "node:net";
import type { Duplex } from "node:stream";
import tls from "node:tls";
import {
  AuthCode,
  BackendCode,
  type BackendKeyData,
  createAuthClient,
  frontend,
  isProtocolError,
  parseAuthentication,
  parseBackendKeyData,
  parseNoticeFields,
} from "@sluice/pg-wire";
import { FrameStream, newReader } from "./frame-stream";
import { PgClientError, type PgTarget } from "./pg-proxy-types";

export type UpstreamAddress = Pick<PgTarget, "host" | "port" | "ssl">;

export interface UpstreamSession {
  socket: Duplex;
  stream: FrameStream;
  /** ParameterStatus and NoticeResponse frames to forward to the client, in order. */
  startupFrames: Buffer[];
  backendKey: BackendKeyData | undefined;
  /** The upstream's ReadyForQuery frame. */
  readyFrame: Buffer;
}

/** Sockets always carry an error listener; the stage that owns a socket reacts to 'close'. */
export function ignore(): void {}

const upstreamError = (message: string, cause?: unknown) =>
  new PgClientError("08006", `could not connect to the target database: ${message}`, { cause });

function connectTcp(addr: UpstreamAddress, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: addr.host, port: addr.port });
    socket.on("error", ignore);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    const timer = setTimeout(() => socket.destroy(upstreamError("connect timed out")), timeoutMs);
    const onError = (err: Error) => {
      clearTimeout(timer);
      socket.off("connect", onConnect);
      reject(
        err instanceof PgClientError
          ? err
          : upstreamError((err as NodeJS.ErrnoException).code ?? "error", err),
      );
    };
    const onConnect = () => {
      clearTimeout(timer);
      // The session lives on; its socket must not keep this setup's closures.
      socket.off("error", onError);
      resolve(socket);
    };
    socket.once("error", onError);
    socket.once("connect", onConnect);
  });
}

function readSslAnswer(socket: net.Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      cleanup();
      // Anything after the one-byte answer would be unencrypted data injected before TLS.
      if (chunk.length !== 1) return reject(upstreamError("unexpected data in the TLS negotiation"));
      resolve(chunk[0]!);
    };
    const onEnd = () => {
      cleanup();
      reject(upstreamError("connection closed during TLS negotiation"));
    };
    const cleanup = () => {
      socket.off("data", onData);
      socket.off("close", onEnd);
    };
    socket.on("data", onData);
    socket.on("close", onEnd);
  });
}

async function startTls(socket: net.Socket, addr: UpstreamAddress): Promise<tls.TLSSocket> {
  socket.write(frontend.sslRequest());
  const answer = await readSslAnswer(socket);
  socket.pause();
  if (answer !== 0x53) throw upstreamError("the server does not accept TLS");
  const verify = addr.ssl.mode === "verify-ca" || addr.ssl.mode === "verify-full";
  const servername = addr.ssl.servername ?? (net.isIP(addr.host) ? undefined : addr.host);
  const secure = tls.connect({
    socket,
    host: addr.host,
    servername,
    ca: addr.ssl.ca,
    rejectUnauthorized: verify,
    checkServerIdentity: addr.ssl.mode === "verify-full" ? tls.checkServerIdentity : () => undefined,
  });
  secure.on("error", ignore);
  return new Promise((resolve, reject) => {
    secure.once("secureConnect", () => resolve(secure));
    secure.once("error", (err) => reject(upstreamError(`TLS handshake failed (${err.message})`, err)));
  });
}

/** Opens a TCP connection to the target, upgraded to TLS per its sslmode. */
export async function dialUpstream(addr: UpstreamAddress, timeoutMs = 10_000): Promise<Duplex> {
  const socket = await connectTcp(addr, timeoutMs);
  if (addr.ssl.mode === "disable") return socket;
  try {
    return await startTls(socket, addr);
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

/** Client parameters forwarded upstream: everything but identity, replication and protocol extensions. */
export function forwardableParams(params: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) {
    if (k === "user" || k === "database" || k === "replication" || k.startsWith("_pq_.")) continue;
    out[k] = v;
  }
  return out;
}

/**
 * Connects and authenticates to the target with the real credential, then collects
 * the startup messages up to ReadyForQuery. Errors are PgClientErrors whose message
 * never contains the credential.
 */
export async function connectUpstream(
  target: PgTarget,
  clientParams: Record<string, string>,
  limits: { maxStartupFrame: number; maxFrame: number },
  timeoutMs: number,
): Promise<UpstreamSession> {
  const socket = await dialUpstream(target, timeoutMs);
  const stream = new FrameStream(socket, newReader(false, limits), "target database");
  try {
    const params = { ...forwardableParams(clientParams), user: target.user, database: target.database };
    socket.write(frontend.startup(params));
    await authenticate(stream, target, timeoutMs);
    return { socket, stream, ...(await collectStartup(stream, timeoutMs)) };
  } catch (err) {
    stream.detach();
    socket.destroy();
    throw err instanceof PgClientError ? err : upstreamError(describe(err), err);
  }
}

function describe(err: unknown): string {
  return isProtocolError(err) ? err.message : "connection failed";
}

function rejected(body: Buffer): PgClientError {
  const f = parseNoticeFields(body);
  return new PgClientError(
    f.C ?? "08006",
    `the target database rejected the connection: ${f.M ?? "unknown error"}`,
  );
}

async function authenticate(stream: FrameStream, target: PgTarget, timeoutMs: number): Promise<void> {
  const auth = createAuthClient({ user: target.user, password: target.password });
  while (!auth.done) {
    const frame = stream.buffered() ?? (await stream.next(timeoutMs));
    if (frame.type === BackendCode.ErrorResponse) throw rejected(frame.body);
    if (frame.type !== BackendCode.Authentication)
      throw upstreamError("unexpected message during authentication");
    const msg = parseAuthentication(frame.body);
    const reply = await auth.handle(msg).catch((err: unknown) => {
      if (isProtocolError(err)) throw upstreamError(err.message, err);
      throw upstreamError("could not obtain the target credential", err);
    });
    if (reply) stream.socket.write(reply);
    if (msg.code === AuthCode.Ok) return;
  }
}

async function collectStartup(
  stream: FrameStream,
  timeoutMs: number,
): Promise<Omit<UpstreamSession, "socket" | "stream">> {
  const startupFrames: Buffer[] = [];
  let backendKey: BackendKeyData | undefined;
  for (;;) {
    const frame = stream.buffered() ?? (await stream.next(timeoutMs));
    switch (frame.type) {
      case BackendCode.ParameterStatus:
      case BackendCode.NoticeResponse:
        startupFrames.push(frame.raw);
        break;
      case BackendCode.BackendKeyData:
        backendKey = parseBackendKeyData(frame.body);
        break;
      case BackendCode.ErrorResponse:
        throw rejected(frame.body);
      case BackendCode.ReadyForQuery:
        return { startupFrames, backendKey, readyFrame: frame.raw };
      case BackendCode.NegotiateProtocolVersion:
        break;
      default:
        throw upstreamError(`unexpected message '${String.fromCharCode(frame.type)}' during startup`);
    }
  }
}
