import type { Duplex } from "node:stream";
import {
  BackendCode,
  errorFrame,
  type FrameReader,
  FrontendCode,
  frontend,
  SliceBatch,
} from "@sluice/pg-wire";
import type { StatementTracker } from "./statement-tracker";

export interface RelayOptions {
  client: Duplex;
  upstream: Duplex;
  /** Readers carry bytes received during the handshake; they are relayed first. */
  clientReader: FrameReader;
  upstreamReader: FrameReader;
  tracker?: StatementTracker | undefined;
}

export interface RelayEnd {
  reason: string;
  bytesIn: number;
  bytesOut: number;
  error?: unknown;
}

type Inspect = (r: FrameReader) => void;

function clientInspector(t: StatementTracker | undefined, onTerminate: () => void): Inspect {
  return (r) => {
    const type = r.type;
    if (type === FrontendCode.Terminate) return onTerminate();
    if (!t) return;
    if (type === FrontendCode.Query) t.onQuery(r.body());
    else if (type === FrontendCode.Parse) t.onParse(r.body());
    else if (type === FrontendCode.Bind) t.onBind(r.body());
    else if (type === FrontendCode.Execute) t.onExecute(r.body());
    else if (type === FrontendCode.Sync) t.onSync();
    else if (type === FrontendCode.Close) t.onClose(r.body());
  };
}

function upstreamInspector(t: StatementTracker | undefined, state: { fatal: boolean }): Inspect {
  return (r) => {
    const type = r.type;
    if (type === BackendCode.DataRow) {
      t?.onDataRow(r.buf, r.bodyStart, r.end);
      return;
    }
    if (type === BackendCode.ErrorResponse) {
      const severity = r.buf.toString("latin1", r.bodyStart, Math.min(r.bodyStart + 6, r.end));
      state.fatal = severity === "SFATAL" || severity === "SPANIC";
      t?.onError(r.body());
      return;
    }
    if (!t) return;
    if (type === BackendCode.RowDescription) t.onRowDescription(r.body());
    else if (type === BackendCode.CommandComplete) t.onCommandComplete(r.body());
    else if (type === BackendCode.ReadyForQuery) t.onReady();
    else if (type === BackendCode.EmptyQueryResponse) t.onEmptyQuery();
    else if (type === BackendCode.PortalSuspended) t.onPortalSuspended();
    else if (type === BackendCode.NoticeResponse) t.onNotice(r.body());
  };
}

function writeAll(dest: Duplex, slices: Buffer[]): boolean {
  if (slices.length === 1) return dest.write(slices[0]);
  let ok = true;
  dest.cork();
  for (const s of slices) ok = dest.write(s) && ok;
  dest.uncork();
  return ok;
}

/**
 * Relays frames in both directions after the handshake. Each chunk is split into
 * frames (bounded by the readers' limits), the frames recording needs are decoded,
 * and the original bytes are forwarded as few coalesced writes. When a destination's
 * write buffer is full the source is paused until 'drain'. A malformed frame ends the
 * session with an ErrorResponse (08P01) to the client.
 */
export function relay(o: RelayOptions): { done: Promise<RelayEnd>; terminate(reason: string): void } {
  let terminate: (reason: string) => void = () => {};
  const done = new Promise<RelayEnd>((resolve) => {
    let bytesIn = 0;
    let bytesOut = 0;
    let ended = false;
    let clientTerminated = false;
    const upstreamState = { fatal: false };

    function finish(reason: string, error?: unknown, toClient?: Buffer): void {
      if (ended) return;
      ended = true;
      if (!clientTerminated && o.upstream.writable) o.upstream.write(frontend.terminate());
      o.upstream.end();
      if (toClient && o.client.writable) o.client.write(toClient);
      o.client.end();
      setTimeout(() => {
        o.client.destroy();
        o.upstream.destroy();
      }, 1_000).unref();
      resolve({ reason, bytesIn, bytesOut, ...(error ? { error } : {}) });
    }

    const pipe = (src: Duplex, dst: Duplex, reader: FrameReader, inspect: Inspect, fromClient: boolean) => {
      const batch = new SliceBatch();
      let waiting = false;
      const onDrain = () => {
        waiting = false;
        src.resume();
      };
      const onChunk = (chunk: Buffer | undefined) => {
        if (chunk) reader.push(chunk);
        try {
          while (reader.next()) {
            inspect(reader);
            batch.addRange(reader.buf, reader.start, reader.end);
          }
        } catch (err) {
          batch.take();
          const who = fromClient ? "" : "the target database sent ";
          const message = `${who}${(err as Error).message}`;
          return finish(
            fromClient ? "client protocol error" : "upstream protocol error",
            err,
            errorFrame("08P01", message),
          );
        }
        if (fromClient) bytesIn += chunk?.length ?? 0;
        else bytesOut += batch.length;
        if (batch.length > 0 && !writeAll(dst, batch.take()) && !waiting) {
          waiting = true;
          src.pause();
          dst.once("drain", onDrain);
        }
      };
      src.on("data", onChunk);
      onChunk(undefined);
      src.resume();
    };

    pipe(
      o.client,
      o.upstream,
      o.clientReader,
      clientInspector(o.tracker, () => (clientTerminated = true)),
      true,
    );
    pipe(o.upstream, o.client, o.upstreamReader, upstreamInspector(o.tracker, upstreamState), false);

    o.client.on("close", () => finish(clientTerminated ? "client terminated" : "client disconnected"));
    o.upstream.on("close", () => {
      const notify = !clientTerminated && !upstreamState.fatal;
      finish(
        "upstream closed",
        undefined,
        notify ? errorFrame("08006", "upstream connection closed") : undefined,
      );
    });
    o.client.on("error", (err) => finish("client error", err));
    o.upstream.on("error", (err) => finish("upstream error", err));
    terminate = (reason) =>
      finish(
        `terminated: ${reason}`,
        undefined,
        errorFrame("57P01", `session terminated by Sluice: ${reason}`),
      );
    if (o.client.destroyed) finish("client disconnected");
    else if (o.upstream.destroyed)
      finish("upstream closed", undefined, errorFrame("08006", "upstream connection closed"));
  });
  return { done, terminate: (reason) => terminate(reason) };
}
