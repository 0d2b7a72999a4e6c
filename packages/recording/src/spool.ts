import { EventEmitter } from "node:events";
import { mkdir, rm, statfs, unlink } from "node:fs/promises";
import type { StoredRecord } from "./frame";
import { encodePayload } from "./payload";
import { bufferRecord } from "./spool-buffer";
import { writeAck } from "./spool-files";
import { readRecords } from "./spool-reader";
import { loadSessions, newSession, type RecoveredSession } from "./spool-session";
import { createSessionWriter, type SessionState } from "./spool-writer";

export interface SpoolOptions {
  dir: string;
  /** Largest record body; bigger payloads are stored truncated. Default 1 MiB. */
  maxRecordBytes?: number;
  /** Buffered appends are written and fsync'd at least this often (`writeSync` writes sooner). Default 50 ms. */
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

export type { RecoveredSession } from "./spool-session";

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
  /**
   * Hands every buffered record to the kernel now: one write(2) per session with new
   * records, no fsync. When it returns the records survive the process being killed;
   * they survive a power loss after the next flush's fdatasync (at most `flushIntervalMs`
   * later). Throws when a write fails; the records stay buffered and are retried.
   */
  writeSync(): void;
  /**
   * Appends a `gap` record `{ fromSeq, toSeq, reason }` covering its own sequence number:
   * events may be missing just before it (e.g. the process that wrote the session died).
   */
  appendGap(sessionId: string, reason: string): number;
  /** Sessions found on disk at open, as the previous process left them (torn tails already cut). */
  recovered(): RecoveredSession[];
  /** Resolves once everything appended before it is written and fsync'd. */
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
  const loaded = await loadSessions(options.dir, maxBody);
  for (const { state } of loaded) sessions.set(state.id, state);
  const recovered = loaded.map((l) => l.recovered);
  const finished = new Set<string>();
  const emitter = new EventEmitter();
  const exclusive = serialQueue();
  const writer = createSessionWriter({ segmentBytes: options.segmentBytes ?? 4 * MiB });
  /** Sessions with buffered records (or a pending gap record). */
  const dirty = new Set<SessionState>();
  /** Sessions with records written but not fsync'd yet. */
  const unsynced = new Set<SessionState>();
  /** Sessions whose segment file is open. */
  const openFiles = new Set<SessionState>();
  let buffered = 0;
  let timer: NodeJS.Timeout | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const bufferGap = (s: SessionState, fromSeq: number, toSeq: number, reason: string, extra = ""): void => {
    const payloadJson = `{"fromSeq":${fromSeq},"toSeq":${toSeq},"reason":${JSON.stringify(reason)}${extra}}`;
    buffered += bufferRecord(s, toSeq, now(), "gap", payloadJson);
    dirty.add(s);
  };
  const pushDropped = (s: SessionState): void => {
    if (!s.dropped) return;
    const { fromSeq, toSeq } = s.dropped;
    s.dropped = undefined;
    bufferGap(s, fromSeq, toSeq, "dropped");
  };
  /** Flushes that failed in a row (a full disk): retries back off to at most 2 s. */
  let failedFlushes = 0;
  const onFlushTimer = (): void => {
    timer = undefined;
    flush().then(() => {
      failedFlushes = 0;
    }, onFlushError);
  };
  const onFlushError = (err: unknown): void => {
    failedFlushes += 1;
    onError(err);
    schedule();
  };
  const schedule = (): void => {
    if (timer || closed) return;
    const delay =
      failedFlushes > 0
        ? Math.min(2000, flushIntervalMs * 2 ** Math.min(failedFlushes, 10))
        : buffered >= flushBytes
          ? 0
          : flushIntervalMs;
    timer = setTimeout(onFlushTimer, delay);
    timer.unref();
  };
  /**
   * Closes the segment files of sessions that stopped writing, so an idle session holds
   * no file; the next write reopens its newest segment.
   */
  const closeIdleFiles = (): void => {
    const t = now();
    for (const s of openFiles) {
      if (t - s.writtenAt < idleFileMs || dirty.has(s) || unsynced.has(s)) continue;
      openFiles.delete(s);
      writer.closeActive(s);
    }
  };
  const onIdleTimer = (): void => {
    idleTimer = undefined;
    exclusive(async () => closeIdleFiles())
      .then(scheduleIdleClose)
      .catch(onError);
  };
  const scheduleIdleClose = (): void => {
    if (idleTimer || closed || openFiles.size === 0) return;
    idleTimer = setTimeout(onIdleTimer, idleFileMs);
    idleTimer.unref();
  };
  /** Hands the sessions' buffers to the kernel (synchronous); throws the first failure. */
  const writeSessions = (work: Iterable<SessionState>): void => {
    const t = now();
    let failure: unknown;
    for (const s of work) {
      pushDropped(s);
      try {
        writer.write(s, t);
      } catch (err) {
        failure ??= err;
      }
      if (s.bufferedBytes > 0 || s.dropped) dirty.add(s);
      else dirty.delete(s);
      if (s.writtenSeq > s.durableSeq) unsynced.add(s);
      if (s.active) openFiles.add(s);
    }
    buffered = 0;
    for (const s of dirty) buffered += s.bufferedBytes;
    if (failure !== undefined) throw failure;
  };
  /** fsyncs what the sessions have written; call under `exclusive`. */
  const syncSessions = async (work: SessionState[]): Promise<void> => {
    for (const s of work) unsynced.delete(s);
    const before = work.map((s) => s.durableSeq);
    const results = await Promise.allSettled(work.map((s) => writer.sync(s)));
    const advanced: string[] = [];
    let failure: unknown;
    for (let i = 0; i < work.length; i++) {
      const s = work[i]!;
      const r = results[i]!;
      if (r.status === "rejected") failure ??= r.reason;
      if (s.writtenSeq > s.durableSeq || r.status === "rejected") unsynced.add(s);
      if (s.durableSeq > before[i]!) advanced.push(s.id);
    }
    scheduleIdleClose();
    if (advanced.length > 0) emitter.emit("flushed", advanced);
    if (failure !== undefined) throw failure;
  };
  const flushLocked = async (): Promise<void> => {
    closeIdleFiles();
    let failure: unknown;
    try {
      writeSessions([...dirty]);
    } catch (err) {
      failure = err;
    }
    if (unsynced.size > 0) await syncSessions([...unsynced]);
    if (failure !== undefined) throw failure;
  };
  const flush = (): Promise<void> => exclusive(flushLocked);
  const bytesFree = async (): Promise<number> => {
    const stats = await statfs(options.dir);
    return stats.bavail * stats.bsize;
  };
  const removeIfDone = async (s: SessionState): Promise<void> => {
    const complete =
      s.ended &&
      s.buffer.length === 0 &&
      !s.queued &&
      !s.dropped &&
      !unsynced.has(s) &&
      s.ackedSeq >= s.nextSeq - 1;
    if (!complete) return;
    openFiles.delete(s);
    dirty.delete(s);
    writer.closeActive(s);
    sessions.delete(s.id);
    finished.add(s.id);
    await rm(s.dir, { recursive: true, force: true });
  };
  const dropCovered = async (s: SessionState): Promise<void> => {
    // Decided in one step, so a write meanwhile never reopens a segment being deleted.
    const keep = [];
    const drop = [];
    for (let i = 0; i < s.segments.length; i++) {
      const segment = s.segments[i]!;
      const upper = (s.segments[i + 1]?.firstSeq ?? s.writtenSeq + 1) - 1;
      if (upper > s.ackedSeq) keep.push(segment);
      else drop.push(segment);
    }
    if (drop.length === 0) return;
    if (s.active && drop.includes(s.active.segment)) writer.closeActive(s);
    s.segments = keep;
    for (const segment of drop) await unlink(segment.path).catch(() => undefined);
  };

