import { type FileHandle, mkdir, open } from "node:fs/promises";
import { dirname } from "node:path";
import { frameEnd, frameSeq } from "./frame";
import { sealQueued } from "./spool-buffer";
import { fsyncDir, type SegmentInfo, segmentPath, writeFully } from "./spool-files";
import type { ReadCursor } from "./spool-reader";

export interface SessionState {
  id: string;
  dir: string;
  nextSeq: number;
  /** Highest sequence number written and fsync'd. */
  durableSeq: number;
  ackedSeq: number;
  ended: boolean;
  segments: SegmentInfo[];
  /** The segment being appended to, while its file is open (closed when the session idles). */
  active: { handle: FileHandle; segment: SegmentInfo } | undefined;
  /** Encoded records waiting for the disk, oldest first: whole frames, contiguous in sequence order. */
  buffer: Buffer[];
  /** Records appended since the last write, not encoded yet: seq, atUnixMs, kind, payload JSON per record. */
  queued: (number | string)[] | undefined;
  /** Bytes the queued records are counted for until they are encoded. */
  queuedBytes: number;
  /** Bytes in `buffer` and `queued`. */
  bufferedBytes: number;
  /** Sequence number of the newest buffered record. */
  bufferedSeq: number;
  /** Sequence numbers given out while the buffer was full; written as one gap record. */
  dropped: { fromSeq: number; toSeq: number } | undefined;
  dirReady: boolean;
  cursor: ReadCursor | undefined;
  /** When the session's segment file was last written (ms, the spool's clock). */
  writtenAt: number;
}

export interface SessionWriter {
  /** Writes and fsyncs the session's buffer; on failure whatever was not made durable goes back in it. */
  write(s: SessionState, now: number): Promise<void>;
  closeActive(s: SessionState): Promise<void>;
}

/** Offset just past the last whole frame of `data` that ends within `limit`; at least one frame. */
function framesWithin(data: Buffer, from: number, limit: number): { end: number; lastAt: number } {
  let lastAt = from;
  let end = frameEnd(data, from);
  while (end < data.length) {
    const next = frameEnd(data, end);
    if (next - from > limit) break;
    lastAt = end;
    end = next;
  }
  return { end, lastAt };
}

export function createSessionWriter(options: { segmentBytes: number }): SessionWriter {
  const { segmentBytes } = options;

  const closeActive = async (s: SessionState): Promise<void> => {
    const active = s.active;
    s.active = undefined;
    if (active) await active.handle.close().catch(() => undefined);
  };

  const openSegment = async (s: SessionState, firstSeq: number) => {
    // The newest segment is reopened after the session idled; a new one starts at a frame boundary.
    const last = s.segments[s.segments.length - 1];
    if (last && last.bytes < segmentBytes && last.firstSeq <= firstSeq) {
      s.active = { handle: await open(last.path, "r+"), segment: last };
      return s.active;
    }
    if (!s.dirReady) {
      await mkdir(s.dir, { recursive: true });
      await fsyncDir(dirname(s.dir));
      s.dirReady = true;
    }
    const path = segmentPath(s.dir, firstSeq);
    const handle = await open(path, "w");
    await fsyncDir(s.dir);
    const segment: SegmentInfo = { firstSeq, path, bytes: 0 };
    s.segments = s.segments.filter((x) => x.firstSeq !== firstSeq);
    s.segments.push(segment);
    s.active = { handle, segment };
    return s.active;
  };

  const abandonActive = async (s: SessionState): Promise<void> => {
    const active = s.active;
    if (active) await active.handle.truncate(active.segment.bytes).catch(() => undefined);
    await closeActive(s);
  };

  const write = async (s: SessionState, now: number): Promise<void> => {
    sealQueued(s);
    const parts = s.buffer;
    s.buffer = [];
    s.bufferedBytes = 0;
    const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const lastSeq = s.bufferedSeq;
    let done = 0;
    try {
      while (done < data.length) {
        if (s.active && s.active.segment.bytes >= segmentBytes) await closeActive(s);
        const active = s.active ?? (await openSegment(s, frameSeq(data, done)));
        const room = segmentBytes - active.segment.bytes;
        const { end, lastAt } =
          data.length - done <= room ? { end: data.length, lastAt: -1 } : framesWithin(data, done, room);
        await writeFully(active.handle, data.subarray(done, end), active.segment.bytes);
        await active.handle.datasync();
        active.segment.bytes += end - done;
        s.durableSeq = lastAt >= 0 ? frameSeq(data, lastAt) : lastSeq;
        s.writtenAt = now;
        done = end;
      }
    } catch (err) {
      if (done < data.length) {
        s.buffer.unshift(data.subarray(done));
        s.bufferedBytes += data.length - done;
      }
      await abandonActive(s);
      throw err;
    }
  };

  return { write, closeActive };
}
