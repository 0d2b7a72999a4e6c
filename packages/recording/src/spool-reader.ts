import { type FileHandle, open } from "node:fs/promises";
import { FRAME_HEADER_BYTES, type ParsedFrame, parseFrameAt, resync, type StoredRecord } from "./frame";
import type { SegmentInfo } from "./spool-files";

/** Where the previous read of a session stopped, so a sequential reader does not rescan segments. */
export interface ReadCursor {
  seq: number;
  segmentFirstSeq: number;
  offset: number;
}

export interface ReadRequest {
  segments: readonly SegmentInfo[];
  durableSeq: number;
  afterSeq: number;
  maxBytes: number;
  maxEvents: number;
  maxBodyBytes: number;
  cursor: ReadCursor | undefined;
  now: () => number;
}

export interface ReadResult {
  events: StoredRecord[];
  cursor: ReadCursor | undefined;
}

export type GapReason = "checksum_mismatch" | "corrupt_frame" | "missing" | "dropped";

/** A gap record takes the last sequence number it covers, so the stream of sequence numbers has no holes. */
export function gapRecord(fromSeq: number, toSeq: number, reason: GapReason, atUnixMs: number): StoredRecord {
  return { seq: toSeq, atUnixMs, kind: "gap", payloadJson: JSON.stringify({ fromSeq, toSeq, reason }) };
}

interface ReadState {
  req: ReadRequest;
  out: StoredRecord[];
  bytes: number;
  expected: number;
  problem: GapReason;
  full: boolean;
  cursor: ReadCursor | undefined;
}

function startPoint(req: ReadRequest): { index: number; offset: number } {
  const { cursor, segments, afterSeq } = req;
  if (cursor && cursor.seq === afterSeq) {
    const index = segments.findIndex((s) => s.firstSeq === cursor.segmentFirstSeq);
    if (index >= 0) return { index, offset: cursor.offset };
  }
  let index = 0;
  for (let i = 0; i < segments.length; i++) if (segments[i]!.firstSeq <= afterSeq + 1) index = i;
  return { index, offset: 0 };
}

/** Adds one frame to the batch; returns false when the batch is full and the frame was not taken. */
function take(state: ReadState, frame: ParsedFrame, segment: SegmentInfo, base: number): boolean {
  if (!frame.ok) {
    state.problem = "checksum_mismatch";
    return true;
  }
  const { record } = frame;
  if (record.seq < state.expected) return true;
  const gap = record.seq > state.expected;
  const size = record.payloadJson.length + record.kind.length + 32;
  const over =
    state.out.length + (gap ? 2 : 1) > state.req.maxEvents || state.bytes + size > state.req.maxBytes;
  if (state.out.length > 0 && over) {
    state.full = true;
    state.cursor = {
      seq: state.expected - 1,
      segmentFirstSeq: segment.firstSeq,
      offset: base + frame.offset,
    };
    return false;
  }
  if (gap) state.out.push(gapRecord(state.expected, record.seq - 1, state.problem, record.atUnixMs));
  state.out.push(record);
  state.bytes += size;
  state.expected = record.seq + 1;
  state.problem = "missing";
  state.cursor = { seq: record.seq, segmentFirstSeq: segment.firstSeq, offset: base + frame.end };
  return true;
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buf, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buf.subarray(0, filled);
}

async function readSegment(state: ReadState, segment: SegmentInfo, from: number): Promise<void> {
  const { maxBodyBytes, maxBytes } = state.req;
  const chunkSize = maxBytes + 64 * 1024;
  const handle = await open(segment.path, "r");
  try {
    let chunk: Buffer = Buffer.alloc(0);
    let base = from;
    let pos = from;
    while (pos < segment.bytes && !state.full) {
      const frame = parseFrameAt(chunk, pos - base, maxBodyBytes);
      if (typeof frame !== "string") {
        if (!take(state, frame, segment, base)) return;
        pos = base + frame.end;
        continue;
      }
      if (frame !== "corrupt") {
        const rel = pos - base;
        const need = FRAME_HEADER_BYTES + (rel + 4 <= chunk.length ? chunk.readUInt32LE(rel) : 0);
        if (pos + need <= segment.bytes) {
          chunk = await readAt(handle, pos, Math.min(segment.bytes - pos, Math.max(need, chunkSize)));
          base = pos;
          if (chunk.length >= need) continue;
        }
      }
      state.problem = "corrupt_frame";
      const rest = await readAt(handle, pos, segment.bytes - pos);
      const next = resync(rest, 1, maxBodyBytes);
      if (next === undefined) return;
      chunk = rest;
      base = pos;
      pos += next;
    }
  } finally {
    await handle.close();
  }
}

/**
 * Returns the records after `afterSeq` in sequence order, verifying each checksum. Whatever cannot be read
 * (a corrupt record, a damaged or missing segment) comes back as a `gap` record covering exactly the
 * missing sequence numbers, so the result is always contiguous from `afterSeq + 1`.
 */
export async function readRecords(req: ReadRequest): Promise<ReadResult> {
  const state: ReadState = {
    req,
    out: [],
    bytes: 0,
    expected: req.afterSeq + 1,
    problem: "missing",
    full: false,
    cursor: undefined,
  };
  if (state.expected > req.durableSeq) return { events: [], cursor: req.cursor };
  const start = startPoint(req);
  for (let i = start.index; i < req.segments.length && !state.full; i++) {
    const segment = req.segments[i]!;
    await readSegment(state, segment, i === start.index ? start.offset : 0);
  }
  if (!state.full && state.expected <= req.durableSeq) {
    state.out.push(gapRecord(state.expected, req.durableSeq, state.problem, req.now()));
    state.cursor = undefined;
  }
  return { events: state.out, cursor: state.cursor };
}
