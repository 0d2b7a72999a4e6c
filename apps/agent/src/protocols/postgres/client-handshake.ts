import type net from "node:net";
import type { Duplex } from "node:stream";
import tls from "node:tls";
import {
  backend,
  FrontendCode,
  parsePasswordMessage,
  parseStartupFrame,
  StartupCode,
  type StartupFrame,
} from "@sluice/pg-wire";
import { FrameStream, newReader } from "./frame-stream";
import { PgClientError, type PgClientOptions, type PgProxyDeps, SilentClose } from "./pg-proxy-types";
import { ignore } from "./upstream-connect";

export type ClientHello =
  /** `socket` is the stream the request came on (TLS when the client upgraded). */
  | { kind: "cancel"; processId: number; secretKey: Buffer; socket: Duplex }
  | { kind: "session"; stream: FrameStream; params: Record<string, string>; password: string; tls: boolean };

type HandshakeDeps = Pick<PgProxyDeps, "limits" | "tls" | "requireTls"> & PgClientOptions;

const protocolViolation = (message: string) => new PgClientError("08P01", message);

async function upgrade(
  stream: FrameStream,
  context: tls.SecureContext,
  timeoutMs: number,
): Promise<tls.TLSSocket> {
  // Bytes sent after SSLRequest but before the handshake would be unencrypted data
  // injected ahead of TLS: refuse them.
  if (stream.reader.buffered > 0) throw protocolViolation("unexpected data after SSLRequest");
  stream.detach();
  const raw = stream.socket as net.Socket;
  raw.write("S");
  const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: context });
  secure.on("error", ignore);
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      secure.once("secure", resolve);
      secure.once("error", reject);
      secure.once("close", () => reject(new Error("connection closed during the TLS handshake")));
      timer = setTimeout(() => reject(new Error("timed out during the TLS handshake")), timeoutMs);
    });
  } catch (err) {
    // the TLS socket owns the connection now: closing the raw socket would not close it
    secure.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return secure;
}

/** A startup-phase frame; a malformed CancelRequest is closed without a reply, as PostgreSQL does. */
function startupFrame(body: Buffer): StartupFrame {
  try {
    return parseStartupFrame(body);
  } catch (err) {
    if (body.length >= 4 && body.readInt32BE(0) === StartupCode.CancelRequest)
      throw new SilentClose((err as Error).message);
    throw err;
  }
}

/** Minor versions above 3.0 are answered with NegotiateProtocolVersion (3.0), as PostgreSQL does. */
function checkVersion(frame: Extract<StartupFrame, { kind: "startup" }>, socket: Duplex): void {
  if (frame.major !== 3) {
    throw new PgClientError(
      "0A000",
      `unsupported frontend protocol ${frame.major}.${frame.minor}: the server supports 3.0`,
    );
  }
  const unrecognized = Object.keys(frame.params).filter((k) => k.startsWith("_pq_."));
  if (frame.minor > 0 || unrecognized.length > 0)
    socket.write(backend.negotiateProtocolVersion(0, unrecognized));
}

/**
 * Runs the client side of the startup phase: SSL/GSS negotiation, StartupMessage and
 * the cleartext password request that carries the Sluice token. Returns the client's
 * parameters and token, or the cancel request the connection was opened for. The whole
 * phase has one deadline, however many requests the client sends. `current.socket` is
 * kept on the stream errors must be written to (the TLS socket once upgraded).
 */
export async function clientHandshake(
  socket: Duplex,
  deps: HandshakeDeps,
  timeoutMs: number,
  current: { socket: Duplex } = { socket },
): Promise<ClientHello> {
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  const reader = newReader(true, deps.limits);
  if (deps.initial) reader.push(deps.initial);
  let stream = new FrameStream(socket, reader, "startup message");
  let encrypted = false;
  for (;;) {
    const frame = startupFrame((stream.buffered() ?? (await stream.next(left()))).body);
    if (frame.kind === "cancel") {
      stream.detach();
      return { ...frame, socket: stream.socket };
    }
    if (frame.kind === "gssenc" || (frame.kind === "ssl" && (!deps.tls || encrypted))) {
      stream.socket.write("N");
      continue;
    }
    if (frame.kind === "ssl") {
      const secure = await upgrade(stream, deps.tls!.context, left());
      current.socket = secure;
      stream = new FrameStream(secure, newReader(true, deps.limits), "startup message");
      encrypted = true;
      continue;
    }
    if (deps.requireTls && !encrypted)
      throw new PgClientError("28000", "this listener requires TLS (sslmode=require)");
    checkVersion(frame, stream.socket);
    if (deps.preauthorized) {
      stream.reader.setStartup(false);
      return { kind: "session", stream, params: frame.params, password: "", tls: encrypted };
    }
    const password = await askPassword(stream, deps.limits, left());
    return { kind: "session", stream, params: frame.params, password, tls: encrypted };
  }
}

async function askPassword(
  stream: FrameStream,
  limits: HandshakeDeps["limits"],
  timeoutMs: number,
): Promise<string> {
  stream.socket.write(backend.authenticationCleartextPassword());
  stream.expecting("password message");
  stream.reader.setStartup(false);
  stream.reader.setMaxFrameLength(limits.maxStartupFrame);
  const frame = stream.buffered() ?? (await stream.next(timeoutMs));
  stream.reader.setMaxFrameLength(limits.maxFrame);
  if (frame.type !== FrontendCode.Password) {
    throw protocolViolation(`expected a password message, got '${String.fromCharCode(frame.type)}'`);
  }
  return parsePasswordMessage(frame.body);
}
