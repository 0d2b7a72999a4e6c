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

/** CRC-32 (IEEE) lookup tables for slicing by 8 bytes. */
const CRC_TABLE = (() => {
  const t = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let s = 1; s < 8; s++)
      t[s * 256 + n] = (t[(s - 1) * 256 + n]! >>> 8) ^ t[t[(s - 1) * 256 + n]! & 0xff]!;
  }
  return t;
})();
/** Below this many bytes the table loop beats a call into zlib. */
const SMALL_CRC_BYTES = 512;

/** CRC-32 of `buf[start, end)`, the same value as zlib's `crc32()`. */
export function crc32Of(buf: Buffer, start: number, end: number): number {
  if (end - start >= SMALL_CRC_BYTES) return crc32(buf.subarray(start, end));
  const t = CRC_TABLE;
  let c = -1;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    c ^= buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    c =
      t[1792 + (c & 0xff)]! ^
      t[1536 + ((c >>> 8) & 0xff)]! ^
      t[1280 + ((c >>> 16) & 0xff)]! ^
      t[1024 + (c >>> 24)]! ^
      t[768 + buf[i + 4]!]! ^
      t[512 + buf[i + 5]!]! ^
      t[256 + buf[i + 6]!]! ^
      t[buf[i + 7]!]!;
  }
  for (; i < end; i++) c = t[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
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
  const frame = Buffer.allocUnsafe(maxFrameBytes(record.kind, record.payloadJson));
  const n = encodeFrameInto(frame, 0, record.seq, record.atUnixMs, record.kind, record.payloadJson);
  return n === frame.length ? frame : frame.subarray(0, n);
}

/** Room `encodeFrameInto` may need for a record (exact for long payloads, an upper bound otherwise). */
export function maxFrameBytes(kind: string, payloadJson: string): number {
  const payload =
    payloadJson.length <= 16 * 1024 ? payloadJson.length * 3 : Buffer.byteLength(payloadJson, "utf8");
  return FRAME_HEADER_BYTES + BODY_FIXED_BYTES + kindBytes(kind).length + payload;
}

/**
 * Encodes one record at `target[offset]`, which has at least `maxFrameBytes()` bytes of
 * room, and returns the frame's length.
 */
export function encodeFrameInto(
  target: Buffer,
  offset: number,
  seq: number,
  atUnixMs: number,
  kind: string,
  payloadJson: string,
): number {
  const k = kindBytes(kind);
  const kindLength = k.length;
  const kindAt = offset + FRAME_HEADER_BYTES + BODY_FIXED_BYTES;
  const payloadBytes = payloadJson.length === 0 ? 0 : target.write(payloadJson, kindAt + kindLength, "utf8");
  const bodyLength = BODY_FIXED_BYTES + kindLength + payloadBytes;
  putUint32LE(target, offset, bodyLength);
  target.writeDoubleLE(seq, offset + 8);
  target.writeDoubleLE(atUnixMs, offset + 16);
  target[offset + 24] = kindLength & 0xff;
  target[offset + 25] = kindLength >>> 8;
  for (let i = 0; i < kindLength; i++) target[kindAt + i] = k[i]!;
  const bodyAt = offset + FRAME_HEADER_BYTES;
  putUint32LE(target, offset + 4, crc32Of(target, bodyAt, bodyAt + bodyLength));
  return FRAME_HEADER_BYTES + bodyLength;
}

/** Stores a u32 little-endian without Buffer's argument checks (the caller has the room). */
function putUint32LE(target: Buffer, at: number, value: number): void {
  target[at] = value & 0xff;
  target[at + 1] = (value >>> 8) & 0xff;
  target[at + 2] = (value >>> 16) & 0xff;
  target[at + 3] = value >>> 24;
}

/** Sequence number of the frame at `offset` (of a buffer of frames this module encoded). */
export function frameSeq(buf: Buffer, offset: number): number {
  return buf.readDoubleLE(offset + FRAME_HEADER_BYTES);
}

/** Offset just past the frame at `offset`. */
export function frameEnd(buf: Buffer, offset: number): number {
  return offset + FRAME_HEADER_BYTES + buf.readUInt32LE(offset);
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
