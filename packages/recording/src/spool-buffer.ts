import { encodeFrameInto, maxFrameBytes } from "./frame";
import type { SessionState } from "./spool-writer";

/** Largest buffer one encoding pass fills; a bigger batch is split over several. */
const MAX_BATCH_BYTES = 1024 * 1024;
/** Frame bytes besides the kind and the payload: header (8), seq and time (16), kind length (2). */
const RECORD_FIXED_BYTES = 26;

/**
 * Queues one record of the session and returns the bytes it is counted for until it is
 * encoded (exact for ASCII text; the encoded size replaces it). Records are encoded
 * in one pass when the session is written (`sealQueued`), so appending only keeps the
 * record; an idle session holds no queue.
 */
export function bufferRecord(
  s: SessionState,
  seq: number,
  atUnixMs: number,
  kind: string,
  payloadJson: string,
): number {
  const estimate = RECORD_FIXED_BYTES + kind.length + payloadJson.length;
  const queued = s.queued;
  if (queued === undefined) s.queued = [seq, atUnixMs, kind, payloadJson];
  else queued.push(seq, atUnixMs, kind, payloadJson);
  s.queuedBytes += estimate;
  s.bufferedBytes += estimate;
  s.bufferedSeq = seq;
  return estimate;
}

/** Encodes the session's queued records, in order, at the end of its buffer. */
export function sealQueued(s: SessionState): void {
  const queued = s.queued;
  if (queued === undefined) return;
  s.queued = undefined;
  let encoded = 0;
  for (let from = 0; from < queued.length; ) {
    let size = 0;
    let to = from;
    do {
      size += maxFrameBytes(queued[to + 2] as string, queued[to + 3] as string);
      to += 4;
    } while (to < queued.length && size < MAX_BATCH_BYTES);
    const batch = Buffer.allocUnsafe(size);
    let n = 0;
    for (let i = from; i < to; i += 4) {
      const seq = queued[i] as number;
      const at = queued[i + 1] as number;
      n += encodeFrameInto(batch, n, seq, at, queued[i + 2] as string, queued[i + 3] as string);
    }
    s.buffer.push(n === size ? batch : batch.subarray(0, n));
    encoded += n;
    from = to;
  }
  s.bufferedBytes += encoded - s.queuedBytes;
  s.queuedBytes = 0;
}
