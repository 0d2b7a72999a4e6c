import type { Transform } from "node:stream";
import { MaskingError } from "../errors";
import { MaskTally } from "../mask-tally";
import type { MaskCounts, MaskingPlan } from "../types";
import { countKinds, type MaskContext } from "../value-masker";
import type { BodyPlan } from "./body-plan";
import { DecodingMaskingTransform, MaskingTransform } from "./body-transform";
import { type ContentInfo, isUtf8Charset, parseContentEncoding, parseContentType } from "./content-type";
import type { ChunkMasker } from "./json-grammar";
import { JsonMasker } from "./json-masker";
import { SseMasker } from "./sse-masker";
import { maskTextBytes, TextStreamMasker } from "./text-stream";

export interface BodyMaskerOptions {
  /** The Content-Type header of the body. */
  contentType: string | undefined;
  /** The Content-Encoding header of the body. */
  contentEncoding?: string | undefined;
  /** Running counts (e.g. of the session) the masker also adds to. */
  totals?: MaskTally;
  /**
   * A body that masking rules apply to but whose type cannot be masked (binary, multipart,
   * no Content-Type): `refuse` it, or `pass` it unmasked.
   */
  otherContent: "pass" | "refuse";
}

export type BodyMasker =
  /** Send the body as it is. */
  | { kind: "pass" }
  /** Masking is required and not possible: do not send the body. */
  | { kind: "refuse"; reason: string }
  | {
      kind: "mask";
      /**
       * Pipe the body through it. It fails with a `MaskingError` (`malformed_body`) where
       * it cannot follow the body; the output before that point is masked, nothing after
       * it is sent, and the caller cuts the response off.
       */
      transform: Transform;
      /** What the masker has masked so far. */
      counts(): MaskCounts;
      /**
       * The body's Content-Encoding was decoded: the caller sends the masked body without
       * Content-Encoding and without Content-Length (the masked length is not known ahead).
       * Without decoding the caller still drops Content-Length, since masking changes it.
       */
      decoded: boolean;
    };

function context(plan: BodyPlan, own: MaskTally, totals: MaskTally | undefined): MaskContext {
  return {
    hasher: plan.hasher,
    tally: own.slots,
    totals: totals?.slots ?? new Float64Array(countKinds.length),
  };
}

/** The chunk masker for a maskable format, or undefined when no rule applies to it. */
function chunkMasker(plan: BodyPlan, info: ContentInfo, ctx: MaskContext): ChunkMasker | undefined {
  switch (info.format) {
    case "json":
      return new JsonMasker(plan, ctx);
    case "ndjson":
      return new JsonMasker(plan, ctx, true);
    case "sse":
      return new SseMasker(plan, plan.text, ctx);
    case "text":
      return plan.text ? new TextStreamMasker(plan.text, ctx) : undefined;
    case "other":
      return undefined;
  }
}

/**
 * Decides how an HTTP body passes the masking rules: untouched when no rule applies to
 * bodies (or, for text, no detector), refused when masking is required but the body
 * cannot be masked, else masked as it streams: JSON (`application/json`, `*+json`) by
 * key paths and detectors, NDJSON/JSON lines document by document, event streams line by
 * line (JSON `data:` values as JSON), other text by detectors. gzip, x-gzip, deflate (zlib
 * or raw) and br are decoded first. A charset other than UTF-8, or a coding that cannot be
 * decoded, is refused whatever `otherContent` says.
 */
export function createBodyMasker(plan: MaskingPlan, opts: BodyMaskerOptions): BodyMasker {
  const body = plan.body;
  if (!body) return { kind: "pass" };
  const info = parseContentType(opts.contentType);
  if (info.format === "other") {
    if (opts.otherContent === "pass") return { kind: "pass" };
    return {
      kind: "refuse",
      reason: `a ${info.mediaType || "body without a content type"} body cannot be masked`,
    };
  }
  if (!isUtf8Charset(info.charset)) {
    return { kind: "refuse", reason: `a ${info.mediaType} body in charset ${info.charset} cannot be masked` };
  }
  if (info.format === "text" && !body.text) return { kind: "pass" };
  const coding = parseContentEncoding(opts.contentEncoding);
  if ("unknown" in coding) {
    return { kind: "refuse", reason: `a body with content encoding ${coding.unknown} cannot be masked` };
  }
  const own = new MaskTally();
  const masker = chunkMasker(body, info, context(body, own, opts.totals))!;
  const decoded = coding.codings.length > 0;
  return {
    kind: "mask",
    transform: decoded ? new DecodingMaskingTransform(coding.codings, masker) : new MaskingTransform(masker),
    counts: () => own.counts(),
    decoded,
  };
}

/** Longest preview text; the rest of a longer body is cut off. */
export const MAX_PREVIEW_BYTES = 1024 * 1024;

/**
 * The masked text of a whole (identity-coded) body, for recordings and reviewers'
 * previews: masked like a streamed body, cut after {@link MAX_PREVIEW_BYTES}; a body that
 * cannot be masked, or a JSON body that is malformed while rules mask whole JSON values,
 * becomes a bracketed placeholder.
 */
export function maskBodyPreview(
  plan: MaskingPlan,
  bytes: Uint8Array,
  contentType: string | undefined,
): string {
  const info = parseContentType(contentType);
  const size = bytes.length;
  const what = info.mediaType || "unknown type";
  if (info.format === "other") return `[${size} bytes of ${what}]`;
  if (!isUtf8Charset(info.charset)) return `[${size} bytes of ${what} in charset ${info.charset}]`;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(size, MAX_PREVIEW_BYTES));
  const body = plan.body;
  if (!body) return buf.toString("utf8");
  const ctx = context(body, new MaskTally(), undefined);
  const masker = chunkMasker(body, info, ctx);
  if (!masker) return buf.toString("utf8");
  const cut = size > buf.length;
  try {
    const parts = [masker.write(buf), cut ? undefined : masker.end()].filter((p) => p !== undefined);
    const text = Buffer.concat(parts).toString("utf8");
    return cut ? `${text}[… ${size - buf.length} more bytes]` : text;
  } catch (err) {
    if (!(err instanceof MaskingError)) throw err;
    if (body.wholeValues || !body.text) return `[${size} bytes of malformed ${what} not shown]`;
    return maskTextBytes(body.text, buf, 0, buf.length, ctx).toString("utf8");
  }
}
