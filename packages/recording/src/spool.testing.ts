import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StoredRecord } from "./frame";
import type { Spool } from "./spool";

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-recording-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Reads every record after `afterSeq` in batches, the way the uploader does. */
export async function readAll(spool: Spool, sessionId: string, afterSeq = 0, maxBytes = 4096) {
  const out: StoredRecord[] = [];
  let after = afterSeq;
  for (;;) {
    const { events } = await spool.read(sessionId, after, maxBytes);
    const last = events[events.length - 1];
    if (!last) return out;
    out.push(...events);
    after = last.seq;
  }
}

export function payloadOf(record: StoredRecord): unknown {
  return JSON.parse(record.payloadJson);
}
