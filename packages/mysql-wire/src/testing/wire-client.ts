import { Command } from "../constants";
import { PacketChannel } from "../packet-channel";

/** Sends COM_PING on an authenticated session and returns the first byte of the reply (0x00 = OK). */
export async function ping(session: {
  socket: import("node:stream").Duplex;
  leftover: Buffer[];
}): Promise<number> {
  const channel = new PacketChannel(session.socket, { leftover: session.leftover });
  channel.write(0, Buffer.from([Command.PING]));
  const reply = await channel.read(5000);
  const { leftover } = channel.release();
  session.leftover = leftover;
  return reply.payload[0] ?? -1;
}
