import { isIP, connect as netConnect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { connect as tlsConnect } from "node:tls";
import { Capability, UTF8MB4_GENERAL_CI } from "./constants";
import { ProtocolError, ServerError } from "./errors";
import { parseErr, parseOk } from "./generic-packets";
import {
  type InitialHandshake,
  parseAuthMoreData,
  parseAuthSwitchRequest,
  parseInitialHandshake,
  serializeHandshakeResponse,
  serializeSslRequest,
} from "./handshake-packets";
import { PacketChannel } from "./packet-channel";
import { DEFAULT_MAX_PAYLOAD } from "./packet-reader";
import { type AuthContext, cachingSha2MoreData, initialAuthResponse } from "./upstream-auth";

export type TlsMode = "disable" | "prefer" | "require" | "verify-ca" | "verify-full";

export interface UpstreamOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  database?: string;
  /** Negotiated capabilities of the client side ({@link ClientLogin.capabilities}). */
  capabilities: number;
  /** Collation id; use the client's so values are encoded the same. Default utf8mb4_general_ci. */
  collation?: number;
  tls?: TlsMode;
  /** PEM CA bundle for verify-ca / verify-full. */
  ca?: string | Buffer;
  /** Name to verify (verify-full) and send as SNI; default `host`. */
  servername?: string;
  serverPublicKey?: string | Buffer;
  allowPublicKeyRetrieval?: boolean;
  attributes?: Record<string, string>;
  connectTimeoutMs?: number;
  maxPayload?: number;
}

/** An authenticated upstream connection, ready for the proxy engine. */
export interface UpstreamSession {
  socket: Duplex;
  leftover: Buffer[];
  serverVersion: string;
  /** The server's thread id (what KILL on the server needs). */
  threadId: number;
  /** Capabilities sent to the server. */
  capabilities: number;
  serverCapabilities: number;
  status: number;
  authPlugin: string;
  tls: boolean;
}

/** Flags whose meaning a relayed packet depends on; the upstream connection must use the client's values. */
export const RELAYED_CAPABILITIES =
  Capability.FOUND_ROWS |
  Capability.LONG_FLAG |
  Capability.IGNORE_SPACE |
  Capability.INTERACTIVE |
  Capability.TRANSACTIONS |
  Capability.MULTI_STATEMENTS |
  Capability.MULTI_RESULTS |
  Capability.PS_MULTI_RESULTS |
  Capability.DEPRECATE_EOF |
  Capability.SESSION_TRACK |
  Capability.LOCAL_FILES;

const BASE_CAPABILITIES =
  Capability.LONG_PASSWORD |
  Capability.PROTOCOL_41 |
  Capability.SECURE_CONNECTION |
  Capability.PLUGIN_AUTH |
  Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA;

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new ProtocolError("timeout", `connecting to ${host}:${port} timed out`));
    }, timeoutMs);
    s.once("connect", () => {
      clearTimeout(timer);
      s.setNoDelay(true);
      resolve(s);
    });
    s.once("error", (err) => {
      clearTimeout(timer);
      reject(new ProtocolError("connection_closed", `cannot connect to ${host}:${port}: ${err.message}`));
    });
  });
}

function upgrade(socket: Duplex, o: UpstreamOptions, timeoutMs: number): Promise<Duplex> {
  const mode = o.tls ?? "prefer";
  const verify = mode === "verify-ca" || mode === "verify-full";
  return new Promise((resolve, reject) => {
    const t = tlsConnect({
      socket,
      ...(o.servername || !isIP(o.host) ? { servername: o.servername ?? o.host } : {}),
      rejectUnauthorized: verify,
      ...(o.ca ? { ca: o.ca } : {}),
      ...(mode === "verify-ca" ? { checkServerIdentity: () => undefined } : {}),
    });
    const timer = setTimeout(() => {
      t.destroy();
      reject(new ProtocolError("timeout", "upstream TLS handshake timed out"));
    }, timeoutMs);
    t.once("secureConnect", () => {
      clearTimeout(timer);
      resolve(t);
    });
    t.once("error", (err) => {
      clearTimeout(timer);
      reject(new ProtocolError("connection_closed", `upstream TLS failed: ${err.message}`));
    });
  });
}

function capabilitiesFor(o: UpstreamOptions, greeting: InitialHandshake, tls: boolean): number {
  const relayed = o.capabilities & RELAYED_CAPABILITIES & ~Capability.INTERACTIVE;
  const missing = relayed & ~greeting.capabilities;
  if (missing) {
    throw new ProtocolError(
      "unsupported",
      `upstream lacks capabilities the client negotiated (0x${missing.toString(16)})`,
    );
  }
  let caps = BASE_CAPABILITIES | (o.capabilities & RELAYED_CAPABILITIES);
  if (greeting.capabilities & Capability.CONNECT_ATTRS) caps |= Capability.CONNECT_ATTRS;
  if (o.database) caps |= Capability.CONNECT_WITH_DB;
  if (tls) caps |= Capability.SSL;
  return caps >>> 0;
}

