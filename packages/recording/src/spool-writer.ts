import { type FileHandle, mkdir, open } from "node:fs/promises";
import { dirname } from "node:path";
import { fsyncDir, type SegmentInfo, segmentPath, writeFully } from "./spool-files";
import type { ReadCursor } from "./spool-reader";

export interface BufferedFrame {
  seq: number;
  frame: Buffer;
}

export interface SessionState {
  id: string;
  dir: string;
  nextSeq: number;
  /** Highest sequence number written and fsync'd. */
  durableSeq: number;
  ackedSeq: number;
  ended: boolean;
  segments: SegmentInfo[];
  active: { handle: FileHandle; segment: SegmentInfo } | undefined;
  buffer: BufferedFrame[];
  bufferedBytes: number;
  /** Sequence numbers given out while the buffer was full; written as one gap record. */
  dropped: { fromSeq: number; toSeq: number } | undefined;
  dirReady: boolean;
  cursor: ReadCursor | undefined;
}

export interface SessionWriter {
  /** Writes and fsyncs the session's buffer; on failure whatever was not made durable goes back in it. */
  write(s: SessionState): Promise<void>;
  closeActive(s: SessionState): Promise<void>;
}

function sumBytes(items: readonly BufferedFrame[]): number {
  let total = 0;
  for (const item of items) total += item.frame.length;
  return total;
}

export function createSessionWriter(options: { segmentBytes: number }): SessionWriter {
  const { segmentBytes } = options;

  const closeActive = async (s: SessionState): Promise<void> => {
    const active = s.active;
    s.active = undefined;
    if (active) await active.handle.close().catch(() => undefined);
  };

  const openSegment = async (s: SessionState, firstSeq: number) => {
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

  const write = async (s: SessionState): Promise<void> => {
    const items = s.buffer;
    s.buffer = [];
    s.bufferedBytes = 0;
    let done = 0;
    try {
      while (done < items.length) {
        if (s.active && s.active.segment.bytes >= segmentBytes) await closeActive(s);
        const active = s.active ?? (await openSegment(s, items[done]!.seq));
        const room = segmentBytes - active.segment.bytes;
        let end = done;
        let size = 0;
        while (end < items.length && (end === done || size + items[end]!.frame.length <= room)) {
          size += items[end]!.frame.length;
          end++;
        }
        const chunk = Buffer.concat(
          items.slice(done, end).map((item) => item.frame),
          size,
        );
        await writeFully(active.handle, chunk, active.segment.bytes);
        await active.handle.datasync();
        active.segment.bytes += size;
        s.durableSeq = items[end - 1]!.seq;
        done = end;
      }
    } catch (err) {
      const rest = items.slice(done);
      s.buffer = rest.concat(s.buffer);
      s.bufferedBytes += sumBytes(rest);
      await abandonActive(s);
      throw err;
    }
  };

  return { write, closeActive };
}