  for (const r of recovered) {
    const s = sessions.get(r.sessionId)!;
    // Whatever stood after the last whole record is lost, and the reader must be told.
    if (r.tornBytes > 0) {
      const seq = s.nextSeq++;
      bufferGap(s, seq, seq, "torn_tail", `,"bytes":${r.tornBytes}`);
    }
    await dropCovered(s);
    await removeIfDone(s);
  }
  if (dirty.size > 0) schedule();

  const liveSession = (sessionId: string): SessionState => {
    if (closed) throw new Error("recording spool is closed");
    let s = sessions.get(sessionId);
    if (!s) {
      if (finished.has(sessionId)) throw new Error(`recording session ${sessionId} has ended`);
      s = newSession(options.dir, sessionId);
      sessions.set(sessionId, s);
    }
    if (s.ended) throw new Error(`recording session ${sessionId} has ended`);
    return s;
  };

  return {
    append(sessionId, kind, payload, atUnixMs = now()) {
      const s = liveSession(sessionId);
      const seq = s.nextSeq++;
      // Over the memory bound (the disk is full or slow) events become a counted gap, but a
      // session's start and end are always kept: they are small, one each, and without the
      // end the control plane could never close the session.
      if (buffered >= maxBufferedBytes && kind !== "session.end" && kind !== "session.start") {
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
    appendGap(sessionId, reason) {
      const s = liveSession(sessionId);
      pushDropped(s);
      const seq = s.nextSeq++;
      bufferGap(s, seq, seq, reason);
      schedule();
      return seq;
    },
    writeSync() {
      if (closed || dirty.size === 0) return;
      try {
        writeSessions([...dirty]);
      } finally {
        schedule();
      }
    },
    recovered: () => recovered.map((r) => ({ ...r })),
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
        if (dirty.has(s)) writeSessions([s]);
        if (unsynced.has(s)) await syncSessions([s]);
        s.ended = true;
        openFiles.delete(s);
        writer.closeActive(s);
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
        for (const s of sessions.values()) writer.closeActive(s);
      });
    },
  };
}
