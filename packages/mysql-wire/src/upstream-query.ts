import type { UpstreamSession } from "./client-handshake";
import { Command } from "./constants";
import { ServerError } from "./errors";
import { PacketChannel } from "./packet-channel";
import { ResponseTracker } from "./response-tracker";
import { decodeTextRow } from "./rows";

/** Most rows a setup query may return; it is a lookup, not a result to relay. */
const MAX_ROWS = 10_000;

/**
 * Runs one text query on an authenticated upstream connection before the command phase
 * (e.g. `SELECT @@SESSION.sql_mode`, which decides how the server parses statement text)
 * and returns its rows as text. The session comes back with whatever was read ahead, ready
 * for the proxy engine.
 */
export async function upstreamQuery(
  upstream: UpstreamSession,
  sql: string,
  timeoutMs = 10_000,
): Promise<{ rows: (string | null)[][]; upstream: UpstreamSession }> {
  const channel = new PacketChannel(upstream.socket, {
    leftover: upstream.leftover,
    maxPayload: 1024 * 1024,
  });
  const tracker = new ResponseTracker(upstream.capabilities);
  channel.write(0, Buffer.concat([Buffer.from([Command.QUERY]), Buffer.from(sql, "utf8")]));
  tracker.start("result");
  const rows: (string | null)[][] = [];
  try {
    while (!tracker.done) {
      const packet = await channel.read(timeoutMs);
      const r = tracker.classify(packet.payload);
      if (r.kind === "err") throw new ServerError(r.err.errorCode, r.err.sqlState, r.err.message);
      if (r.kind === "local_infile") throw new ServerError(1148, "42000", "unexpected LOCAL INFILE request");
      if (r.kind === "row" && rows.length < MAX_ROWS) {
        rows.push(
          decodeTextRow(packet.payload, tracker.columns.length).map((b) =>
            b === null ? null : b.toString("utf8"),
          ),
        );
      }
    }
  } catch (err) {
    channel.release();
    throw err;
  }
  const { socket, leftover } = channel.release();
  return { rows, upstream: { ...upstream, socket, leftover } };
}
