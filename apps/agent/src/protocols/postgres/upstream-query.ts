import { BackendCode, DataRowReader, frontend, parseNoticeFields } from "@sluice/pg-wire";
import { PgClientError } from "./pg-proxy-types";
import type { UpstreamSession } from "./upstream-connect";

/**
 * Runs one simple query of the agent's own on the upstream before the client's traffic
 * is relayed (e.g. the catalog lookups masking needs). Rows come back as text.
 */
export async function upstreamQuery(
  upstream: UpstreamSession,
  sql: string,
  timeoutMs: number,
): Promise<(string | null)[][]> {
  upstream.socket.write(frontend.query(sql));
  const rows: (string | null)[][] = [];
  const reader = new DataRowReader();
  let error: string | undefined;
  for (;;) {
    const f = upstream.stream.buffered() ?? (await upstream.stream.next(timeoutMs));
    if (f.type === BackendCode.DataRow) {
      reader.reset(f.body);
      const row: (string | null)[] = [];
      for (let i = 0; i < reader.columnCount; i++) row.push(reader.text(i, 1024));
      if (rows.length < 200_000) rows.push(row);
    } else if (f.type === BackendCode.ErrorResponse) {
      error = parseNoticeFields(f.body).M ?? "error";
    } else if (f.type === BackendCode.ReadyForQuery) {
      break;
    }
  }
  if (error !== undefined) {
    throw new PgClientError("XX000", `Sluice could not prepare the session's policy: ${error}`);
  }
  return rows;
}
