import type { ClientDuplexStream } from "@grpc/grpc-js";
import type { RecordingAck, RecordingBatch } from "@sluice/proto";
import type { Spool } from "./spool";

export type RecordingStream = ClientDuplexStream<RecordingBatch, RecordingAck>;

export interface UploaderOptions {
  spool: Pick<Spool, "pending" | "read" | "ack" | "flush" | "onFlushed">;
  /** Opens a fresh `uploadRecording` call (with the agent's credentials in its metadata). */
  openStream: () => RecordingStream;
  /** Default 512 KiB. */
  maxBatchBytes?: number;
  /** Default 1000. */
  maxBatchEvents?: number;
  /** Batches sent and not yet acknowledged, at most. Default 4. */
  window?: number;
  /** New data is picked up at most this often. Default 100 ms. */
  coalesceMs?: number;
  /** Reconnect delay: doubles from `initialMs` up to `maxMs`, with jitter. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** A stream that leaves batches unacknowledged this long is torn down and reopened. Default 30 s. */
  ackTimeoutMs?: number;
  onError?: (err: unknown) => void;
}

export interface UploaderStats {
  connected: boolean;
  inFlight: number;
  batchesSent: number;
  reconnects: number;
}

export interface Uploader {
  start(): void;
  /** Flushes the spool, waits up to `drainMs` (default 5 s) for everything to be acknowledged, then closes. */
  stop(options?: { drainMs?: number }): Promise<void>;
  stats(): UploaderStats;
}

interface InFlight {
  sessionId: string;
  lastSeq: number;
}

export function createUploader(options: UploaderOptions): Uploader {
  const { spool, openStream } = options;
  const maxBatchBytes = options.maxBatchBytes ?? 512 * 1024;
  const maxBatchEvents = options.maxBatchEvents ?? 1000;
  const window = options.window ?? 4;
  const coalesceMs = options.coalesceMs ?? 100;
  const initialBackoff = options.backoff?.initialMs ?? 200;
  const maxBackoff = options.backoff?.maxMs ?? 10_000;
  const ackTimeoutMs = options.ackTimeoutMs ?? 30_000;
  const onError = options.onError ?? (() => undefined);

  let stream: RecordingStream | undefined;
  const sent = new Map<string, number>();
  let inFlight: InFlight[] = [];
  let started = false;
  let stopped = false;
  let pumping = false;
  let again = false;
  let attempt = 0;
  let rotation = 0;
  let wakeTimer: NodeJS.Timeout | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let ackTimer: NodeJS.Timeout | undefined;
  let ackChain: Promise<void> = Promise.resolve();
  let unsubscribe: (() => void) | undefined;
  let drainWaiters: (() => void)[] = [];
  const stats = { batchesSent: 0, reconnects: 0 };

  const drained = (): boolean => inFlight.length === 0 && spool.pending().length === 0;
  const notifyDrained = (): void => {
    if (!drained()) return;
    for (const resolve of drainWaiters) resolve();
    drainWaiters = [];
  };

  const armAckTimer = (): void => {
    clearTimeout(ackTimer);
    ackTimer = undefined;
    if (inFlight.length === 0 || !stream) return;
    const current = stream;
    ackTimer = setTimeout(
      () => fail(current, new Error("recording upload: acknowledgement timed out")),
      ackTimeoutMs,
    );
    ackTimer.unref();
  };

  const scheduleReconnect = (): void => {
    if (retryTimer || stopped) return;
    const base = Math.min(maxBackoff, initialBackoff * 2 ** attempt);
    attempt++;
    retryTimer = setTimeout(
      () => {
        retryTimer = undefined;
        void pump();
      },
      base / 2 + (Math.random() * base) / 2,
    );
    retryTimer.unref();
  };

  function fail(failed: RecordingStream, err: unknown): void {
    if (failed !== stream) return;
    stream = undefined;
    inFlight = [];
    sent.clear();
    clearTimeout(ackTimer);
    failed.cancel();
    if (stopped) return;
    onError(err);
    scheduleReconnect();
  }

  const onAck = (ack: RecordingAck): void => {
    inFlight = inFlight.filter((b) => !(b.sessionId === ack.sessionId && b.lastSeq <= ack.ackedSeq));
    attempt = 0;
    armAckTimer();
    ackChain = ackChain
      .then(() => spool.ack(ack.sessionId, ack.ackedSeq))
      .catch(onError)
      .then(notifyDrained);
    void pump();
  };

  const connect = (): RecordingStream | undefined => {
    if (stream) return stream;
    if (retryTimer || stopped) return undefined;
    let opened: RecordingStream;
    try {
      opened = openStream();
    } catch (err) {
      onError(err);
      scheduleReconnect();
      return undefined;
    }
    if (stats.batchesSent > 0) stats.reconnects++;
    stream = opened;
    opened.on("data", onAck);
    opened.on("error", (err: unknown) => fail(opened, err));
    opened.on("end", () => fail(opened, new Error("recording upload: stream ended by server")));
    return opened;
  };

  /** The next session with durable data not yet sent on the current stream, taken in turn. */
  const nextSession = (): { sessionId: string; afterSeq: number } | undefined => {
    const pending = spool.pending();
    for (const id of sent.keys()) if (!pending.some((p) => p.sessionId === id)) sent.delete(id);
    const candidates = pending
      .map((p) => ({
        sessionId: p.sessionId,
        afterSeq: Math.max(p.ackedSeq, sent.get(p.sessionId) ?? 0),
        last: p.lastSeq,
      }))
      .filter((c) => c.afterSeq < c.last);
    if (candidates.length === 0) return undefined;
    rotation = (rotation + 1) % candidates.length;
    return candidates[rotation];
  };

  const sendOne = async (): Promise<boolean> => {
    const next = nextSession();
    if (!next) return false;
    const current = connect();
    if (!current) return false;
    const batch = await spool.read(next.sessionId, next.afterSeq, maxBatchBytes, maxBatchEvents);
    const last = batch.events[batch.events.length - 1];
    if (current !== stream || !last) return false;
    sent.set(batch.sessionId, last.seq);
    inFlight.push({ sessionId: batch.sessionId, lastSeq: last.seq });
    current.write({ sessionId: batch.sessionId, events: batch.events });
    stats.batchesSent++;
    if (inFlight.length === 1) armAckTimer();
    return true;
  };

  async function pump(): Promise<void> {
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    try {
      do {
        again = false;
        while (!stopped && inFlight.length < window && (await sendOne()));
      } while (again && !stopped);
    } catch (err) {
      if (stream) fail(stream, err);
      else onError(err);
    } finally {
      pumping = false;
    }
  }

  const wake = (): void => {
    if (wakeTimer || stopped) return;
    wakeTimer = setTimeout(() => {
      wakeTimer = undefined;
      void pump();
    }, coalesceMs);
    wakeTimer.unref();
  };

  const waitDrained = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      drainWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
      notifyDrained();
    });

  return {
    start() {
      if (started) return;
      started = true;
      unsubscribe = spool.onFlushed(wake);
      void pump();
    },
    async stop({ drainMs = 5000 } = {}) {
      if (stopped) return;
      unsubscribe?.();
      await spool.flush().catch(onError);
      if (started) {
        await pump();
        await waitDrained(drainMs);
      }
      stopped = true;
      for (const timer of [wakeTimer, retryTimer, ackTimer]) clearTimeout(timer);
      await ackChain;
      const last = stream;
      stream = undefined;
      last?.end();
      last?.cancel();
    },
    stats: () => ({ connected: stream !== undefined, inFlight: inFlight.length, ...stats }),
  };
}
