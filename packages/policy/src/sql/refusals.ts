import type { StatementInfo } from "./classify";

/**
 * Statements every guarded connection refuses, whatever its rules: Sluice could no longer
 * vouch for what it checks (parse state) or what runs (outside the database).
 */
export function builtInRefusal(
  s: StatementInfo,
  phase: "before-rules" | "after-rules",
): { rule: string; message: string } | undefined {
  if (phase === "before-rules") return s.parseState ? parseStateRefusal : undefined;
  return s.outside ? outsideRefusal : undefined;
}

const parseStateRefusal = {
  rule: "sluice.parse_state",
  message:
    "Sluice refuses changes to standard_conforming_strings, backslash_quote and client_encoding on this connection: they change how the server reads later statements",
};

/** Checked after the connection's deny rules, so a rule that names the statement is the one reported. */
const outsideRefusal = {
  rule: "sluice.outside",
  message:
    "Sluice refuses statements that reach outside the database (dblink, server files or programs, large-object import/export) on this connection",
};
