import { createHmac } from "node:crypto";
import type { MaskingDetector } from "../rules";

export type ActionKind = "redact" | "keep_last" | "hash";

export interface MaskAction {
  readonly kind: ActionKind;
  /** keep_last: characters kept at the end. */
  readonly keep: number;
}

/** What a value masked whole by `redact` becomes. */
export const REDACTED = "****";

/** What a detector match masked by `redact` becomes: `[email]`, `[credit_card]`, … */
export function redactedMatch(kind: MaskingDetector): string {
  return `[${kind}]`;
}

/**
 * Replaces every character but the last `keep` with '*' (by code point, so a surrogate
 * pair is never split). A value no longer than `keep` is masked entirely.
 */
export function keepLast(text: string, keep: number): string {
  let cut = text.length;
  for (let kept = 0; kept < keep && cut > 0; kept++) cut -= isPairEnd(text, cut - 1) ? 2 : 1;
  if (cut <= 0) return "*".repeat(codePoints(text, text.length));
  return "*".repeat(codePoints(text, cut)) + text.slice(cut);
}

function isPairEnd(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  if (c < 0xdc00 || c > 0xdfff || i === 0) return false;
  const h = text.charCodeAt(i - 1);
  return h >= 0xd800 && h <= 0xdbff;
}

/** Code points in `text[0, end)`. */
function codePoints(text: string, end: number): number {
  let n = end;
  for (let i = 1; i < end; i++) if (isPairEnd(text, i)) n--;
  return n;
}

export const HASH_PREFIX = "hash:";
const HASH_HEX_CHARS = 16;
const CACHE_LIMIT = 8192;
const CACHE_MAX_INPUT = 256;

/**
 * Deterministic keyed hash: `hash:` + the first 64 bits (16 hex characters) of
 * HMAC-SHA256(key, value bytes). Equal values give equal outputs under one key, so joins
 * and GROUP BY on masked columns still work; without the key the value cannot be
 * recovered by guessing. Input is a "binary" (latin1) string: one character per byte.
 * Recent short inputs (up to 2 × 8,192 values of at most 256 bytes) are cached, as
 * masked columns repeat values.
 */
export type Hasher = (bytes: string) => string;

export function createHasher(key: Buffer): Hasher {
  // two generations: a full cache becomes the old one, so values in use survive the turnover
  let recent = new Map<string, string>();
  let older = new Map<string, string>();
  return (bytes) => {
    let out = recent.get(bytes);
    if (out !== undefined) return out;
    out =
      older.get(bytes) ??
      HASH_PREFIX + createHmac("sha256", key).update(bytes, "latin1").digest("hex").slice(0, HASH_HEX_CHARS);
    if (bytes.length <= CACHE_MAX_INPUT) {
      if (recent.size >= CACHE_LIMIT) {
        older = recent;
        recent = new Map();
      }
      recent.set(bytes, out);
    }
    return out;
  };
}
