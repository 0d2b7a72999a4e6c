import { EventEmitter } from "node:events";
import { mkdir, rm, statfs, unlink } from "node:fs/promises";
import { join } from "node:path";
import { encodeFrame, type StoredRecord } from "./frame";
import { encodePayload } from "./payload";
import { isValidSessionId, listSessionDirs, scanSession, writeAck } from "./spool-files";
import { readRecords } from "./spool-reader";
import { createSessionWriter, type SessionState } from "./spool-writer";

export interface SpoolOptions {
  dir: string;
  /** Largest record body; bigger payloads are stored truncated. Default 1 MiB. */
  maxRecordBytes?: number;
  /** Buffered appends are written and fsync'd at least this often. Default 50 ms. */
  flushIntervalMs?: number;
  /** Buffered bytes that trigger an immediate flush. Default 256 KiB. */
  flushBytes?: number;
  /** A segment is closed and a new one started past this size. Default 4 MiB. */
  segmentBytes?: number;
  /** Beyond this many unflushed bytes, appends are dropped and recorded as a gap. Default 64 MiB. */
  maxBufferedBytes?: number;
  /** Called when a background flush fails; the data stays buffered and is retried. */
  onError?: (err: unknown) => void;
  now?: () => number;
}

export interface PendingSession {
  sessionId: string;
  ackedSeq: number;
  /** Highest durable sequence number. */
  lastSeq: number;
  ended: boolean;
}

export interface ReadBatch {
  sessionId: string;
  /** Contiguous from `afterSeq + 1`; unreadable stretches are `gap` records. */
  events: StoredRecord[];
}

export interface Spool {
  /**
   * Buffers one event and returns its sequence number. The payload is serialised in
   * batches (at the latest by the next flush), so it must not be changed after this call.
   */
  append(sessionId: string, kind: string, payload: unknown, atUnixMs?: number): number;
  flush(): Promise<void>;
  read(sessionId: string, afterSeq: number, maxBytes: number, maxEvents?: number): Promise<ReadBatch>;
  ack(sessionId: string, seq: number): Promise<void>;
  endSession(sessionId: string): Promise<void>;
  pending(): PendingSession[];
  sessions(): string[];
  ackedSeq(sessionId: string): number;
  bytesFree(): Promise<number>;
  hasRoom(floorBytes: number): Promise<boolean>;
  spoolBytes(): number;
  onFlushed(listener: (sessionIds: string[]) => void): () => void;
  close(): Promise<void>;
}

const MiB = 1024 * 1024;
/** Appended events serialised together; bounds what waits unserialised in memory. */
const ENCODE_BATCH = 256;

interface Unencoded {
  s: SessionState;
  seq: number;
  atUnixMs: number;
  kind: string;
  payload: unknown;
}

function serialQueue(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>) => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };
}

async function loadSessions(dir: string, maxBodyBytes: number): Promise<SessionState[]> {
  const loaded: SessionState[] = [];
  for (const id of await listSessionDirs(dir)) {
    const sessionDir = join(dir, id);
    const scan = await scanSession(sessionDir, maxBodyBytes);
    const lastSeq = Math.max(scan.lastSeq, scan.ack.ackedSeq);
    loaded.push({
      id,
      dir: sessionDir,
      nextSeq: lastSeq + 1,
      durableSeq: lastSeq,
      ackedSeq: Math.min(scan.ack.ackedSeq, lastSeq),
      ended: scan.ack.ended,
      segments: scan.segments,
      active: undefined,
      buffer: [],
      bufferedBytes: 0,
      dropped: undefined,
      dirReady: true,
      cursor: undefined,
    });
  }
  return loaded;
}

function newSession(dir: string, id: string): SessionState {
  if (!isValidSessionId(id)) throw new Error(`invalid recording session id: ${JSON.stringify(id)}`);
  return {
    id,
    dir: join(dir, id),
    nextSeq: 1,
    durableSeq: 0,
    ackedSeq: 0,
    ended: false,
    segments: [],
    active: undefined,
    buffer: [],
    bufferedBytes: 0,
    dropped: undefined,
    dirReady: false,
    cursor: undefined,
  };
}

