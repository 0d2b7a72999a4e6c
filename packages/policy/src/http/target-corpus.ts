import type { TargetRefusal } from "./target";

/**
 * Request targets an attacker would use to reach a path a rule protects, and ordinary
 * targets that must survive untouched: each raw target with the path the agent sends
 * upstream, or the reason it is refused.
 */
export type TargetCase = [raw: string, expected: string | { refused: TargetRefusal }];

export const normalizedCases: TargetCase[] = [
  ["/", "/"],
  ["/orders/42", "/orders/42"],
  ["/orders/42/", "/orders/42/"],
  ["/Orders/ABC", "/Orders/ABC"],
  // dot segments, plain and encoded
  ["/a/./b", "/a/b"],
  ["/a/../admin", "/admin"],
  ["/public/../admin/users", "/admin/users"],
  ["/public/%2e%2e/admin", "/admin"],
  ["/public/%2E%2e/admin", "/admin"],
  ["/public/.%2e/admin", "/admin"],
  ["/public/%2e./admin", "/admin"],
  ["/public/%2e/admin", "/public/admin"],
  ["/a/b/..", "/a/"],
  ["/a/.", "/a/"],
  // empty segments
  ["//admin", "/admin"],
  ["/a//b///c", "/a/b/c"],
  ["//evil.example/x", "/evil.example/x"],
  // matrix parameters
  ["/admin;x=1/users", "/admin/users"],
  ["/orders;jsessionid=ABC123/42", "/orders/42"],
  ["/public/..;/admin", "/admin"],
  ["/public/..;jsessionid=1/admin", "/admin"],
  // trailing dots
  ["/admin.", "/admin"],
  ["/admin../users", "/admin/users"],
  ["/admin%2e", "/admin"],
  ["/file.tar.gz", "/file.tar.gz"],
  ["/.well-known/openid-configuration", "/.well-known/openid-configuration"],
  // unreserved escapes decoded, the rest kept with upper-case hex
  ["/%41dmin", "/Admin"],
  ["/%7euser", "/~user"],
  ["/a%3ab", "/a%3Ab"],
  ["/a%3Bb/c", "/a%3Bb/c"],
  ["/caf%c3%a9", "/caf%C3%A9"],
  ["/a%20b", "/a%20b"],
  ["/100%25", "/100%25"],
  // the query is kept raw
  ["/search?q=a+b&q=%41", "/search"],
  ["/x?", "/x"],
];

export const refusedCases: TargetCase[] = [
  ["", { refused: "empty_target" }],
  ["*", { refused: "asterisk_form" }],
  ["http://internal.example/admin", { refused: "absolute_form" }],
  ["HTTPS://internal.example/admin", { refused: "absolute_form" }],
  ["internal.example:443", { refused: "authority_form" }],
  ["admin", { refused: "authority_form" }],
  ["/..", { refused: "above_root" }],
  ["/../etc/passwd", { refused: "above_root" }],
  ["/a/../../admin", { refused: "above_root" }],
  ["/%2e%2e/admin", { refused: "above_root" }],
  ["/.../admin", { refused: "dot_segment" }],
  ["/a/%2e%2e%2e/b", { refused: "dot_segment" }],
  ["/public/%252e%252e/admin", { refused: "double_encoding" }],
  ["/public/%252E/admin", { refused: "double_encoding" }],
  ["/public/%25%32%65%25%32%65/admin", { refused: "double_encoding" }],
  ["/public/..%2fadmin", { refused: "encoded_separator" }],
  ["/public/..%2Fadmin", { refused: "encoded_separator" }],
  ["/public/..%5cadmin", { refused: "encoded_separator" }],
  ["/public\\..\\admin", { refused: "backslash" }],
  ["/admin\\", { refused: "backslash" }],
  ["/admin%00.json", { refused: "encoded_control" }],
  ["/admin%0d%0aX-Injected:%201", { refused: "encoded_control" }],
  ["/admin\u0000", { refused: "control_character" }],
  ["/admin\r\nHost: x", { refused: "control_character" }],
  ["/admin x", { refused: "control_character" }],
  ["/admin\t", { refused: "control_character" }],
  ["/caf\u00e9", { refused: "non_ascii" }],
  ["/\uff0e\uff0e/admin", { refused: "non_ascii" }],
  ["/admin\u202e", { refused: "non_ascii" }],
  ["/%c0%ae%c0%ae/admin", { refused: "bad_utf8" }],
  ["/%ff", { refused: "bad_utf8" }],
  ["/a%2", { refused: "bad_escape" }],
  ["/a%zz", { refused: "bad_escape" }],
  ["/a%%32%65", { refused: "bad_escape" }],
  ["/admin#frag", { refused: "fragment" }],
  ["/search?q=%zz", { refused: "bad_query" }],
  ["/search?q=a\u0001", { refused: "control_character" }],
  [`/${"a".repeat(8 * 1024)}`, { refused: "target_too_long" }],
  [`/x?${Array.from({ length: 201 }, (_, i) => `p${i}=1`).join("&")}`, { refused: "too_many_params" }],
];
