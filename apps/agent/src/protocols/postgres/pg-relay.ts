import type { Duplex } from "node:stream";
import { errorFrame, type FrameReader, frontend } from "@sluice/pg-wire";
import { FramedPump } from "./framed-pump";
import type { PolicyGate } from "./policy-gate";
import {
  CLIENT_TYPES,
  CLIENT_TYPES_RECORDED,
  ClientFrames,
  UPSTREAM_TYPES,
  UPSTREAM_TYPES_RECORDED,
  UpstreamFrames,
} from "./relay-frames";
import { PassPump, type Pump, type PumpOwner } from "./relay-pumps";
import type { StatementTracker } from "./statement-tracker";

export interface RelayOptions {
  client: Duplex;
  upstream: Duplex;
  /** Readers carry bytes received during the handshake; they are relayed first. */
  clientReader: FrameReader;
  upstreamReader: FrameReader;
  tracker?: StatementTracker | undefined;
  /** Enforces guardrails, reviews and masking; absent on connections without policy. */
  gate?: PolicyGate | undefined;
  /** Called once, when the session has ended. */
  onEnd(end: RelayEnd): void;
}

export interface RelayEnd {
  reason: string;
  bytesIn: number;
  bytesOut: number;
  error?: unknown;
}

/**
 * One session's relay: two pumps and how the session ends. Without a policy gate each
 * pump forwards every chunk as it arrives (one write per chunk) and reads the frames
 * recording needs in place; with a gate, frames are forwarded whole, after the gate has
 * decided on them (see FramedPump).
 */
class Relay implements PumpOwner {
  bytesIn = 0;
  bytesOut = 0;
  ended = false;
  private readonly client: Duplex;
  private readonly upstream: Duplex;
  private readonly gate: PolicyGate | undefined;
  private readonly tracker: StatementTracker | undefined;
  private readonly onEnd: (end: RelayEnd) => void;
  private readonly clientFrames: ClientFrames;
  private readonly upstreamFrames: UpstreamFrames;
  private readonly toUpstream: Pump;
  private readonly toClient: Pump;

  constructor(o: RelayOptions) {
    this.client = o.client;
    this.upstream = o.upstream;
    this.gate = o.gate;
    this.tracker = o.tracker;
    this.onEnd = o.onEnd;
    this.clientFrames = new ClientFrames(o.tracker);
    this.upstreamFrames = new UpstreamFrames(o.tracker);
    if (o.gate) {
      this.toUpstream = new FramedPump(this, o.client, o.upstream, this.clientFrames, true, o.gate);
      this.toClient = new FramedPump(this, o.upstream, o.client, this.upstreamFrames, false, o.gate);
    } else {
      const [clientTypes, upstreamTypes] = o.tracker
        ? [CLIENT_TYPES_RECORDED, UPSTREAM_TYPES_RECORDED]
        : [CLIENT_TYPES, UPSTREAM_TYPES];
      this.toUpstream = new PassPump(this, o.client, o.upstream, this.clientFrames, clientTypes, true);
      this.toClient = new PassPump(this, o.upstream, o.client, this.upstreamFrames, upstreamTypes, false);
    }
    o.client.on("close", this.onClientClose.bind(this));
    o.upstream.on("close", this.onUpstreamClose.bind(this));
    o.client.on("error", this.onClientError.bind(this));
    o.upstream.on("error", this.onUpstreamError.bind(this));
    this.toUpstream.start(o.clientReader);
    this.toClient.start(o.upstreamReader);
    if (o.client.destroyed) this.finish("client disconnected");
    else if (o.upstream.destroyed)
      this.finish("upstream closed", undefined, errorFrame("08006", "upstream connection closed"));
  }

  terminate(reason: string): void {
    this.finish(
      `terminated: ${reason}`,
      undefined,
      errorFrame("57P01", `session terminated by Sluice: ${reason}`),
    );
  }

  commit(): void {
    try {
      this.tracker?.commit();
    } catch (err) {
      // Fail closed: a result the recording could not keep is not shown.
      this.finish(
        "recording failed",
        err,
        errorFrame("58030", "Sluice could not write the session recording; the session is closed"),
      );
    }
  }

  protocolError(fromClient: boolean, err: unknown): void {
    const who = fromClient ? "" : "the target database sent ";
    this.finish(
      fromClient ? "client protocol error" : "upstream protocol error",
      err,
      errorFrame("08P01", `${who}${(err as Error).message}`),
    );
  }

  /**
   * Ends the session once: Terminate upstream unless the client sent it, then close both
   * sides. Messages are only added where the bytes sent so far end on a frame boundary.
   */
  finish(reason: string, error?: unknown, toClient?: Buffer): void {
    if (this.ended) return;
    this.ended = true;
    const { client, upstream } = this;
    this.gate?.close();
    if (!this.clientFrames.terminated && upstream.writable && this.toUpstream.atBoundary)
      upstream.write(frontend.terminate());
    upstream.end();
    if (toClient && client.writable && this.toClient.atBoundary) client.write(toClient);
    client.end();
    setTimeout(destroyBoth, 1_000, client, upstream).unref();
    const { bytesIn, bytesOut } = this;
    this.onEnd({ reason, bytesIn, bytesOut, ...(error ? { error } : {}) });
  }

  private onClientClose(): void {
    this.finish(this.clientFrames.terminated ? "client terminated" : "client disconnected");
  }

  private onUpstreamClose(): void {
    const notify = !this.clientFrames.terminated && !this.upstreamFrames.fatal;
    this.finish(
      "upstream closed",
      undefined,
      notify ? errorFrame("08006", "upstream connection closed") : undefined,
    );
  }

  private onClientError(err: Error): void {
    this.finish("client error", err);
  }

  private onUpstreamError(err: Error): void {
    this.finish("upstream error", err);
  }
}

function destroyBoth(client: Duplex, upstream: Duplex): void {
  client.destroy();
  upstream.destroy();
}

/**
 * Relays frames in both directions after the handshake, reading the frames recording
 * and policy need and forwarding the original bytes, until `onEnd`. When a destination's
 * write buffer is full the source is paused until 'drain'. A malformed frame ends the
 * session with an ErrorResponse (08P01) to the client.
 */
export function relay(o: RelayOptions): RelaySession {
  return new Relay(o);
}

/** A running relay. */
export interface RelaySession {
  /** Ends the session, telling the client why (SQLSTATE 57P01). */
  terminate(reason: string): void;
}
