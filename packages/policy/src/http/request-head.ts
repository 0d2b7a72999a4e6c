import { type NormalizedTarget, normalizeTarget, type Refused, type TargetRefusal } from "./target";

/**
 * Request-head validation for an HTTP/1.x proxy. A request whose framing two parsers could
 * read differently (the agent's and the upstream's) is refused with a 400 before any byte
 * of it is forwarded: that disagreement is what request smuggling is made of.
 */

export type HeadRefusal =
  | "bad_method"
  | "method_not_proxied"
  | "bad_version"
  | "odd_raw_headers"
  | "too_many_headers"
  | "headers_too_large"
  | "bad_header_name"
  | "obs_fold"
  | "bad_header_value"
  | "content_length_and_transfer_encoding"
  | "bad_transfer_encoding"
  | "bad_content_length"
  | "duplicate_content_length"
  | "missing_host"
  | "duplicate_host"
  | "bad_host"
  | "bad_upgrade";

export interface RequestHead {
  method: string;
  /** The request target exactly as received. */
  target: string;
  /** `1.1` or `1.0`, as node's `IncomingMessage.httpVersion` gives it. */
  httpVersion: string;
  /** Alternating names and values, as node's `IncomingMessage.rawHeaders` gives them. */
  rawHeaders: readonly string[];
}

export type HeadCheck = { ok: true; target: NormalizedTarget } | Refused<HeadRefusal | TargetRefusal>;

export const MAX_HEADERS = 100;
export const MAX_HEADER_BYTES = 32 * 1024;
export const MAX_METHOD_LENGTH = 32;
export const MAX_HOST_LENGTH = 255;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Field values: visible characters, obs-text, space and tab; no CR, LF, NUL or other controls. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const LABEL = "[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?";
const HOST = new RegExp(`^(?:\\[[0-9A-Fa-f:.]+\\]|${LABEL}(?:\\.${LABEL})*\\.?)(?::(\\d{1,5}))?$`);
/** TRACE echoes the request back, credentials the agent injected included; CONNECT opens a tunnel. */
const NOT_PROXIED = new Set(["CONNECT", "TRACE"]);

function refuse(reason: HeadRefusal, message: string): Refused<HeadRefusal> {
  return { ok: false, reason, message };
}

/** Checks a request head; a refusal is answered with 400 and its message. */
export function checkRequestHead(head: RequestHead): HeadCheck {
  const { method, rawHeaders } = head;
  if (method.length > MAX_METHOD_LENGTH || !TOKEN.test(method)) {
    return refuse("bad_method", "the request method is not a valid token");
  }
  if (NOT_PROXIED.has(method.toUpperCase())) {
    return refuse("method_not_proxied", `${method.toUpperCase()} requests are not proxied`);
  }
  if (head.httpVersion !== "1.1" && head.httpVersion !== "1.0") {
    return refuse("bad_version", `HTTP/${head.httpVersion} is not supported`);
  }
  const fields = readFields(rawHeaders);
  if (!(fields instanceof Map)) return fields;
  const framing = checkFraming(fields, head.httpVersion);
  if (framing) return framing;
  const host = checkHost(fields.get("host"), head.httpVersion);
  if (host) return host;
  const upgrade = fields.get("upgrade");
  if (upgrade && (upgrade.length > 1 || upgrade[0]?.toLowerCase() !== "websocket")) {
    return refuse("bad_upgrade", "only Upgrade: websocket is proxied");
  }
  const target = normalizeTarget(head.target);
  if (!target.ok) return target;
  return { ok: true, target };
}

function readFields(raw: readonly string[]): Map<string, string[]> | Refused<HeadRefusal> {
  if (raw.length % 2 !== 0) return refuse("odd_raw_headers", "the header list has a name without a value");
  if (raw.length / 2 > MAX_HEADERS) {
    return refuse("too_many_headers", `requests with more than ${MAX_HEADERS} header fields are refused`);
  }
  const fields = new Map<string, string[]>();
  let bytes = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    bytes += name.length + value.length + 4;
    if (bytes > MAX_HEADER_BYTES) {
      return refuse("headers_too_large", `request heads larger than ${MAX_HEADER_BYTES} bytes are refused`);
    }
    if (/^[ \t]/.test(name) || /\r\n[ \t]/.test(value)) {
      return refuse("obs_fold", "folded header lines (obs-fold) are refused");
    }
    if (!TOKEN.test(name)) return refuse("bad_header_name", "a header name is not a valid token");
    if (!FIELD_VALUE.test(value)) {
      return refuse(
        "bad_header_value",
        `the ${name} header contains CR, LF, NUL or another control character`,
      );
    }
    const key = name.toLowerCase();
    const list = fields.get(key);
    if (list) list.push(value);
    else fields.set(key, [value]);
  }
  return fields;
}

function checkFraming(fields: Map<string, string[]>, version: string): Refused<HeadRefusal> | undefined {
  const te = fields.get("transfer-encoding");
  const cl = fields.get("content-length");
  if (te && cl) {
    return refuse(
      "content_length_and_transfer_encoding",
      "a request with both Content-Length and Transfer-Encoding is refused",
    );
  }
  if (te) {
    if (te.length > 1 || te[0] !== "chunked") {
      return refuse("bad_transfer_encoding", "Transfer-Encoding must be exactly chunked");
    }
    if (version === "1.0") return refuse("bad_transfer_encoding", "HTTP/1.0 requests cannot be chunked");
  }
  if (cl) {
    if (cl.length > 1) return refuse("duplicate_content_length", "Content-Length is given more than once");
    if (!/^\d{1,15}$/.test(cl[0] as string)) {
      return refuse("bad_content_length", "Content-Length must be a plain decimal number");
    }
  }
  return undefined;
}

function checkHost(hosts: string[] | undefined, version: string): Refused<HeadRefusal> | undefined {
  if (!hosts)
    return version === "1.1" ? refuse("missing_host", "HTTP/1.1 requests need a Host header") : undefined;
  if (hosts.length > 1) return refuse("duplicate_host", "the Host header is given more than once");
  const host = hosts[0] as string;
  const m = host.length <= MAX_HOST_LENGTH ? HOST.exec(host) : null;
  if (!m || (m[1] !== undefined && Number(m[1]) > 65_535)) {
    return refuse("bad_host", "the Host header is not a valid host[:port]");
  }
  return undefined;
}
