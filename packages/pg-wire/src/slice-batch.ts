/**
 * Collects outgoing bytes and merges adjacent views of the same buffer, so a run
 * of frames forwarded unchanged from one chunk leaves as one slice (one write)
 * instead of one write per frame.
 */
export class SliceBatch {
  private slices: Buffer[] = [];
  private buf: Buffer | undefined;
  private start = 0;
  private end = 0;
  private total = 0;

  /** Adds `buf[start, end)` without copying; merged with the previous range when adjacent. */
  addRange(buf: Buffer, start: number, end: number): void {
    if (end <= start) return;
    this.total += end - start;
    if (this.buf === buf && this.end === start) {
      this.end = end;
      return;
    }
    this.close();
    this.buf = buf;
    this.start = start;
    this.end = end;
  }

  add(buf: Buffer): void {
    this.addRange(buf, 0, buf.length);
  }

  /** Bytes added since the last take(). */
  get length(): number {
    return this.total;
  }

  /** Returns the collected slices and resets the batch. */
  take(): Buffer[] {
    this.close();
    const out = this.slices;
    this.slices = [];
    this.total = 0;
    return out;
  }

  private close(): void {
    if (!this.buf) return;
    const b = this.buf;
    this.slices.push(this.start === 0 && this.end === b.length ? b : b.subarray(this.start, this.end));
    this.buf = undefined;
  }
}
