/**
 * The tunnel preamble, sent by the CLI inside TLS before any payload bytes:
 *   client → agent:  "SLUICE/1 <connection-name> <grant>\n"
 *   agent → client:  "OK <session-id>\n"  or  "ERR <code> <message>\n"
 * After OK, the connection carries the target protocol's raw bytes.
 */
export const TUNNEL_MAGIC = "SLUICE/1";
export const MAX_PREAMBLE = 8192;

export interface TunnelRequest {
  connection: string;
  grant: string;
}

export type PreambleResult = { request: TunnelRequest; rest: Buffer } | { error: string } | undefined;

/** Parses the first line once complete; undefined means more bytes are needed. */
export function parsePreamble(buf: Buffer): PreambleResult {
  const nl = buf.indexOf(0x0a);
  if (nl < 0) return buf.length > MAX_PREAMBLE ? { error: "tunnel preamble too long" } : undefined;
  if (nl > MAX_PREAMBLE) return { error: "tunnel preamble too long" };
  const parts = buf.subarray(0, nl).toString("utf8").trim().split(" ");
  if (parts.length !== 3 || parts[0] !== TUNNEL_MAGIC || !parts[1] || !parts[2]) {
    return { error: "not a Sluice tunnel request" };
  }
  return { request: { connection: parts[1], grant: parts[2] }, rest: buf.subarray(nl + 1) };
}

export function encodeRequest(req: TunnelRequest): Buffer {
  return Buffer.from(`${TUNNEL_MAGIC} ${req.connection} ${req.grant}\n`);
}

export function encodeReply(
  reply: { ok: true; sessionId: string } | { ok: false; code: string; message: string },
): Buffer {
  return Buffer.from(
    reply.ok ? `OK ${reply.sessionId}\n` : `ERR ${reply.code} ${reply.message.replace(/\n/g, " ")}\n`,
  );
}

export function parseReply(
  line: string,
): { ok: true; sessionId: string } | { ok: false; code: string; message: string } {
  const [head, code, ...rest] = line.trim().split(" ");
  if (head === "OK" && code) return { ok: true, sessionId: code };
  return { ok: false, code: code ?? "unknown", message: rest.join(" ") || "tunnel refused" };
}
