import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import { Capability, ServerStatus, UTF8MB4_GENERAL_CI } from "./constants";
import { ProtocolError } from "./errors";
import { type ErrPacket, serializeErr, serializeOk } from "./generic-packets";
import {
  type HandshakeResponse,
  isSslRequest,
  parseHandshakeResponse,
  serializeAuthSwitchRequest,
  serializeInitialHandshake,
} from "./handshake-packets";
import { PacketChannel } from "./packet-channel";
import { withLeftover } from "./with-leftover";

/** Capabilities the agent offers a client (before TLS and LOAD DATA LOCAL are added). */
export const AGENT_CAPABILITIES =
  Capability.LONG_PASSWORD |
  Capability.FOUND_ROWS |
  Capability.LONG_FLAG |
  Capability.CONNECT_WITH_DB |
  Capability.IGNORE_SPACE |
  Capability.PROTOCOL_41 |
  Capability.INTERACTIVE |
  Capability.TRANSACTIONS |
  Capability.SECURE_CONNECTION |
  Capability.MULTI_STATEMENTS |
  Capability.MULTI_RESULTS |
  Capability.PS_MULTI_RESULTS |
  Capability.PLUGIN_AUTH |
  Capability.CONNECT_ATTRS |
  Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA |
  Capability.DEPRECATE_EOF;

export const CLEAR_PASSWORD_PLUGIN = "mysql_clear_password";

export interface ClientHandshakeOptions {
  /** Agent-chosen connection id shown to the client (and used by its KILL QUERY). */
  connectionId: number;
  /**
   * Version string in the greeting. MariaDB clients enable MariaDB-only behaviour when it
   * contains "MariaDB"; MySQL 8 clients key features off the leading number. Default
   * "8.0.36-sluice"; for a MariaDB upstream use e.g. "5.5.5-10.11.19-MariaDB-sluice".
   */
  serverVersion?: string;
  /** Upgrades the socket after an SSLRequest within `timeoutMs`; absent means TLS is not offered. */
  upgradeToTls?: (socket: Duplex, timeoutMs: number) => Promise<Duplex>;
  /** Accept the token over a connection without TLS. Default false: such logins get an ERR. */
  allowPlaintextPassword?: boolean;
  /** Offer CLIENT_LOCAL_FILES (LOAD DATA LOCAL INFILE). Default false. */
  allowLocalInfile?: boolean;
  /** The whole handshake's deadline, greeting to token (TLS included); default 10 s. */
  timeoutMs?: number;
  /**
   * The identity was proven before the protocol started (a tunnel grant): whatever the
   * client answers to the greeting is accepted without asking for a token, and `token` is "".
   */
  preauthorized?: boolean;
}

/** What the client sent, after the token was collected. The token is not enumerable, so it is not logged by accident. */
export interface ClientLogin {
  readonly user: string;
  readonly token: string;
  readonly database: string | undefined;
  readonly attributes: Readonly<Record<string, string>>;
  /** Client capabilities ∩ agent capabilities: what both connections must use. */
  readonly capabilities: number;
  readonly clientCapabilities: number;
  readonly collation: number;
  readonly tls: boolean;
  /** Writes OK and hands the connection to the caller for the command phase. */
  accept(options?: { status?: number }): ClientSession;
  /** Writes ERR (e.g. 1045 access denied) and closes the connection. */
  reject(err: ErrPacket): void;
}

/** A client connection after a successful login, ready for the proxy engine. */
export interface ClientSession {
  socket: Duplex;
  leftover: Buffer[];
  capabilities: number;
  connectionId: number;
}

/** What MySQL and MariaDB answer to a HandshakeResponse they cannot read. */
export const BAD_HANDSHAKE: ErrPacket = { errorCode: 1043, sqlState: "08S01", message: "Bad handshake" };

export const ACCESS_DENIED = (user: string): ErrPacket => ({
  errorCode: 1045,
  sqlState: "28000",
  message: `Access denied for user '${user.slice(0, 64)}'`,
});

function nonce(): Buffer {
  const b = randomBytes(20);
  for (let i = 0; i < b.length; i++) b[i] = (b[i]! % 94) + 33;
  return b;
}

/**
 * Runs the server side of the handshake on a fresh client socket: greeting, optional TLS
 * upgrade, HandshakeResponse41, then an AuthSwitchRequest to mysql_clear_password to
 * collect the Sluice token. The caller checks the token and calls `accept` or `reject`.
 * Without TLS (and without `allowPlaintextPassword`) the client gets ERR 3159 and this throws.
 */
