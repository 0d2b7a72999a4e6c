import type { HeadRefusal, RequestHead } from "./request-head";
import type { TargetRefusal } from "./target";

/**
 * Request heads that two HTTP parsers could frame differently (request smuggling), or that
 * would reach the upstream in a form the policy did not see, each with the refusal it
 * gets; and ordinary heads that must pass.
 */

export type HeadCase = [label: string, head: RequestHead, refused: HeadRefusal | TargetRefusal];

const HOST = ["Host", "api.internal"];

function head(headers: string[], over: Partial<RequestHead> = {}): RequestHead {
  return { method: "POST", target: "/orders", httpVersion: "1.1", rawHeaders: headers, ...over };
}

export const acceptedHeads: [label: string, head: RequestHead][] = [
  ["a GET with Host", head(HOST, { method: "GET" })],
  ["a POST with Content-Length", head([...HOST, "Content-Length", "12"])],
  ["a chunked POST", head([...HOST, "Transfer-Encoding", "chunked"])],
  ["Host with a port", head(["Host", "api.internal:8443"])],
  ["Host as IPv4 with a port", head(["Host", "10.0.0.7:80"])],
  ["Host as IPv6 with a port", head(["Host", "[fd00::1]:8080"])],
  ["HTTP/1.0 without Host", head([], { httpVersion: "1.0", method: "GET" })],
  [
    "a websocket upgrade",
    head([...HOST, "Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13"], {
      method: "GET",
    }),
  ],
  ["a value with obs-text and a tab", head([...HOST, "X-Name", "caf\u00e9\tau lait"])],
  ["100 header fields", head([...HOST, ...Array.from({ length: 99 }, (_, i) => [`X-H${i}`, "v"]).flat()])],
];