/**
 * Connects and logs in to the upstream server with the agent's credential: TCP, optional
 * TLS (per `tls` mode), HandshakeResponse41 with the negotiated capabilities, then the
 * auth plugin exchange (mysql_native_password, caching_sha2_password fast/full,
 * client_ed25519, mysql_clear_password over TLS). A server ERR rejects with `ServerError`.
 */
export async function connectUpstream(o: UpstreamOptions): Promise<UpstreamSession> {
  const timeout = o.connectTimeoutMs ?? 10_000;
  const tcp = await tcpConnect(o.host, o.port, timeout);
  try {
    return await login(tcp, o, timeout);
  } catch (err) {
    tcp.destroy();
    throw err;
  }
}

async function login(tcp: Socket, o: UpstreamOptions, timeout: number): Promise<UpstreamSession> {
  let channel = new PacketChannel(tcp, { maxPayload: 64 * 1024 });
  const first = await channel.read(timeout);
  if (first.payload[0] === 0xff) throw serverError(first.payload);
  const greeting = parseInitialHandshake(first.payload);
  const mode = o.tls ?? "prefer";
  const serverTls = (greeting.capabilities & Capability.SSL) !== 0;
  const useTls = mode !== "disable" && (serverTls || mode !== "prefer");
  if (useTls && !serverTls) throw new ProtocolError("tls_required", "upstream server does not support TLS");
  const caps = capabilitiesFor(o, greeting, useTls);
  const collation = o.collation ?? UTF8MB4_GENERAL_CI;
  const maxPacket = o.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  let seq = 1;
  if (useTls) {
    channel.write(seq++, serializeSslRequest(caps, maxPacket, collation));
    const { socket } = channel.release();
    channel = new PacketChannel(await upgrade(socket, o, timeout), { maxPayload: 64 * 1024 });
  }
  const ctx: AuthContext = {
    password: o.password,
    tls: useTls,
    ...(o.serverPublicKey ? { serverPublicKey: o.serverPublicKey } : {}),
    ...(o.allowPublicKeyRetrieval ? { allowPublicKeyRetrieval: true } : {}),
  };
  let plugin = greeting.authPluginName;
  let nonce = greeting.authData;
  const known = plugin === "mysql_native_password" || plugin === "caching_sha2_password";
  if (!known) plugin = "mysql_native_password";
  channel.write(
    seq,
    serializeHandshakeResponse({
      capabilities: caps,
      maxPacketSize: maxPacket,
      collation,
      username: o.user,
      authResponse: initialAuthResponse(plugin, nonce, ctx),
      ...(o.database ? { database: o.database } : {}),
      authPluginName: plugin,
      attributes: o.attributes ?? { _client_name: "sluice" },
    }),
  );
  const state = { awaitingKey: false };
  for (let round = 0; round < 8; round++) {
    const p = await channel.read(timeout);
    const reply = (payload: Buffer) => channel.write((p.seq + 1) & 0xff, payload);
    const head = p.payload[0];
    if (head === 0x00) {
      const ok = parseOk(p.payload, caps);
      const { socket, leftover } = channel.release();
      return {
        socket,
        leftover,
        serverVersion: greeting.serverVersion,
        threadId: greeting.connectionId,
        capabilities: caps,
        serverCapabilities: greeting.capabilities,
        status: ok.status,
        authPlugin: plugin,
        tls: useTls,
      };
    }
    if (head === 0xff) throw serverError(p.payload);
    if (head === 0xfe) {
      const sw = parseAuthSwitchRequest(p.payload);
      plugin = sw.pluginName;
      nonce = sw.pluginData;
      reply(initialAuthResponse(plugin, nonce, ctx));
    } else if (head === 0x01 && plugin === "caching_sha2_password") {
      const out = cachingSha2MoreData(parseAuthMoreData(p.payload), nonce, ctx, state);
      if (out) reply(out);
    } else {
      throw new ProtocolError(
        "unexpected_packet",
        `unexpected packet 0x${(head ?? 0).toString(16)} during authentication`,
      );
    }
  }
  throw new ProtocolError("auth_failed", "authentication did not finish");
}

function serverError(payload: Buffer): ServerError {
  const e = parseErr(payload);
  return new ServerError(e.errorCode, e.sqlState, e.message);
}
