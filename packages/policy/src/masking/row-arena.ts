/**
 * Where masked DataRows are written: one buffer that frames are appended to back to
 * back, so a run of masked rows leaves the agent as one slice (one write) and no row
 * costs an allocation of its own. A full buffer is replaced by a new one, never
 * reused: bytes already written stay valid for whoever still references them (the
 * socket's write queue, the recording).
 */
export class RowArena {
  /** The buffer frames are written into; `bytes[0, pos)` are written. Empty until the first reserve(). */
  bytes: Buffer = EMPTY;
  pos = 0;

  constructor(private readonly size = 64 * 1024) {}

  /** Makes room for `n` more bytes at `pos` (in a new buffer when this one is full). */
  reserve(n: number): void {
    if (this.bytes.length - this.pos >= n) return;
    this.bytes = Buffer.allocUnsafe(Math.max(this.size, n));
    this.pos = 0;
  }

  /** Lets go of the buffer (an idle session holds none); the next reserve() allocates a new one. */
  release(): void {
    this.bytes = EMPTY;
    this.pos = 0;
  }
}

const EMPTY = Buffer.alloc(0);
