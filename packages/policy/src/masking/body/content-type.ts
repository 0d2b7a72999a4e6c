/** How a body is masked, by its media type. */
export type BodyFormat = "json" | "ndjson" | "sse" | "text" | "other";

export interface ContentInfo {
  readonly format: BodyFormat;
  /** Lower-case `type/subtype`, "" when there is no Content-Type. */
  readonly mediaType: string;
  /** Lower-case charset parameter, when given. */
  readonly charset: string | undefined;
}

const NDJSON = new Set([
  "application/x-ndjson",
  "application/ndjson",
  "application/jsonl",
  "application/x-jsonl",
  "application/jsonlines",
  "application/x-jsonlines",
]);

const TEXTUAL = new Set([
  "application/xml",
  "application/javascript",
  "application/ecmascript",
  "application/x-www-form-urlencoded",
  "application/yaml",
  "application/x-yaml",
  "application/graphql",
  "application/csv",
  "application/sql",
]);

function formatOf(mediaType: string): BodyFormat {
  if (mediaType === "application/json" || mediaType === "text/json" || mediaType.endsWith("+json")) {
    return "json";
  }
  if (NDJSON.has(mediaType)) return "ndjson";
  if (mediaType === "text/event-stream") return "sse";
  if (mediaType.startsWith("text/") || TEXTUAL.has(mediaType)) return "text";
  if (mediaType.endsWith("+xml") || mediaType.endsWith("+yaml")) return "text";
  return "other";
}

/** Reads a Content-Type header value (`application/json; charset=utf-8`). */
export function parseContentType(header: string | undefined): ContentInfo {
  const [type = "", ...params] = (header ?? "").split(";");
  const mediaType = type.trim().toLowerCase();
  let charset: string | undefined;
  for (const p of params) {
    const eq = p.indexOf("=");
    if (eq < 0 || p.slice(0, eq).trim().toLowerCase() !== "charset") continue;
    charset = p
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, "$1")
      .toLowerCase();
  }
  return { format: mediaType === "" ? "other" : formatOf(mediaType), mediaType, charset };
}

/** UTF-8, or a charset UTF-8 is a superset of. */
export function isUtf8Charset(charset: string | undefined): boolean {
  return charset === undefined || charset === "utf-8" || charset === "utf8" || charset === "us-ascii";
}

export type ContentCoding = "gzip" | "deflate" | "br";

/**
 * The codings of a Content-Encoding header in the order they were applied (decode from
 * the last), or the first coding that cannot be decoded.
 */
export function parseContentEncoding(
  header: string | undefined,
): { codings: ContentCoding[] } | { unknown: string } {
  const codings: ContentCoding[] = [];
  for (const raw of (header ?? "").split(",")) {
    const c = raw.trim().toLowerCase();
    if (c === "" || c === "identity") continue;
    if (c === "gzip" || c === "x-gzip") codings.push("gzip");
    else if (c === "deflate" || c === "br") codings.push(c);
    else return { unknown: c };
  }
  return { codings };
}
