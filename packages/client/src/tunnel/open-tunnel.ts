import { isIP } from "node:net";
import tls from "node:tls";
import { encodeRequest, MAX_PREAMBLE, parseReply } from "@sluice/tunnel";
import { networkCodes } from "../api-client";
import { CliError, ExitCode } from "../errors";

export const TUNNEL_TIMEOUT_MS = 15_000;

export interface TunnelTarget {
  agentName: string;
  host: string;
  port: number;
  /** The only CA trusted for the agent's certificate. */
  caPem: string;
  connection: string;
  grant: string;
  timeoutMs?: number;
}

export interface OpenedTunnel {
  /** Paused; its readable side starts with the target protocol's first bytes. */
  socket: tls.TLSSocket;
  sessionId: string;
}

/** The agent answered the preamble with `ERR <code> <message>`. */
export class TunnelRefusedError extends CliError {
  readonly code: string;

  constructor(agentName: string, code: string, message: string) {
    super(`agent ${agentName} refused the tunnel: ${message}`, { exitCode: ExitCode.unreachable });
    this.name = "TunnelRefusedError";
    this.code = code;
  }
}

const untrustedCodes = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * Opens one TLS connection to an agent's tunnel endpoint, trusting only the control
 * plane's CA, sends the preamble and waits for the agent's answer. Bytes that arrived
 * with the answer are put back, so the returned socket carries the whole protocol stream.
 */
export function openTunnel(target: TunnelTarget): Promise<OpenedTunnel> {
  const where = `agent ${target.agentName} at ${target.host}:${target.port}`;
  const timeoutMs = target.timeoutMs ?? TUNNEL_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: target.host,
      port: target.port,
      ca: [target.caPem],
      minVersion: "TLSv1.2",
      ...(isIP(target.host) === 0 ? { servername: target.host } : {}),
    });
    let buf = Buffer.alloc(0);
    let settled = false;

    const cleanup = () => {
      settled = true;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("close", onClose);
    };
    const fail = (err: CliError) => {
      if (settled) return;
      cleanup();
      socket.on("error", () => {});
      socket.destroy();
      reject(err);
    };
    const onError = (err: NodeJS.ErrnoException) => fail(describeTunnelError(where, err));
    const onClose = () => fail(tunnelError(`${where} closed the tunnel before answering`));
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        if (buf.length > MAX_PREAMBLE) fail(tunnelError(`${where} sent an invalid tunnel answer`));
        return;
      }
      const reply = parseReply(buf.subarray(0, nl).toString("utf8"));
      if (!reply.ok) {
        fail(new TunnelRefusedError(target.agentName, reply.code, reply.message));
        return;
      }
      cleanup();
      socket.pause();
      const rest = buf.subarray(nl + 1);
      if (rest.length > 0) socket.unshift(rest);
      resolve({ socket, sessionId: reply.sessionId });
    };
    const timer = setTimeout(
      () => fail(tunnelError(`${where} did not answer within ${timeoutMs / 1000}s`)),
      timeoutMs,
    );

    socket.once("secureConnect", () => {
      socket.write(encodeRequest({ connection: target.connection, grant: target.grant }));
    });
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("close", onClose);
  });
}

function tunnelError(message: string, cause?: unknown): CliError {
  return new CliError(message, { exitCode: ExitCode.unreachable, cause });
}

/** One clear line for a failed connection or TLS handshake to an agent. */
export function describeTunnelError(where: string, err: NodeJS.ErrnoException): CliError {
  const code = err.code ?? "";
  if (untrustedCodes.has(code)) {
    return tunnelError(
      `the TLS certificate of ${where} is not trusted (it must be issued by the control plane's CA): ${err.message}`,
      err,
    );
  }
  const text = networkCodes[code];
  if (text) return tunnelError(`cannot reach ${where}: ${text} (${code})`, err);
  if (code.startsWith("ERR_SSL") || code.startsWith("ERR_TLS") || code === "EPROTO") {
    return tunnelError(`TLS handshake with ${where} failed: ${err.message}`, err);
  }
  return tunnelError(`cannot reach ${where}: ${err.message}`, err);
}