/** Opens (or creates) the spool in `options.dir`, repairing torn tails left by a crash. */
export async function createSpool(options: SpoolOptions): Promise<Spool> {
  const maxBody = Math.max(4096, options.maxRecordBytes ?? MiB);
  const flushIntervalMs = options.flushIntervalMs ?? 50;
  const flushBytes = options.flushBytes ?? 256 * 1024;
  const maxBufferedBytes = options.maxBufferedBytes ?? 64 * MiB;
  const now = options.now ?? Date.now;
  const onError = options.onError ?? (() => undefined);
  await mkdir(options.dir, { recursive: true });
  const sessions = new Map<string, SessionState>();
  for (const s of await loadSessions(options.dir, maxBody)) sessions.set(s.id, s);
  const finished = new Set<string>();
  const emitter = new EventEmitter();
  const exclusive = serialQueue();
  const writer = createSessionWriter({ segmentBytes: options.segmentBytes ?? 4 * MiB });
  let buffered = 0;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  // Appends stay cheap on the caller's hot path (a proxy relaying traffic); payloads
  // are serialised together, at the latest when the next flush starts.
  let unencoded: Unencoded[] = [];

  const push = (s: SessionState, record: StoredRecord): void => {
    const frame = encodeFrame(record);
    s.buffer.push({ seq: record.seq, frame });
    s.bufferedBytes += frame.length;
    buffered += frame.length;
  };
  const pushDropped = (s: SessionState): void => {
    if (!s.dropped) return;
    const { fromSeq, toSeq } = s.dropped;
    s.dropped = undefined;
    const payloadJson = JSON.stringify({ fromSeq, toSeq, reason: "dropped" });
    push(s, { seq: toSeq, atUnixMs: now(), kind: "gap", payloadJson });
  };
  const encodePending = (): void => {
    if (unencoded.length === 0) return;
    const batch = unencoded;
    unencoded = [];
    for (const e of batch) {
      push(e.s, {
        seq: e.seq,
        atUnixMs: e.atUnixMs,
        kind: e.kind,
        payloadJson: encodePayload(e.kind, e.payload, maxBody),
      });
    }
  };
  const schedule = (): void => {
    if (timer || closed) return;
    const delay = buffered >= flushBytes ? 0 : flushIntervalMs;
    timer = setTimeout(() => {
      timer = undefined;
      flush().catch((err: unknown) => {
        onError(err);
        schedule();
      });
    }, delay);
    timer.unref();
  };
  const flushLocked = async (): Promise<void> => {
    encodePending();
    const work = [...sessions.values()].filter((s) => s.buffer.length > 0 || s.dropped);
    if (work.length === 0) return;
    for (const s of work) pushDropped(s);
    const results = await Promise.allSettled(work.map((s) => writer.write(s)));
    buffered = 0;
    for (const s of sessions.values()) buffered += s.bufferedBytes;
    const written = work.filter((_, i) => results[i]?.status === "fulfilled").map((s) => s.id);
    if (written.length > 0) emitter.emit("flushed", written);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
  };
  const flush = (): Promise<void> => exclusive(flushLocked);
  const bytesFree = async (): Promise<number> => {
    const stats = await statfs(options.dir);
    return stats.bavail * stats.bsize;
  };
  const removeIfDone = async (s: SessionState): Promise<void> => {
    const complete = s.ended && s.buffer.length === 0 && !s.dropped && s.ackedSeq >= s.nextSeq - 1;
    if (!complete) return;
    await writer.closeActive(s);
    await rm(s.dir, { recursive: true, force: true });
    sessions.delete(s.id);
    finished.add(s.id);
  };
  const dropCovered = async (s: SessionState): Promise<void> => {
    const keep = [];
    for (let i = 0; i < s.segments.length; i++) {
      const segment = s.segments[i]!;
      const upper = (s.segments[i + 1]?.firstSeq ?? s.durableSeq + 1) - 1;
      if (upper > s.ackedSeq) {
        keep.push(segment);
        continue;
      }
      if (s.active?.segment === segment) await writer.closeActive(s);
      await unlink(segment.path).catch(() => undefined);
    }
    s.segments = keep;
  };

  for (const s of [...sessions.values()]) {
    await dropCovered(s);
    await removeIfDone(s);
  }

  return {
    append(sessionId, kind, payload, atUnixMs = now()) {
      if (closed) throw new Error("recording spool is closed");
      if (finished.has(sessionId)) throw new Error(`recording session ${sessionId} has ended`);
      let s = sessions.get(sessionId);
      if (!s) {
        s = newSession(options.dir, sessionId);
        sessions.set(sessionId, s);
      }
      if (s.ended) throw new Error(`recording session ${sessionId} has ended`);
      const seq = s.nextSeq++;
      if (buffered >= maxBufferedBytes) {
        encodePending();
        s.dropped = { fromSeq: s.dropped?.fromSeq ?? seq, toSeq: seq };
        return seq;
      }
      if (s.dropped) {
        encodePending();
        pushDropped(s);
      }
      unencoded.push({ s, seq, atUnixMs, kind, payload });
      if (unencoded.length >= ENCODE_BATCH) encodePending();
      schedule();
      return seq;
    },
    flush,
    read: (sessionId, afterSeq, maxBytes, maxEvents = 1000) =>
      exclusive(async () => {
        const s = sessions.get(sessionId);
        if (!s) return { sessionId, events: [] };
        const result = await readRecords({
          segments: s.segments,
          durableSeq: s.durableSeq,
          afterSeq: Math.max(afterSeq, s.ackedSeq),
          maxBytes,
          maxEvents,
          maxBodyBytes: maxBody,
          cursor: s.cursor,
          now,
        });
        s.cursor = result.cursor;
        return { sessionId, events: result.events };
      }),
    ack: (sessionId, seq) =>
      exclusive(async () => {
        const s = sessions.get(sessionId);
        if (!s) return;
        const acked = Math.min(seq, s.durableSeq);
        if (acked <= s.ackedSeq) return;
        s.ackedSeq = acked;
        await writeAck(s.dir, { ackedSeq: acked, ended: s.ended });
        await dropCovered(s);
        await removeIfDone(s);
      }),
    endSession: (sessionId) =>
      exclusive(async () => {
        const s = sessions.get(sessionId);
        if (!s || s.ended) return;
        await flushLocked();
        s.ended = true;
        await writer.closeActive(s);
        if (s.dirReady) await writeAck(s.dir, { ackedSeq: s.ackedSeq, ended: true });
        await removeIfDone(s);
      }),
    pending: () =>
      [...sessions.values()]
        .filter((s) => s.durableSeq > s.ackedSeq)
        .map((s) => ({ sessionId: s.id, ackedSeq: s.ackedSeq, lastSeq: s.durableSeq, ended: s.ended })),
    sessions: () => [...sessions.keys()],
    ackedSeq: (sessionId) => sessions.get(sessionId)?.ackedSeq ?? 0,
    bytesFree,
    hasRoom: async (floorBytes) => (await bytesFree()) >= floorBytes,
    spoolBytes: () => {
      encodePending();
      let total = buffered;
      for (const s of sessions.values()) for (const seg of s.segments) total += seg.bytes;
      return total;
    },
    onFlushed(listener) {
      emitter.on("flushed", listener);
      return () => emitter.off("flushed", listener);
    },
    async close() {
      if (closed) return;
      clearTimeout(timer);
      timer = undefined;
      await flush();
      closed = true;
      await exclusive(async () => {
        for (const s of sessions.values()) await writer.closeActive(s);
      });
    },
  };
}
