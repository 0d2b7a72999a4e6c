/**
 * Request-target normalization: the one reading of a request's path that both the HTTP
 * rules and the upstream see. The agent forwards the normalized path, never the raw one,
 * so a rule cannot be walked around with an encoding the upstream would read differently.
 */

export type TargetRefusal =
  | "empty_target"
  | "asterisk_form"
  | "absolute_form"
  | "authority_form"
  | "target_too_long"
  | "control_character"
  | "non_ascii"
  | "backslash"
  | "fragment"
  | "bad_escape"
  | "double_encoding"
  | "encoded_separator"
  | "encoded_control"
  | "bad_utf8"
  | "above_root"
  | "dot_segment"
  | "too_many_params"
  | "bad_query";

export interface NormalizedTarget {
  ok: true;
  /** The path as the agent sends it upstream. */
  path: string;
  /** The query as received, without the `?` (`""` when there is none). */
  query: string;
  /** The query's parameters, `+` and %-escapes decoded, in order. */
  params: [string, string][];
}

export interface Refused<R extends string> {
  ok: false;
  reason: R;
  message: string;
}

export type TargetResult = NormalizedTarget | Refused<TargetRefusal>;

export const MAX_TARGET_LENGTH = 8 * 1024;
export const MAX_QUERY_PARAMS = 200;

const UNRESERVED = /^[A-Za-z0-9._~-]$/;
const HEX = /^[0-9A-Fa-f]{2}$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

function refuse(reason: TargetRefusal, message: string): Refused<TargetRefusal> {
  return { ok: false, reason, message };
}

function hexAt(s: string, i: number): number {
  const pair = s.slice(i, i + 2);
  return HEX.test(pair) ? Number.parseInt(pair, 16) : -1;
}

/** Normalizes an origin-form request target (`/path?query`), or says why it is refused. */
export function normalizeTarget(rawTarget: string): TargetResult {
  if (rawTarget.length === 0) return refuse("empty_target", "the request target is empty");
  if (rawTarget.length > MAX_TARGET_LENGTH) {
    return refuse("target_too_long", `request targets longer than ${MAX_TARGET_LENGTH} bytes are refused`);
  }
  if (rawTarget === "*") return refuse("asterisk_form", "the request target * is not proxied");
  if (rawTarget[0] !== "/") {
    if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(rawTarget)) {
      return refuse("absolute_form", "absolute-form request targets are refused; send the path only");
    }
    return refuse("authority_form", "the request target must be a path starting with /");
  }
  for (let i = 0; i < rawTarget.length; i++) {
    const c = rawTarget.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) {
      return refuse("control_character", "the request target contains a space or control character");
    }
    if (c > 0x7e) return refuse("non_ascii", "the request target contains a raw non-ASCII character");
    if (c === 0x5c) return refuse("backslash", "the request target contains a backslash");
    if (c === 0x23) return refuse("fragment", "the request target contains a fragment (#)");
  }
  const q = rawTarget.indexOf("?");
  const decoded = decodePath(q < 0 ? rawTarget : rawTarget.slice(0, q));
  if (!decoded.ok) return decoded;
  const path = resolveSegments(decoded.value);
  if (typeof path !== "string") return path;
  const query = q < 0 ? "" : rawTarget.slice(q + 1);
  const params = parseParams(query);
  if (!Array.isArray(params)) return params;
  return { ok: true, path, query, params };
}

/**
 * Decodes the escapes of unreserved characters, upper-cases the others, and refuses the
 * escapes an upstream could read as a separator, a control character or a second escape.
 */
function decodePath(raw: string): { ok: true; value: string } | Refused<TargetRefusal> {
  let out = "";
  const bytes = new Uint8Array(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i] as string;
    if (ch !== "%") {
      out += ch;
      bytes[n++] = ch.charCodeAt(0);
      continue;
    }
    const b = hexAt(raw, i + 1);
    if (b < 0) return refuse("bad_escape", "the request path has a % not followed by two hex digits");
    if (b === 0x2f || b === 0x5c) {
      return refuse("encoded_separator", "the request path contains an encoded / or \\");
    }
    if (b < 0x20 || b === 0x7f)
      return refuse("encoded_control", "the request path encodes a control character");
    const c = String.fromCharCode(b);
    out += UNRESERVED.test(c) ? c : `%${raw.slice(i + 1, i + 3).toUpperCase()}`;
    bytes[n++] = b;
    i += 2;
  }
  // Checked on the output: `%25%32%65` becomes `%252e` once its unreserved escapes are decoded.
  if (/%25[0-9A-F]{2}/i.test(out)) {
    return refuse("double_encoding", "the request path is percent-encoded twice");
  }
  try {
    utf8.decode(bytes.subarray(0, n));
  } catch {
    return refuse("bad_utf8", "the request path decodes to invalid UTF-8");
  }
  return { ok: true, value: out };
}

/**
 * RFC 3986 remove_dot_segments on the decoded path, after dropping each segment's
 * `;params` and collapsing empty segments; other segments lose their trailing dots.
 */
function resolveSegments(decoded: string): string | Refused<TargetRefusal> {
  const stack: string[] = [];
  let trailingSlash = false;
  for (const part of decoded.slice(1).split("/")) {
    const semi = part.indexOf(";");
    const seg = semi < 0 ? part : part.slice(0, semi);
    trailingSlash = true;
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (stack.length === 0) return refuse("above_root", "the request path climbs above the root with ..");
      stack.pop();
      continue;
    }
    if (/^\.+$/.test(seg))
      return refuse("dot_segment", `the request path has a segment of only dots (${seg})`);
    trailingSlash = false;
    stack.push(seg.replace(/\.+$/, ""));
  }
  return `/${stack.join("/")}${trailingSlash && stack.length > 0 ? "/" : ""}`;
}

function decodeComponent(s: string): string | undefined {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return undefined;
  }
}

function parseParams(query: string): [string, string][] | Refused<TargetRefusal> {
  const out: [string, string][] = [];
  if (query === "") return out;
  for (const piece of query.split("&")) {
    if (piece === "") continue;
    if (out.length >= MAX_QUERY_PARAMS) {
      return refuse(
        "too_many_params",
        `requests with more than ${MAX_QUERY_PARAMS} query parameters are refused`,
      );
    }
    const eq = piece.indexOf("=");
    const name = decodeComponent(eq < 0 ? piece : piece.slice(0, eq));
    const value = eq < 0 ? "" : decodeComponent(piece.slice(eq + 1));
    if (name === undefined || value === undefined) {
      return refuse("bad_query", "the query has a malformed percent-escape");
    }
    out.push([name, value]);
  }
  return out;
}
