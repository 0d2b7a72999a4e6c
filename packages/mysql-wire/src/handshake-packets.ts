import { Capability } from "./constants";
import { ProtocolError } from "./errors";
import { PayloadReader } from "./payload-reader";
import { PayloadWriter } from "./payload-writer";

/** Protocol::HandshakeV10, the server's greeting. */
export interface InitialHandshake {
  protocolVersion: number;
  serverVersion: string;
  connectionId: number;
  /** The full auth-plugin-data (nonce), usually 20 bytes. */
  authData: Buffer;
  capabilities: number;
  charset: number;
  status: number;
  authPluginName: string;
  /** MariaDB extended capabilities (reserved bytes), 0 for MySQL. */
  mariadbCapabilities: number;
}

export function serializeInitialHandshake(h: Omit<InitialHandshake, "protocolVersion">): Buffer {
  if (h.authData.length < 8) throw new RangeError("auth data must be at least 8 bytes");
  const part2 = Buffer.concat([h.authData.subarray(8), Buffer.from([0])]);
  return new PayloadWriter()
    .u8(10)
    .nulString(h.serverVersion)
    .u32(h.connectionId)
    .bytes(h.authData.subarray(0, 8))
    .u8(0)
    .u16(h.capabilities & 0xffff)
    .u8(h.charset)
    .u16(h.status)
    .u16((h.capabilities >>> 16) & 0xffff)
    .u8(h.authData.length + 1)
    .zeros(6)
    .u32(h.mariadbCapabilities)
    .bytes(part2)
    .nulString(h.authPluginName)
    .build();
}

export function parseInitialHandshake(payload: Buffer): InitialHandshake {
  const r = new PayloadReader(payload);
  const protocolVersion = r.u8();
  if (protocolVersion !== 10) {
    throw new ProtocolError("unsupported", `unsupported handshake protocol version ${protocolVersion}`);
  }
  const serverVersion = r.nulString(256);
  const connectionId = r.u32();
  const part1 = r.bytes(8);
  r.skip(1);
  let capabilities = r.u16();
  let charset = 0;
  let status = 0;
  let authLength = 0;
  let mariadbCapabilities = 0;
  let part2: Buffer = Buffer.alloc(0);
  let authPluginName = "mysql_native_password";
  if (!r.atEnd()) {
    charset = r.u8();
    status = r.u16();
    capabilities |= r.u16() << 16;
    capabilities >>>= 0;
    authLength = r.u8();
    r.skip(6);
    const ext = r.u32();
    if (!(capabilities & Capability.LONG_PASSWORD)) mariadbCapabilities = ext;
    if (capabilities & Capability.SECURE_CONNECTION) {
      part2 = r.bytes(Math.min(r.remaining, Math.max(13, authLength - 8)));
      if (part2.length > 0 && part2[part2.length - 1] === 0) part2 = part2.subarray(0, part2.length - 1);
    }
    if (capabilities & Capability.PLUGIN_AUTH && !r.atEnd()) {
      authPluginName = r.restWithoutNul().subarray(0, 64).toString("utf8");
    }
  }
  return {
    protocolVersion,
    serverVersion,
    connectionId,
    authData: Buffer.concat([part1, part2]),
    capabilities,
    charset,
    status,
    authPluginName,
    mariadbCapabilities,
  };
}

/** Protocol::HandshakeResponse41 (and, without username, SSLRequest). */
export interface HandshakeResponse {
  capabilities: number;
  maxPacketSize: number;
  /** Collation id the client asked for. */
  collation: number;
  username: string;
  authResponse: Buffer;
  database?: string;
  authPluginName?: string;
  attributes: Record<string, string>;
}

/** Bounds for parsing a client's handshake response. */
export const HANDSHAKE_LIMITS = {
  username: 256,
  authResponse: 16 * 1024,
  database: 256,
  pluginName: 64,
  attributesTotal: 64 * 1024,
  attributeCount: 64,
  attributeLength: 1024,
} as const;

/** True when the payload is an SSLRequest (the 32-byte prefix of a response with CLIENT_SSL). */
export function isSslRequest(payload: Buffer): boolean {
  return payload.length === 32 && (payload.readUInt32LE(0) & Capability.SSL) !== 0;
}

