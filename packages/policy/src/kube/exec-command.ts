import { isTrue, parseKubeQuery } from "./request-info";

/** What an exec (or attach) request asks the container to run, read from its query. */
export interface ExecCommand {
  /** The `command` parameters in order (kubectl exec's argv); empty for attach. */
  argv: string[];
  /** The argv joined by spaces: the text `commands` rules are matched against. */
  line: string;
  /** `stdin` or `tty` is set: what runs is then decided by typed input no rule can see. */
  interactive: boolean;
  stdin: boolean;
  tty: boolean;
  container?: string;
}

/**
 * The command of an exec request (`pods/exec`, `pods/attach`) from its parsed query, as the
 * API server reads `PodExecOptions`: repeated `command`, booleans as "present and not 0/false".
 */
export function execCommand(rawQuery: string | ReadonlyMap<string, readonly string[]>): ExecCommand {
  const query = typeof rawQuery === "string" ? parseKubeQuery(rawQuery) : rawQuery;
  if ("ok" in query) throw new Error(`the exec query cannot be read: ${query.message}`);
  const argv = [...(query.get("command") ?? [])];
  const stdin = isTrue(query.get("stdin"));
  const tty = isTrue(query.get("tty"));
  const container = query.get("container")?.[0];
  return {
    argv,
    line: argv.join(" "),
    interactive: stdin || tty,
    stdin,
    tty,
    ...(container !== undefined ? { container } : {}),
  };
}

const BARE = /^[A-Za-z0-9_./:=@%+,^-]+$/;

const ESCAPES: Record<string, string> = { "\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r" };

/**
 * One argument as a reviewer reads it: bare when safe, else double-quoted on one line, with
 * control and non-ASCII characters escaped (no line breaks or bidi overrides in a statement).
 */
export function quoteArg(arg: string): string {
  if (BARE.test(arg)) return arg;
  let out = "";
  for (const ch of arg) {
    const code = ch.codePointAt(0) as number;
    const known = ESCAPES[ch];
    if (known) out += known;
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else if (code > 0x7e) out += `\\u{${code.toString(16)}}`;
    else out += ch;
  }
  return `"${out}"`;
}
