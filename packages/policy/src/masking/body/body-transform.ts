import { Transform, type TransformCallback } from "node:stream";
import * as zlib from "node:zlib";
import type { ContentCoding } from "./content-type";
import type { ChunkMasker } from "./json-grammar";

const DECODE_CHUNK = 64 * 1024;

/** Runs a chunk masker over an identity-coded body. */
export class MaskingTransform extends Transform {
  constructor(private readonly masker: ChunkMasker) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let out: Buffer | undefined;
    try {
      out = this.masker.write(chunk);
    } catch (err) {
      cb(err as Error);
      return;
    }
    if (out) this.push(out);
    cb();
  }

  override _flush(cb: TransformCallback): void {
    let out: Buffer | undefined;
    try {
      out = this.masker.end();
    } catch (err) {
      cb(err as Error);
      return;
    }
    if (out) this.push(out);
    cb();
  }
}

/** zlib data starts with CMF/FLG: deflate method, and the pair is a multiple of 31. */
function isZlibHeader(head: Buffer): boolean {
  return head.length >= 2 && (head[0]! & 0x0f) === 8 && ((head[0]! << 8) | head[1]!) % 31 === 0;
}

function decoderFor(coding: ContentCoding, head: Buffer | undefined): Transform {
  const opts = { chunkSize: DECODE_CHUNK };
  if (coding === "gzip") return zlib.createGunzip(opts);
  if (coding === "br") return zlib.createBrotliDecompress(opts);
  // "deflate" should be zlib-wrapped; some servers send raw deflate
  return head === undefined || isZlibHeader(head) ? zlib.createInflate(opts) : zlib.createInflateRaw(opts);
}

/**
 * Decodes a body (codings in the order they were applied) and masks what comes out. The
 * decoders are read only as fast as this stream's reader takes the output, so a small
 * compressed body that expands hugely is never held in memory.
 */
export class DecodingMaskingTransform extends Transform {
  private decoders: Transform[] | undefined;
  private head = Buffer.alloc(0);
  private waiting = false;
  private flushed: TransformCallback | undefined;

  constructor(
    private readonly codings: readonly ContentCoding[],
    private readonly masker: ChunkMasker,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (!this.decoders) {
      this.head = Buffer.concat([this.head, chunk]);
      if (this.head.length < 2) {
        cb();
        return;
      }
      chunk = this.head;
      this.start(this.head);
      this.head = Buffer.alloc(0);
    }
    this.decoders![0]!.write(chunk, () => cb());
  }

  override _flush(cb: TransformCallback): void {
    if (!this.decoders) {
      if (this.head.length === 0) {
        this.finish(cb);
        return;
      }
      this.start(this.head);
      this.decoders![0]!.write(this.head);
    }
    this.flushed = cb;
    this.decoders![0]!.end();
  }

  override _read(size: number): void {
    if (this.waiting) {
      this.waiting = false;
      this.pump();
    }
    super._read(size);
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    for (const d of this.decoders ?? []) d.destroy();
    cb(err);
  }

  private start(head: Buffer): void {
    const decoders = [...this.codings].reverse().map((c, i) => decoderFor(c, i === 0 ? head : undefined));
    for (let i = 0; i + 1 < decoders.length; i++) decoders[i]!.pipe(decoders[i + 1]!);
    for (const d of decoders) d.on("error", (err) => this.destroy(err));
    const last = decoders[decoders.length - 1]!;
    last.on("readable", () => {
      if (!this.waiting) this.pump();
    });
    last.on("end", () => {
      if (this.flushed) this.finish(this.flushed);
    });
    this.decoders = decoders;
  }

  private pump(): void {
    const last = this.decoders![this.decoders!.length - 1]!;
    if (this.destroyed) return;
    for (let d: Buffer | null = last.read(); d !== null; d = last.read()) {
      let out: Buffer | undefined;
      try {
        out = this.masker.write(d);
      } catch (err) {
        this.destroy(err as Error);
        return;
      }
      if (out && !this.push(out)) {
        this.waiting = true;
        return;
      }
    }
  }

  private finish(cb: TransformCallback): void {
    this.flushed = undefined;
    let out: Buffer | undefined;
    try {
      out = this.masker.end();
    } catch (err) {
      cb(err as Error);
      return;
    }
    if (out) this.push(out);
    cb();
  }
}