export function serializeSslRequest(capabilities: number, maxPacketSize: number, collation: number): Buffer {
  return new PayloadWriter()
    .u32(capabilities | Capability.SSL)
    .u32(maxPacketSize)
    .u8(collation)
    .zeros(23)
    .build();
}

export function parseHandshakeResponse(payload: Buffer): HandshakeResponse {
  const L = HANDSHAKE_LIMITS;
  const r = new PayloadReader(payload);
  const capabilities = r.u32();
  if (!(capabilities & Capability.PROTOCOL_41)) {
    throw new ProtocolError("unsupported", "client does not support protocol 4.1");
  }
  const maxPacketSize = r.u32();
  const collation = r.u8();
  r.skip(23);
  const username = r.nulString(L.username);
  let authResponse: Buffer;
  if (capabilities & Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA) authResponse = r.lenencBytes();
  else if (capabilities & Capability.SECURE_CONNECTION) authResponse = r.bytes(r.u8());
  else authResponse = r.nulBytes(L.authResponse);
  if (authResponse.length > L.authResponse)
    throw new ProtocolError("malformed_packet", "auth response too long");
  const out: HandshakeResponse = {
    capabilities,
    maxPacketSize,
    collation,
    username,
    authResponse,
    attributes: {},
  };
  if (capabilities & Capability.CONNECT_WITH_DB && !r.atEnd()) out.database = r.nulString(L.database);
  if (capabilities & Capability.PLUGIN_AUTH && !r.atEnd()) out.authPluginName = r.nulString(L.pluginName);
  if (capabilities & Capability.CONNECT_ATTRS && !r.atEnd()) out.attributes = parseAttributes(r);
  return out;
}

function parseAttributes(r: PayloadReader): Record<string, string> {
  const L = HANDSHAKE_LIMITS;
  const total = r.lenencInt();
  if (total > L.attributesTotal)
    throw new ProtocolError("malformed_packet", "connection attributes too long");
  const sub = new PayloadReader(r.bytes(total));
  const attrs: Record<string, string> = Object.create(null);
  let count = 0;
  while (!sub.atEnd()) {
    if (++count > L.attributeCount)
      throw new ProtocolError("malformed_packet", "too many connection attributes");
    const key = sub.lenencBytes();
    const value = sub.lenencBytes();
    if (key.length > L.attributeLength || value.length > L.attributeLength) {
      throw new ProtocolError("malformed_packet", "connection attribute too long");
    }
    attrs[key.toString("utf8")] = value.toString("utf8");
  }
  return attrs;
}

export function serializeHandshakeResponse(h: HandshakeResponse): Buffer {
  const w = new PayloadWriter()
    .u32(h.capabilities)
    .u32(h.maxPacketSize)
    .u8(h.collation)
    .zeros(23)
    .nulString(h.username);
  if (h.capabilities & Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA) w.lenencBytes(h.authResponse);
  else w.u8(h.authResponse.length).bytes(h.authResponse);
  if (h.capabilities & Capability.CONNECT_WITH_DB) w.nulString(h.database ?? "");
  if (h.capabilities & Capability.PLUGIN_AUTH) w.nulString(h.authPluginName ?? "");
  if (h.capabilities & Capability.CONNECT_ATTRS) {
    const attrs = new PayloadWriter();
    for (const [k, v] of Object.entries(h.attributes)) attrs.lenencBytes(k).lenencBytes(v);
    w.lenencBytes(attrs.build());
  }
  return w.build();
}

export interface AuthSwitchRequest {
  pluginName: string;
  pluginData: Buffer;
}

export function serializeAuthSwitchRequest(req: AuthSwitchRequest): Buffer {
  return new PayloadWriter().u8(0xfe).nulString(req.pluginName).bytes(req.pluginData).build();
}

export function parseAuthSwitchRequest(payload: Buffer): AuthSwitchRequest {
  const r = new PayloadReader(payload);
  if (r.u8() !== 0xfe) throw new ProtocolError("malformed_packet", "not an AuthSwitchRequest");
  if (r.atEnd()) return { pluginName: "mysql_old_password", pluginData: Buffer.alloc(0) };
  return { pluginName: r.nulString(64), pluginData: r.rest() };
}

/** Data of an AuthMoreData packet (0x01 header). */
export function parseAuthMoreData(payload: Buffer): Buffer {
  if (payload[0] !== 0x01) throw new ProtocolError("malformed_packet", "not an AuthMoreData packet");
  return payload.subarray(1);
}
