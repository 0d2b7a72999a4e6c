import { readFileSync } from "node:fs";
import type { z } from "zod";

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/**
 * Reads `NAME_FILE` variants for the given keys: when `NAME_FILE` is set and `NAME`
 * is not, the file's contents (trailing newline removed) become `NAME`.
 */
export function expandFileVariables(
  env: Record<string, string | undefined>,
  keys: readonly string[],
): { env: Record<string, string | undefined>; problems: string[] } {
  const out = { ...env };
  const problems: string[] = [];
  for (const key of keys) {
    const file = env[`${key}_FILE`];
    if (file === undefined || env[key] !== undefined) continue;
    try {
      out[key] = readFileSync(file, "utf8").replace(/\r?\n$/, "");
    } catch (err) {
      problems.push(`${key}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    }
  }
  return { env: out, problems };
}

/**
 * Validates `env` against a zod object schema and reports every problem at once.
 * Keys listed in `fileKeys` may also be given as `KEY_FILE`.
 */
export function loadConfig<S extends z.ZodType>(
  schema: S,
  env: Record<string, string | undefined>,
  fileKeys: readonly string[] = [],
): Readonly<z.infer<S>> {
  const expanded = expandFileVariables(env, fileKeys);
  const parsed = schema.safeParse(expanded.env);
  const problems = [...expanded.problems];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push(`${issue.path.join(".") || "(root)"}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return Object.freeze(parsed.data);
}

/** A copy of the config with secret-valued keys replaced, for the startup log line. */
export function redactConfig<T extends object>(config: T, secretKeys: readonly (keyof T)[]): T {
  const copy = { ...config };
  for (const key of secretKeys) {
    if (copy[key] !== undefined) (copy as Record<keyof T, unknown>)[key] = "[redacted]";
  }
  return copy;
}
