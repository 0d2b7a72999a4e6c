import { connect } from "node:net";
import { Capability } from "../constants";
import { serializeHandshakeResponse } from "../handshake-packets";
import { PacketChannel } from "../packet-channel";
import { CLEAR_PASSWORD_PLUGIN } from "../server-handshake";

/** A bare client that logs in with mysql_clear_password over plain TCP and returns the raw socket. */
export async function rawLogin(
  port: number,
  token: string,
  database: string,
  extra: { username?: string } = {},
) {
  const socket = connect({ host: "127.0.0.1", port });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const ch = new PacketChannel(socket);
  await ch.read(5000);
  const caps =
    Capability.PROTOCOL_41 |
    Capability.SECURE_CONNECTION |
    Capability.PLUGIN_AUTH |
    Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA |
    Capability.CONNECT_WITH_DB |
    Capability.DEPRECATE_EOF |
    Capability.LONG_PASSWORD |
    Capability.TRANSACTIONS;
  ch.write(
    1,
    serializeHandshakeResponse({
      capabilities: caps,
      maxPacketSize: 1 << 24,
      collation: 45,
      username: extra.username ?? "raw",
      authResponse: Buffer.from(`${token}\0`),
      database,
      authPluginName: CLEAR_PASSWORD_PLUGIN,
      attributes: {},
    }),
  );
  const reply = await ch.read(5000);
  const { leftover } = ch.release();
  return { socket, reply: reply.payload, leftover };
}
