import { crc32 } from "node:zlib";

/** Bytes before a record body: u32 body length, u32 crc32 of the body. */
export const FRAME_HEADER_BYTES = 8;
/** Fixed part of a record body: f64 seq, f64 atUnixMs, u16 kind length. */
const BODY_FIXED_BYTES = 18;
const MAX_KIND_BYTES = 256;
/** Upper bound of a record body's size beyond its payload's UTF-8 bytes. */
export const MAX_BODY_OVERHEAD_BYTES = BODY_FIXED_BYTES + MAX_KIND_BYTES;
/** Encoded kinds, by kind; callers use a handful of kinds, so a small cache covers them. */
const kindCache = new Map<string, Buffer>();
const MAX_CACHED_KINDS = 64;

function kindBytes(kind: string): Buffer {
  let bytes = kindCache.get(kind);
  if (bytes) return bytes;
  bytes = Buffer.from(kind.slice(0, MAX_KIND_BYTES), "utf8").subarray(0, MAX_KIND_BYTES);
  if (kindCache.size < MAX_CACHED_KINDS) kindCache.set(kind, bytes);
  return bytes;
}

export interface StoredRecord {
  seq: number;
  atUnixMs: number;
  kind: string;
  payloadJson: string;
}

export type ParsedFrame =
  | { ok: true; offset: number; end: number; record: StoredRecord }
  | { ok: false; offset: number; end: number };

export type ParseStop = "end" | "partial" | "corrupt";

export interface ParseResult {
  frames: ParsedFrame[];
  /** Offset (relative to the buffer) just past the last frame that was consumed. */
  consumed: number;
  stop: ParseStop;
}

/** Encodes one record as `[u32 length][u32 crc32][body]`. The caller keeps the body within its size cap. */
export function encodeFrame(record: StoredRecord): Buffer {
  const kind = kindBytes(record.kind);
  const payloadBytes = Buffer.byteLength(record.payloadJson, "utf8");
  const bodyLength = BODY_FIXED_BYTES + kind.length + payloadBytes;
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + bodyLength);
  frame.writeUInt32LE(bodyLength, 0);
  frame.writeDoubleLE(record.seq, 8);
  frame.writeDoubleLE(record.atUnixMs, 16);
  frame.writeUInt16LE(kind.length, 24);
  kind.copy(frame, 26);
  frame.write(record.payloadJson, 26 + kind.length, "utf8");
  frame.writeUInt32LE(crc32(frame.subarray(FRAME_HEADER_BYTES)), 4);
  return frame;
}

/** Size of the body a record would have, to enforce the record size cap before encoding. */
export function bodyBytes(kind: string, payloadJson: string): number {
  return (
    BODY_FIXED_BYTES +
    Math.min(Buffer.byteLength(kind, "utf8"), MAX_KIND_BYTES) +
    Buffer.byteLength(payloadJson)
  );
}

function decodeBody(body: Buffer): StoredRecord | undefined {
  if (body.length < BODY_FIXED_BYTES) return undefined;
  const seq = body.readDoubleLE(0);
  const atUnixMs = body.readDoubleLE(8);
  const kindLength = body.readUInt16LE(16);
  if (!Number.isSafeInteger(seq) || seq < 1 || BODY_FIXED_BYTES + kindLength > body.length) return undefined;
  const kind = body.toString("utf8", BODY_FIXED_BYTES, BODY_FIXED_BYTES + kindLength);
  const payloadJson = body.toString("utf8", BODY_FIXED_BYTES + kindLength);
  return { seq, atUnixMs, kind, payloadJson };
}

/**
 * Reads the frame at `offset`. A frame whose length is impossible is "corrupt"; one that runs past the
 * buffer is "partial"; one whose checksum or body does not verify comes back with `ok: false`.
 */
export function parseFrameAt(buf: Buffer, offset: number, maxBodyBytes: number): ParsedFrame | ParseStop {
  if (offset >= buf.length) return "end";
  if (buf.length - offset < FRAME_HEADER_BYTES) return "partial";
  const length = buf.readUInt32LE(offset);
  if (length < BODY_FIXED_BYTES || length > maxBodyBytes) return "corrupt";
  const end = offset + FRAME_HEADER_BYTES + length;
  if (end > buf.length) return "partial";
  const body = buf.subarray(offset + FRAME_HEADER_BYTES, end);
  const record = crc32(body) === buf.readUInt32LE(offset + 4) ? decodeBody(body) : undefined;
  return record ? { ok: true, offset, end, record } : { ok: false, offset, end };
}

/** Parses consecutive frames from the start of `buf` until the buffer ends or a frame cannot be read. */
export function parseFrames(buf: Buffer, maxBodyBytes: number): ParseResult {
  const frames: ParsedFrame[] = [];
  let offset = 0;
  for (;;) {
    const frame = parseFrameAt(buf, offset, maxBodyBytes);
    if (typeof frame === "string") return { frames, consumed: offset, stop: frame };
    frames.push(frame);
    offset = frame.end;
  }
}

/** After corruption at `from`, finds the next offset holding a frame that verifies, if any. */
export function resync(buf: Buffer, from: number, maxBodyBytes: number): number | undefined {
  for (let offset = from; offset + FRAME_HEADER_BYTES <= buf.length; offset++) {
    const frame = parseFrameAt(buf, offset, maxBodyBytes);
    if (typeof frame !== "string" && frame.ok) return offset;
  }
  return undefined;
}
