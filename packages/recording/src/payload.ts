import { bodyBytes, MAX_BODY_OVERHEAD_BYTES } from "./frame";

/** Worst-case UTF-8 bytes one UTF-16 code unit can grow to once JSON-escaped (`\u001f`). */
const MAX_ESCAPED_BYTES_PER_UNIT = 6;
const RESERVED_BYTES = 512;

/**
 * A payload its producer has already serialised as JSON, stored as is (a recorder on a
 * hot path can encode its own event shapes faster than a generic `JSON.stringify`).
 * `json` must be one JSON value; the record size cap still applies.
 */
export class EncodedPayload {
  // Lets it travel through sinks typed for plain payload objects (`Record<string, unknown>`).
  [key: string]: unknown;
  constructor(readonly json: string) {}
}

/**
 * Serialises an event payload so that the encoded record body fits in `maxBodyBytes`. A payload that is too
 * large is replaced by `{ truncated: true, originalBytes, preview }`; one that cannot be serialised
 * (a cycle, a BigInt) by `{ unserializable: true, error }`. Appending never throws because of its payload.
 */
export function encodePayload(kind: string, payload: unknown, maxBodyBytes: number): string {
  let json: string | undefined;
  try {
    json = payload instanceof EncodedPayload ? payload.json : JSON.stringify(payload);
  } catch (err) {
    json = JSON.stringify({ unserializable: true, error: err instanceof Error ? err.message : String(err) });
  }
  if (json === undefined) json = "null";
  // A UTF-16 code unit is at most 3 UTF-8 bytes: most payloads fit without measuring them.
  if (json.length * 3 + MAX_BODY_OVERHEAD_BYTES <= maxBodyBytes) return json;
  if (bodyBytes(kind, json) <= maxBodyBytes) return json;
  const previewUnits = Math.max(0, Math.floor((maxBodyBytes - RESERVED_BYTES) / MAX_ESCAPED_BYTES_PER_UNIT));
  const truncated = JSON.stringify({
    truncated: true,
    originalBytes: Buffer.byteLength(json),
    preview: json.slice(0, previewUnits),
  });
  if (bodyBytes(kind, truncated) <= maxBodyBytes) return truncated;
  return JSON.stringify({ truncated: true, originalBytes: Buffer.byteLength(json) });
}
