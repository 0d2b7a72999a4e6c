import type { Duplex } from "node:stream";
import { BackendCode, type FrameReader, type FrameSink, SliceBatch } from "@sluice/pg-wire";
import { GateAction, type PolicyGate } from "./policy-gate";
import type { Pump, PumpOwner } from "./relay-pumps";

function writeAll(dest: Duplex, slices: Buffer[]): boolean {
  if (slices.length === 1) return dest.write(slices[0]);
  let ok = true;
  dest.cork();
  for (const s of slices) ok = dest.write(s) && ok;
  dest.uncork();
  return ok;
}

/**
 * Splits each chunk into whole frames (bounded by the reader's limits) and lets the
 * policy gate decide on each before it is forwarded: client frames may be dropped or
 * held for review (the client's input is paused meanwhile), upstream frames replaced
 * (masked DataRows, errors placed around ReadyForQuery). The sink reads frames after
 * the gate, so the recording sees what the client sees. Unchanged frames of a chunk
 * still leave as one write.
 */
export class FramedPump implements Pump {
  readonly atBoundary = true;
  private readonly batch = new SliceBatch();
  private waiting = false;
  private holding = false;
  private reader: FrameReader | undefined = undefined;
  private readonly onDrain: () => void;
  private readonly onReleased: () => void;

  constructor(
    private readonly owner: PumpOwner,
    private readonly src: Duplex,
    private readonly dst: Duplex,
    private readonly sink: FrameSink,
    private readonly fromClient: boolean,
    private readonly gate: PolicyGate,
  ) {
    this.onDrain = this.drained.bind(this);
    this.onReleased = this.released.bind(this);
  }

  start(reader: FrameReader): void {
    this.reader = reader;
    this.src.on("data", this.onChunk.bind(this));
    this.onChunk(undefined);
    this.src.resume();
  }

  private drained(): void {
    this.waiting = false;
    if (!this.holding) this.src.resume();
  }

  private released(): void {
    if (this.owner.ended) return;
    this.holding = false;
    const frame = this.gate.release();
    if (frame) {
      this.sink.onFrame(frame[0]!, frame, 0, frame.length);
      this.batch.add(frame);
    }
    this.onChunk(undefined);
    if (!this.waiting && !this.holding) this.src.resume();
  }

  private onChunk(chunk: Buffer | undefined): void {
    const { owner, batch } = this;
    const reader = this.reader!;
    if (chunk) reader.push(chunk);
    if (this.holding) {
      if (this.fromClient) owner.bytesIn += chunk?.length ?? 0;
      return;
    }
    try {
      while (reader.next()) {
        if (!this.decide()) {
          if (owner.ended) return;
          if (this.holding) break;
          continue;
        }
        this.sink.onFrame(reader.type, reader.buf, reader.start, reader.end);
        batch.addRange(reader.buf, reader.start, reader.end);
      }
    } catch (err) {
      batch.take();
      owner.protocolError(this.fromClient, err);
      return;
    }
    if (!this.fromClient && batch.length > 0) {
      // What the recording made of these frames is committed before the client sees them.
      owner.commit();
      if (owner.ended) {
        batch.take();
        return;
      }
    }
    if (this.fromClient) owner.bytesIn += chunk?.length ?? 0;
    else owner.bytesOut += batch.length;
    if (batch.length > 0 && !writeAll(this.dst, batch.take()) && !this.waiting) {
      this.waiting = true;
      this.src.pause();
      this.dst.once("drain", this.onDrain);
    }
  }

  /** Applies the gate to the current frame; false when it was dropped, held or replaced. */
  private decide(): boolean {
    const { gate } = this;
    const reader = this.reader!;
    if (this.fromClient) {
      const action = gate.fromClient(reader, this.onReleased);
      if (action === GateAction.Drop) return false;
      if (action === GateAction.Hold) {
        this.holding = true;
        this.src.pause();
        return false;
      }
      return true;
    }
    if (reader.type === BackendCode.DataRow) {
      if (!gate.masking) return true;
      const at = gate.maskDataRow(reader);
      if (this.owner.ended) return false;
      if (at < 0) return true;
      // masked rows sit back to back in the arena: a run of them leaves as one slice
      const rows = gate.rows;
      this.sink.onFrame(BackendCode.DataRow, rows.bytes, at, rows.pos);
      this.batch.addRange(rows.bytes, at, rows.pos);
      return false;
    }
    const replaced = gate.fromUpstream(reader);
    if (this.owner.ended) return false;
    if (replaced === undefined) {
      const masked = gate.maskMessage(reader.buf, reader.start, reader.end);
      if (masked === undefined) return true;
      // the recording reads the masked message, as the client does
      this.sink.onFrame(reader.type, masked, 0, masked.length);
      this.batch.add(masked);
      return false;
    }
    this.sink.onFrame(reader.type, reader.buf, reader.start, reader.end);
    this.batch.add(replaced);
    return false;
  }
}
