import { closeSync, fdatasync, ftruncateSync, mkdirSync, openSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { promisify } from "node:util";
import { frameEnd, frameSeq } from "./frame";
import { sealQueued } from "./spool-buffer";
import { fsyncDir, type SegmentInfo, segmentPath } from "./spool-files";
import type { ReadCursor } from "./spool-reader";

const fdatasyncAsync = promisify(fdatasync);

/** A segment file open for appending. */
export interface OpenSegment {
  fd: number;
  segment: SegmentInfo;
  /** Bytes handed to the kernel (write(2)); `segment.bytes` catches up once they are fsync'd. */
  written: number;
}

export interface SessionState {
  id: string;
  dir: string;
  nextSeq: number;
  /** Highest sequence number written and fsync'd: what reads and acks may rely on. */
  durableSeq: number;
  /** Highest sequence number handed to the kernel: it survives the process, not a power loss. */
  writtenSeq: number;
  ackedSeq: number;
  ended: boolean;
  segments: SegmentInfo[];
  /** The segment being appended to, while its file is open (closed when the session idles). */
  active: OpenSegment | undefined;
  /** Segments rotated away from with bytes not fsync'd yet; closed once they are. */
  retired: OpenSegment[];
  /** Directories with a new entry whose fsync is still owed. */
  unsyncedDirs: Set<string>;
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

/**
 * Writes sessions' buffers to their segment files. `write` is synchronous — the bytes are
 * in the kernel's page cache when it returns, so they survive the process being killed —
 * and `sync` fsyncs what was written, asynchronously, for power loss. Only `sync`
 * advances `durableSeq`.
 */
export interface SessionWriter {
  /** Hands the session's buffer to the kernel; on failure what was not written goes back in it. */
  write(s: SessionState, now: number): void;
  /** Makes everything written so far durable (fdatasync, directory fsyncs), then advances `durableSeq`. */
  sync(s: SessionState): Promise<void>;
  /** Closes the session's files; call only when no `sync` of it is running. */
  closeActive(s: SessionState): void;
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

function writeFullySync(fd: number, data: Buffer, position: number): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already gone
  }
}

export function createSessionWriter(options: { segmentBytes: number }): SessionWriter {
  const { segmentBytes } = options;

  const closeActive = (s: SessionState): void => {
    const active = s.active;
    s.active = undefined;
    if (active) closeQuietly(active.fd);
    for (const r of s.retired) closeQuietly(r.fd);
    s.retired = [];
  };

  const openSegment = (s: SessionState, firstSeq: number): OpenSegment => {
    // The newest segment is reopened after the session idled; a new one starts at a frame boundary.
    const last = s.segments[s.segments.length - 1];
    const rotated = s.retired.some((r) => r.segment === last);
    if (last && !rotated && last.bytes < segmentBytes && last.firstSeq <= firstSeq) {
      s.active = { fd: openSync(last.path, "r+"), segment: last, written: last.bytes };
      return s.active;
    }
    if (!s.dirReady) {
      mkdirSync(s.dir, { recursive: true });
      s.unsyncedDirs.add(dirname(s.dir));
      s.dirReady = true;
    }
    const path = segmentPath(s.dir, firstSeq);
    const fd = openSync(path, "w");
    s.unsyncedDirs.add(s.dir);
    const segment: SegmentInfo = { firstSeq, path, bytes: 0 };
    s.segments = s.segments.filter((x) => x.firstSeq !== firstSeq);
    s.segments.push(segment);
    s.active = { fd, segment, written: 0 };
    return s.active;
  };

  const rotate = (s: SessionState): void => {
    const active = s.active;
    s.active = undefined;
    if (!active) return;
    if (active.written > active.segment.bytes) s.retired.push(active);
    else closeQuietly(active.fd);
  };

  const write = (s: SessionState, now: number): void => {
    sealQueued(s);
    const parts = s.buffer;
    if (parts.length === 0) return;
    s.buffer = [];
    s.bufferedBytes = 0;
    const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const lastSeq = s.bufferedSeq;
    let done = 0;
    try {
      while (done < data.length) {
        if (s.active && s.active.written >= segmentBytes) rotate(s);
        const active = s.active ?? openSegment(s, frameSeq(data, done));
        const room = segmentBytes - active.written;
        const { end, lastAt } =
          data.length - done <= room ? { end: data.length, lastAt: -1 } : framesWithin(data, done, room);
        writeFullySync(active.fd, data.subarray(done, end), active.written);
        active.written += end - done;
        s.writtenSeq = lastAt >= 0 ? frameSeq(data, lastAt) : lastSeq;
        s.writtenAt = now;
        done = end;
      }
    } catch (err) {
      s.buffer.unshift(data.subarray(done));
      s.bufferedBytes += data.length - done;
      // A partly written frame would be a torn tail; the next write starts at the last whole one.
      const active = s.active;
      if (active) {
        try {
          ftruncateSync(active.fd, active.written);
        } catch {
          // the next write overwrites it from the same offset
        }
      }
      throw err;
    }
  };

  const sync = async (s: SessionState): Promise<void> => {
    const seq = s.writtenSeq;
    const targets = [...s.retired, ...(s.active ? [s.active] : [])].map((t) => ({ t, at: t.written }));
    const dirs = [...s.unsyncedDirs];
    s.unsyncedDirs.clear();
    try {
      for (const { t, at } of targets) if (at > t.segment.bytes) await fdatasyncAsync(t.fd);
      for (const dir of dirs) await fsyncDir(dir);
    } catch (err) {
      for (const dir of dirs) s.unsyncedDirs.add(dir);
      throw err;
    }
    for (const { t, at } of targets) t.segment.bytes = Math.max(t.segment.bytes, at);
    const stillOwed = s.retired.filter((r) => r.written > r.segment.bytes);
    for (const r of s.retired) if (!stillOwed.includes(r)) closeQuietly(r.fd);
    s.retired = stillOwed;
    if (seq > s.durableSeq) s.durableSeq = seq;
  };

  return { write, sync, closeActive };
}
