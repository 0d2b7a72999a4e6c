import { PgClientError } from "./pg-proxy-types";

/**
 * Startup parameters a guarded connection forwards: display and session settings that
 * do not change how the server reads statement text. Names are case-insensitive, as in
 * PostgreSQL.
 */
const ALLOWED = new Set([
  "application_name",
  "client_encoding",
  "datestyle",
  "extra_float_digits",
  "idle_in_transaction_session_timeout",
  "intervalstyle",
  "lock_timeout",
  "search_path",
  "statement_timeout",
  "timezone",
]);

/**
 * Client encodings in which the server reads statement bytes as Sluice's parser does.
 * SQL_ASCII is what libpq sends from a terminal in the C locale; the server still checks
 * the bytes as UTF-8. Multi-byte client-only encodings (SJIS, BIG5, GBK, …) can hide a
 * quote or backslash inside a character and are refused.
 */
const SAFE_ENCODINGS = new Set(["utf8", "unicode", "sqlascii"]);

/** Parameters the proxy handles itself (identity, protocol extensions); never forwarded. */
function isProxyParam(name: string): boolean {
  return name === "user" || name === "database" || name === "replication" || name.startsWith("_pq_.");
}

function quoteName(name: string): string {
  const shown = name.length > 64 ? `${name.slice(0, 64)}…` : name;
  return `"${shown.replace(/[^\x20-\x7e]/g, "?")}"`;
}

const ALLOWED_LIST =
  "application_name, client_encoding (UTF8), DateStyle, TimeZone, IntervalStyle, extra_float_digits, search_path and the timeouts";

/**
 * On a guarded connection, the refusal of a startup parameter that could change how the
 * server parses statements (`options` with `-c standard_conforming_strings=off`,
 * `backslash_quote`, a client_encoding such as SJIS) or that is not on the allow-list;
 * undefined when every parameter may be forwarded. The message never quotes a value.
 */
export function refusedStartupParams(params: Record<string, string>): PgClientError | undefined {
  for (const [raw, value] of Object.entries(params)) {
    if (isProxyParam(raw)) continue;
    const name = raw.toLowerCase();
    if (name === "options" && value.trim() === "") continue;
    if (name === "client_encoding") {
      if (SAFE_ENCODINGS.has(value.toLowerCase().replace(/[^a-z0-9]/g, ""))) continue;
      return new PgClientError(
        "42501",
        "Sluice accepts only client_encoding UTF8 on this connection, as its policy checks statements in UTF-8",
      );
    }
    if (ALLOWED.has(name)) continue;
    return new PgClientError(
      "42501",
      `Sluice does not accept the startup parameter ${quoteName(raw)} on this connection, as its policy checks statements; allowed: ${ALLOWED_LIST}`,
    );
  }
  return undefined;
}