export const refusedHeads: HeadCase[] = [
  [
    "CL and TE",
    head([...HOST, "Content-Length", "5", "Transfer-Encoding", "chunked"]),
    "content_length_and_transfer_encoding",
  ],
  [
    "TE and CL",
    head([...HOST, "Transfer-Encoding", "chunked", "Content-Length", "0"]),
    "content_length_and_transfer_encoding",
  ],
  [
    "TE: chunked, identity",
    head([...HOST, "Transfer-Encoding", "chunked, identity"]),
    "bad_transfer_encoding",
  ],
  [
    "TE: identity, chunked",
    head([...HOST, "Transfer-Encoding", "identity, chunked"]),
    "bad_transfer_encoding",
  ],
  ["TE with a leading space kept", head([...HOST, "Transfer-Encoding", " chunked"]), "bad_transfer_encoding"],
  ["TE: xchunked", head([...HOST, "Transfer-Encoding", "xchunked"]), "bad_transfer_encoding"],
  ["TE: Chunked", head([...HOST, "Transfer-Encoding", "Chunked"]), "bad_transfer_encoding"],
  ["TE: chunked with a tab", head([...HOST, "Transfer-Encoding", "chunked\t"]), "bad_transfer_encoding"],
  ["TE: gzip", head([...HOST, "Transfer-Encoding", "gzip"]), "bad_transfer_encoding"],
  [
    "two TE headers",
    head([...HOST, "Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked"]),
    "bad_transfer_encoding",
  ],
  ["TE on HTTP/1.0", head(["Transfer-Encoding", "chunked"], { httpVersion: "1.0" }), "bad_transfer_encoding"],
  [
    "two equal CLs",
    head([...HOST, "Content-Length", "5", "Content-Length", "5"]),
    "duplicate_content_length",
  ],
  [
    "two differing CLs",
    head([...HOST, "Content-Length", "5", "content-length", "50"]),
    "duplicate_content_length",
  ],
  ["CL: +5", head([...HOST, "Content-Length", "+5"]), "bad_content_length"],
  ["CL: -1", head([...HOST, "Content-Length", "-1"]), "bad_content_length"],
  ["CL: 5, 5", head([...HOST, "Content-Length", "5, 5"]), "bad_content_length"],
  ["CL: 0x10", head([...HOST, "Content-Length", "0x10"]), "bad_content_length"],
  ["CL: 1e3", head([...HOST, "Content-Length", "1e3"]), "bad_content_length"],
  ["CL: empty", head([...HOST, "Content-Length", ""]), "bad_content_length"],
  ["CL: 16 digits", head([...HOST, "Content-Length", "1234567890123456"]), "bad_content_length"],
  ["duplicate Host", head([...HOST, "Host", "admin.internal"]), "duplicate_host"],
  ["duplicate Host, other case", head([...HOST, "HOST", "api.internal"]), "duplicate_host"],
  ["missing Host on HTTP/1.1", head(["Content-Length", "0"]), "missing_host"],
  ["oversized Host", head(["Host", `${"a".repeat(253)}.io`]), "bad_host"],
  ["Host with a path", head(["Host", "api.internal/admin"]), "bad_host"],
  ["Host with userinfo", head(["Host", "user@api.internal"]), "bad_host"],
  ["Host with two ports", head(["Host", "api.internal:80:81"]), "bad_host"],
  ["Host with a port above 65535", head(["Host", "api.internal:70000"]), "bad_host"],
  ["empty Host", head(["Host", ""]), "bad_host"],
  ["folded header (continuation as a name)", head([...HOST, "X-A", "1", " X-B", "2"]), "obs_fold"],
  ["folded header (CRLF SP in a value)", head([...HOST, "X-A", "1\r\n 2"]), "obs_fold"],
  ["CRLF in a value", head([...HOST, "X-A", "1\r\nTransfer-Encoding: chunked"]), "bad_header_value"],
  ["LF in a value", head([...HOST, "X-A", "1\nX-B: 2"]), "bad_header_value"],
  ["NUL in a value", head([...HOST, "X-A", "a\u0000b"]), "bad_header_value"],
  ["a header name with a space", head([...HOST, "Content-Length ", "5"]), "bad_header_name"],
  ["a header name with a colon", head([...HOST, "X-A:", "5"]), "bad_header_name"],
  ["an empty header name", head([...HOST, "", "5"]), "bad_header_name"],
  ["a name without a value", head([...HOST, "X-A"]), "odd_raw_headers"],
  [
    "101 header fields",
    head([...HOST, ...Array.from({ length: 100 }, (_, i) => [`X-H${i}`, "v"]).flat()]),
    "too_many_headers",
  ],
  ["a head over 32 KiB", head([...HOST, "X-Big", "a".repeat(32 * 1024)]), "headers_too_large"],
  ["Upgrade: h2c", head([...HOST, "Connection", "Upgrade, HTTP2-Settings", "Upgrade", "h2c"]), "bad_upgrade"],
  ["two Upgrade headers", head([...HOST, "Upgrade", "websocket", "Upgrade", "h2c"]), "bad_upgrade"],
  ["a method with a space", head(HOST, { method: "GET /x" }), "bad_method"],
  ["an empty method", head(HOST, { method: "" }), "bad_method"],
  ["an overlong method", head(HOST, { method: "A".repeat(33) }), "bad_method"],
  ["TRACE", head(HOST, { method: "TRACE" }), "method_not_proxied"],
  ["CONNECT", head(HOST, { method: "CONNECT", target: "api.internal:443" }), "method_not_proxied"],
  ["HTTP/2.0 on the HTTP/1 listener", head(HOST, { httpVersion: "2.0" }), "bad_version"],
  ["HTTP/0.9", head(HOST, { httpVersion: "0.9" }), "bad_version"],
  ["absolute-form target", head(HOST, { target: "http://admin.internal/users" }), "absolute_form"],
  ["asterisk-form target", head(HOST, { method: "OPTIONS", target: "*" }), "asterisk_form"],
  ["a traversing target", head(HOST, { target: "/../admin" }), "above_root"],
];