export async function readClientLogin(socket: Duplex, options: ClientHandshakeOptions): Promise<ClientLogin> {
  // One deadline for the whole login, however the client paces its packets.
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  const timeout = () => Math.max(1, deadline - Date.now());
  let agentCaps = AGENT_CAPABILITIES;
  if (options.upgradeToTls) agentCaps |= Capability.SSL;
  if (options.allowLocalInfile) agentCaps |= Capability.LOCAL_FILES;
  let channel = new PacketChannel(socket);
  const authData = nonce();
  channel.write(
    0,
    serializeInitialHandshake({
      serverVersion: options.serverVersion ?? "8.0.36-sluice",
      connectionId: options.connectionId,
      authData,
      capabilities: agentCaps,
      charset: UTF8MB4_GENERAL_CI,
      status: ServerStatus.AUTOCOMMIT,
      authPluginName: "mysql_native_password",
      mariadbCapabilities: 0,
    }),
  );
  let packet = await channel.read(timeout());
  let tls = false;
  if (isSslRequest(packet.payload)) {
    if (!options.upgradeToTls)
      throw new ProtocolError("unsupported", "client asked for TLS, which is not offered");
    const { socket: plain, leftover } = channel.release();
    channel = new PacketChannel(await options.upgradeToTls(withLeftover(plain, leftover), timeout()));
    tls = true;
    packet = await channel.read(timeout());
  }
  let seq = (packet.seq + 1) & 0xff;
  let response: HandshakeResponse;
  try {
    response = parseHandshakeResponse(packet.payload);
  } catch (err) {
    channel.write(seq, serializeErr(BAD_HANDSHAKE));
    channel.socket.end();
    throw err;
  }
  const fail = (err: ErrPacket, code: "tls_required" | "auth_failed", message: string): never => {
    channel.write(seq, serializeErr(err));
    channel.socket.end();
    throw new ProtocolError(code, message);
  };
  if (options.preauthorized) {
    return makeLogin(channel, response, "", agentCaps, tls, seq, options.connectionId);
  }
  if (!tls && !options.allowPlaintextPassword) {
    fail(
      {
        errorCode: 3159,
        sqlState: "08004",
        message: "Connections without TLS are not allowed; connect with SSL",
      },
      "tls_required",
      "client connected without TLS",
    );
  }
  let token: Buffer;
  if (response.authPluginName === CLEAR_PASSWORD_PLUGIN && response.authResponse.length > 0) {
    token = response.authResponse;
  } else {
    channel.write(
      seq,
      serializeAuthSwitchRequest({ pluginName: CLEAR_PASSWORD_PLUGIN, pluginData: Buffer.alloc(0) }),
    );
    const reply = await channel.read(timeout());
    seq = (reply.seq + 1) & 0xff;
    token = reply.payload;
  }
  if (token.length > 0 && token[token.length - 1] === 0) token = token.subarray(0, token.length - 1);
  if (token.length === 0) fail(ACCESS_DENIED(response.username), "auth_failed", "client sent no token");
  return makeLogin(channel, response, token.toString("utf8"), agentCaps, tls, seq, options.connectionId);
}

function makeLogin(
  channel: PacketChannel,
  response: HandshakeResponse,
  token: string,
  agentCaps: number,
  tls: boolean,
  seq: number,
  connectionId: number,
): ClientLogin {
  const capabilities = (response.capabilities & agentCaps) >>> 0;
  const login: ClientLogin = {
    user: response.username,
    token: "",
    database: response.capabilities & Capability.CONNECT_WITH_DB ? response.database || undefined : undefined,
    attributes: response.attributes,
    capabilities,
    clientCapabilities: response.capabilities,
    collation: response.collation,
    tls,
    accept(options = {}) {
      channel.write(seq, serializeOk({ status: options.status ?? ServerStatus.AUTOCOMMIT }, capabilities));
      const { socket, leftover } = channel.release();
      return { socket, leftover, capabilities, connectionId };
    },
    reject(err) {
      channel.write(seq, serializeErr(err));
      const { socket } = channel.release();
      socket.end();
      // The client may never close its side: the socket goes once the ERR had a moment to leave.
      setTimeout(() => socket.destroy(), 1_000).unref();
    },
  };
  Object.defineProperty(login, "token", { value: token, enumerable: false });
  return login;
}
