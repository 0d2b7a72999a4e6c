import { describe, expect, it } from "vitest";
import { Capability } from "./constants";
import { ProtocolError } from "./errors";
import {
  isSslRequest,
  parseAuthSwitchRequest,
  parseHandshakeResponse,
  parseInitialHandshake,
  serializeAuthSwitchRequest,
  serializeHandshakeResponse,
  serializeInitialHandshake,
  serializeSslRequest,
} from "./handshake-packets";
import { PayloadWriter } from "./payload-writer";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

describe("Initial Handshake v10", () => {
  it("parses a hand-built MariaDB greeting (20-byte nonce in two parts, plugin name)", () => {
    const payload = Buffer.concat([
      hex("0a"),
      Buffer.from("5.5.5-10.11.19-MariaDB\0"),
      hex("2a000000"),
      Buffer.from("abcdefgh"),
      hex("00 fef7 2d 0200 ff81 15 000000000000 1d000000"),
      Buffer.from("ijklmnopqrst\0"),
      Buffer.from("mysql_native_password\0"),
    ]);
    const h = parseInitialHandshake(payload);
    expect(h.serverVersion).toBe("5.5.5-10.11.19-MariaDB");
    expect(h.connectionId).toBe(42);
    expect(h.authData.toString()).toBe("abcdefghijklmnopqrst");
    expect(h.capabilities & Capability.PLUGIN_AUTH).toBeTruthy();
    expect(h.capabilities & Capability.LONG_PASSWORD).toBe(0);
    expect(h.mariadbCapabilities).toBe(0x1d);
    expect(h.authPluginName).toBe("mysql_native_password");
  });

  it("round-trips what the agent sends", () => {
    const g = {
      serverVersion: "8.0.36-sluice",
      connectionId: 7,
      authData: Buffer.from("01234567890123456789"),
      capabilities:
        Capability.PROTOCOL_41 |
        Capability.SECURE_CONNECTION |
        Capability.PLUGIN_AUTH |
        Capability.DEPRECATE_EOF |
        1,
      charset: 45,
      status: 2,
      authPluginName: "mysql_native_password",
      mariadbCapabilities: 0,
    };
    expect(parseInitialHandshake(serializeInitialHandshake(g))).toEqual({ ...g, protocolVersion: 10 });
  });
});

describe("HandshakeResponse41 and SSLRequest", () => {
  const caps =
    Capability.PROTOCOL_41 |
    Capability.SECURE_CONNECTION |
    Capability.PLUGIN_AUTH |
    Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA |
    Capability.CONNECT_WITH_DB |
    Capability.CONNECT_ATTRS;

  it("parses a hand-built response with database, plugin and attributes", () => {
    const payload = new PayloadWriter()
      .u32(caps)
      .u32(0x1000000)
      .u8(45)
      .zeros(23)
      .nulString("alice")
      .lenencBytes("tok")
      .nulString("shop")
      .nulString("mysql_clear_password")
      .lenencBytes(new PayloadWriter().lenencBytes("_client_name").lenencBytes("mysql2").build())
      .build();
    expect(parseHandshakeResponse(payload)).toEqual({
      capabilities: caps,
      maxPacketSize: 0x1000000,
      collation: 45,
      username: "alice",
      authResponse: Buffer.from("tok"),
      database: "shop",
      authPluginName: "mysql_clear_password",
      attributes: { _client_name: "mysql2" },
    });
    expect(parseHandshakeResponse(serializeHandshakeResponse(parseHandshakeResponse(payload))).username).toBe(
      "alice",
    );
  });

  it("bounds user names and connection attributes, and requires protocol 4.1", () => {
    const base = () => new PayloadWriter().u32(caps).u32(0).u8(45).zeros(23);
    expect(() => parseHandshakeResponse(base().nulString("x".repeat(300)).build())).toThrowError(
      ProtocolError,
    );
    const attrs = new PayloadWriter();
    for (let i = 0; i < 70; i++) attrs.lenencBytes(`k${i}`).lenencBytes("v");
    const many = base()
      .nulString("a")
      .lenencBytes("t")
      .nulString("db")
      .nulString("p")
      .lenencBytes(attrs.build())
      .build();
    expect(() => parseHandshakeResponse(many)).toThrowError(/too many connection attributes/);
    const old = new PayloadWriter()
      .u32(Capability.SECURE_CONNECTION)
      .u32(0)
      .u8(8)
      .zeros(23)
      .nulString("a")
      .build();
    expect(() => parseHandshakeResponse(old)).toThrowError(/protocol 4.1/);
  });

  it("recognizes an SSLRequest by its 32-byte length and CLIENT_SSL", () => {
    const ssl = serializeSslRequest(caps, 1 << 24, 45);
    expect(ssl.length).toBe(32);
    expect(isSslRequest(ssl)).toBe(true);
    expect(isSslRequest(Buffer.concat([ssl, Buffer.from("a\0")]))).toBe(false);
  });

  it("writes and reads AuthSwitchRequest", () => {
    const sw = serializeAuthSwitchRequest({
      pluginName: "mysql_clear_password",
      pluginData: Buffer.alloc(0),
    });
    expect(sw.toString("latin1")).toBe("\xfemysql_clear_password\0");
    expect(
      parseAuthSwitchRequest(
        Buffer.concat([Buffer.from("\xfeclient_ed25519\0", "latin1"), Buffer.alloc(32, 1)]),
      ),
    ).toEqual({
      pluginName: "client_ed25519",
      pluginData: Buffer.alloc(32, 1),
    });
  });
});
