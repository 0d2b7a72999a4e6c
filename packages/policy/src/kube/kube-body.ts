import { Transform, type TransformCallback } from "node:stream";
import {
  emptyTally,
  KubeBodyError,
  type KubeRedactOptions,
  type KubeRedactTally,
  redactKubeBody,
} from "./kube-redact";

/**
 * Bounded readers around `redactKubeBody`: one for a whole response (get, list, table,
 * Status) and a stream for watch responses (newline-delimited events). A body that is not
 * JSON, or larger than the bound, throws a `KubeBodyError`: the caller cuts the response
 * off (or answers with a Status) rather than forward what it could not redact. The agent
 * asks the API server for JSON (`Accept: application/json`), so protobuf and YAML never
 * have to be read here.
 */

/** The largest single document or watch event read (the API server's own limit is near 3 MiB per object). */
export const MAX_KUBE_DOCUMENT = 16 * 1024 * 1024;

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new KubeBodyError("not_json", "the Kubernetes response is not JSON; Sluice cannot redact it");
  }
}

function tooLarge(limit: number): KubeBodyError {
  return new KubeBodyError("too_large", `Kubernetes responses larger than ${limit} bytes are refused`);
}

/** Parses, redacts and re-serializes one whole JSON response body. */
export function redactKubeJson(
  body: Uint8Array | string,
  options: KubeRedactOptions = {},
  limit = MAX_KUBE_DOCUMENT,
): { body: Buffer; tally: KubeRedactTally } {
  const size = typeof body === "string" ? Buffer.byteLength(body, "utf8") : body.byteLength;
  if (size > limit) throw tooLarge(limit);
  const text = typeof body === "string" ? body : Buffer.from(body).toString("utf8");
  const doc = parse(text);
  const tally = emptyTally();
  redactKubeBody(doc, options, tally);
  return { body: Buffer.from(JSON.stringify(doc), "utf8"), tally };
}

export interface KubeWatchOptions extends KubeRedactOptions {
  /** The largest event read (default {@link MAX_KUBE_DOCUMENT}). */
  maxEvent?: number;
}

/**
 * A watch response, redacted event by event: splits the newline-delimited JSON stream at
 * any chunk boundary, redacts each event, drops the events of hidden items and writes each
 * kept event on its own line. An event over the bound or not JSON fails the stream.
 */
export class KubeWatchRedactor extends Transform {
  readonly tally: KubeRedactTally = emptyTally();
  private readonly options: KubeRedactOptions;
  private readonly limit: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(options: KubeWatchOptions = {}) {
    super();
    const { maxEvent, ...redact } = options;
    this.options = redact;
    this.limit = maxEvent ?? MAX_KUBE_DOCUMENT;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      let start = 0;
      for (let nl = chunk.indexOf(0x0a, start); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
        this.append(chunk.subarray(start, nl));
        this.event(Buffer.concat(this.pending, this.pendingBytes));
        this.pending = [];
        this.pendingBytes = 0;
        start = nl + 1;
      }
      if (start < chunk.length) this.append(chunk.subarray(start));
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.pendingBytes > 0) this.event(Buffer.concat(this.pending, this.pendingBytes));
      this.pending = [];
      this.pendingBytes = 0;
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  private append(part: Buffer): void {
    this.pendingBytes += part.length;
    if (this.pendingBytes > this.limit) throw tooLarge(this.limit);
    this.pending.push(part);
  }

  private event(line: Buffer): void {
    const text = line.toString("utf8").trim();
    if (text === "") return;
    const doc = parse(text);
    if (redactKubeBody(doc, this.options, this.tally)) this.push(`${JSON.stringify(doc)}\n`);
  }
}
