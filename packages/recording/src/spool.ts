import { EventEmitter } from "node:events";
import { mkdir, rm, statfs, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { StoredRecord } from "./frame";
import { encodePayload } from "./payload";
import { bufferRecord } from "./spool-buffer";
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
  /** A session's segment file is closed once not written for this long (reopened on its next write). Default 2 s. */
  idleFileMs?: number;
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
      queued: undefined,
      queuedBytes: 0,
      bufferedBytes: 0,
      bufferedSeq: 0,
      dropped: undefined,
      dirReady: true,
      cursor: undefined,
      writtenAt: 0,
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
    queued: undefined,
    queuedBytes: 0,
    bufferedBytes: 0,
    bufferedSeq: 0,
    dropped: undefined,
    dirReady: false,
    cursor: undefined,
    writtenAt: 0,
  };
}

/** Opens (or creates) the spool in `options.dir`, repairing torn tails left by a crash. */
export async function createSpool(options: SpoolOptions): Promise<Spool> {
  const maxBody = Math.max(4096, options.maxRecordBytes ?? MiB);
  const flushIntervalMs = options.flushIntervalMs ?? 50;
  const flushBytes = options.flushBytes ?? 256 * 1024;
  const maxBufferedBytes = options.maxBufferedBytes ?? 64 * MiB;
  const idleFileMs = options.idleFileMs ?? 2000;
  const now = options.now ?? Date.now;
  const onError = options.onError ?? (() => undefined);
  await mkdir(options.dir, { recursive: true });
  const sessions = new Map<string, SessionState>();
  for (const s of await loadSessions(options.dir, maxBody)) sessions.set(s.id, s);
  const finished = new Set<string>();
  const emitter = new EventEmitter();
  const exclusive = serialQueue();
  const writer = createSessionWriter({ segmentBytes: options.segmentBytes ?? 4 * MiB });
  /** Sessions with buffered records (or a pending gap record). */
  const dirty = new Set<SessionState>();
  /** Sessions whose segment file is open. */
  const openFiles = new Set<SessionState>();
  let buffered = 0;
  let timer: NodeJS.Timeout | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const pushDropped = (s: SessionState): void => {
    if (!s.dropped) return;
    const { fromSeq, toSeq } = s.dropped;
    s.dropped = undefined;
    const payloadJson = JSON.stringify({ fromSeq, toSeq, reason: "dropped" });
    buffered += bufferRecord(s, toSeq, now(), "gap", payloadJson);
  };
  const onFlushTimer = (): void => {
    timer = undefined;
    flush().catch(onFlushError);
  };
  const onFlushError = (err: unknown): void => {
    onError(err);
    schedule();
  };
  const schedule = (): void => {
    if (timer || closed) return;
    timer = setTimeout(onFlushTimer, buffered >= flushBytes ? 0 : flushIntervalMs);
    timer.unref();
  };
  /**
   * Closes the segment files of sessions that stopped writing, so an idle session holds
   * no file; the next write reopens its newest segment.
   */
  const closeIdleFiles = async (): Promise<void> => {
    const t = now();
    for (const s of openFiles) {
      if (t - s.writtenAt < idleFileMs || dirty.has(s)) continue;
      openFiles.delete(s);
      await writer.closeActive(s);
    }
  };
  const onIdleTimer = (): void => {
    idleTimer = undefined;
    exclusive(closeIdleFiles).then(scheduleIdleClose).catch(onError);
  };
  const scheduleIdleClose = (): void => {
    if (idleTimer || closed || openFiles.size === 0) return;
    idleTimer = setTimeout(onIdleTimer, idleFileMs);
    idleTimer.unref();
  };
  const writeSessions = async (work: SessionState[]): Promise<void> => {
    for (const s of work) pushDropped(s);
    const t = now();
    const results = await Promise.allSettled(work.map((s) => writer.write(s, t)));
    const written: string[] = [];
    let failure: unknown;
    for (let i = 0; i < work.length; i++) {
      const s = work[i]!;
      const r = results[i]!;
      if (s.bufferedBytes > 0 || s.dropped) dirty.add(s);
      if (s.active) openFiles.add(s);
      if (r.status === "fulfilled") written.push(s.id);
      else failure ??= r.reason;
    }
    buffered = 0;
    for (const s of dirty) buffered += s.bufferedBytes;
    scheduleIdleClose();
    if (written.length > 0) emitter.emit("flushed", written);
    if (failure !== undefined) throw failure;
  };
  const flushLocked = async (): Promise<void> => {
    await closeIdleFiles();
    if (dirty.size === 0) return;
    const work = [...dirty];
    dirty.clear();
    await writeSessions(work);
  };
  const flush = (): Promise<void> => exclusive(flushLocked);
  const bytesFree = async (): Promise<number> => {
    const stats = await statfs(options.dir);
    return stats.bavail * stats.bsize;
  };
  const removeIfDone = async (s: SessionState): Promise<void> => {
    const complete =
      s.ended && s.buffer.length === 0 && !s.queued && !s.dropped && s.ackedSeq >= s.nextSeq - 1;
    if (!complete) return;
    openFiles.delete(s);
    dirty.delete(s);
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
      let s = sessions.get(sessionId);
      if (!s) {
        if (finished.has(sessionId)) throw new Error(`recording session ${sessionId} has ended`);
        s = newSession(options.dir, sessionId);
        sessions.set(sessionId, s);
      }
      if (s.ended) throw new Error(`recording session ${sessionId} has ended`);
      const seq = s.nextSeq++;
      if (buffered >= maxBufferedBytes) {
        s.dropped = { fromSeq: s.dropped?.fromSeq ?? seq, toSeq: seq };
        dirty.add(s);
        return seq;
      }
      pushDropped(s);
      buffered += bufferRecord(s, seq, atUnixMs, kind, encodePayload(kind, payload, maxBody));
      dirty.add(s);
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
        if (dirty.delete(s)) await writeSessions([s]);
        s.ended = true;
        openFiles.delete(s);
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
      clearTimeout(idleTimer);
      idleTimer = undefined;
      await flush();
      closed = true;
      await exclusive(async () => {
        for (const s of sessions.values()) await writer.closeActive(s);
      });
    },
  };
}
