import { Transform, type TransformCallback } from "node:stream";

const REPLACEMENT = Buffer.from("[redacted]");

/** Secrets shorter than this are not scrubbed (they would match ordinary text). */
export const MIN_SCRUBBED_SECRET = 6;

/**
 * Replaces every occurrence of the given secrets in a byte stream (an upstream that
 * echoes the credential the agent injected, e.g. in an error message), across chunk
 * boundaries. Only a tail that could still be the start of a secret is held back, so a
 * streamed response keeps flowing.
 */
export class SecretScrubber extends Transform {
  private readonly secrets: Buffer[];
  private tail: Buffer = Buffer.alloc(0);

  constructor(secrets: readonly string[]) {
    super();
    this.secrets = [...new Set(secrets)]
      .filter((s) => s.length >= MIN_SCRUBBED_SECRET)
      .map((s) => Buffer.from(s, "utf8"));
  }

  get active(): boolean {
    return this.secrets.length > 0;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const data = this.tail.length > 0 ? Buffer.concat([this.tail, chunk]) : chunk;
    const out = this.replaceAll(data);
    const keep = this.heldSuffix(out);
    this.tail = Buffer.from(out.subarray(out.length - keep));
    cb(null, keep === out.length ? undefined : out.subarray(0, out.length - keep));
  }

  override _flush(cb: TransformCallback): void {
    cb(null, this.tail.length > 0 ? this.tail : undefined);
  }

  private replaceAll(data: Buffer): Buffer {
    let out = data;
    for (const secret of this.secrets) {
      let at = out.indexOf(secret);
      if (at < 0) continue;
      const parts: Buffer[] = [];
      let from = 0;
      while (at >= 0) {
        parts.push(out.subarray(from, at), REPLACEMENT);
        from = at + secret.length;
        at = out.indexOf(secret, from);
      }
      parts.push(out.subarray(from));
      out = Buffer.concat(parts);
    }
    return out;
  }

  /** The length of the longest suffix of `data` that is a proper prefix of some secret. */
  private heldSuffix(data: Buffer): number {
    let best = 0;
    for (const secret of this.secrets) {
      const max = Math.min(secret.length - 1, data.length);
      for (let n = max; n > best; n--) {
        if (data.compare(secret, 0, n, data.length - n, data.length) === 0) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}

/** The forms in which the credential the agent injects could come back: itself and its Basic encoding. */
export function secretForms(username: string, secret: string): string[] {
  if (secret.length < MIN_SCRUBBED_SECRET) return [];
  return [secret, Buffer.from(`${username}:${secret}`).toString("base64")];
}
