import { readFile } from "node:fs/promises";
import { InvalidArgumentError } from "commander";
import { usageError } from "./cli-error";
import { isRecord } from "./output";

/** Parses a TCP port, 1–65535. For commander's argParser. */
export function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < 1 || n > 65535) {
    throw new InvalidArgumentError("must be a number from 1 to 65535");
  }
  return n;
}

/** Returns a parser for a whole number within [min, max]. */
export function intParser(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < min || n > max) {
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

/** Collects a repeated flag into a list (`--group a --group b`, also `--group a,b`). */
export function collectList(value: string, previous: string[] | undefined): string[] {
  const parts = value
    .split(",")
    .map((v) => v.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new InvalidArgumentError("must not be empty");
  return [...(previous ?? []), ...parts];
}

/** Collects repeated `key=value` flags into a record; a repeated key is an error. */
export function collectLabel(
  value: string,
  previous: Record<string, string> | undefined,
): Record<string, string> {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError("expected key=value, e.g. tier=prod");
  const key = value.slice(0, eq).trim();
  const val = value.slice(eq + 1).trim();
  if (!key) throw new InvalidArgumentError("expected key=value, e.g. tier=prod");
  if (previous && key in previous) throw new InvalidArgumentError(`label "${key}" is given twice`);
  return { ...(previous ?? {}), [key]: val };
}

/** Drops undefined fields, so only flags the user gave reach the request body. */
export function compact<T extends Record<string, unknown>>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export async function readJsonFile(path: string, flag: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw usageError(
      `cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw usageError(`${flag} ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Reads `-f/--from-file`: a JSON object used as the base of the request body. */
export async function readBodyFile(path: string | undefined): Promise<Record<string, unknown>> {
  if (path === undefined) return {};
  const value = await readJsonFile(path, "--from-file");
  if (!isRecord(value)) throw usageError(`--from-file ${path} must hold a JSON object`);
  return value;
}

/** Reads a file holding a JSON array (policy rule lists). */
export async function readArrayFile(path: string | undefined, flag: string): Promise<unknown[] | undefined> {
  if (path === undefined) return undefined;
  const value = await readJsonFile(path, flag);
  if (!Array.isArray(value)) throw usageError(`${flag} ${path} must hold a JSON array`);
  return value;
}

export async function readTextFile(path: string | undefined, flag: string): Promise<string | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw usageError(
      `cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

/** Merges flag values over a `--from-file` body; a positional name wins over the file's. */
export function mergeBody(
  base: Record<string, unknown>,
  fromFlags: Record<string, unknown>,
): Record<string, unknown> {
  return { ...base, ...compact(fromFlags) };
}

/** Fails with one message naming every missing field and the flag that supplies it. */
export function requireFields(body: Record<string, unknown>, fields: Record<string, string>): void {
  const missing = Object.entries(fields).filter(([field]) => body[field] === undefined || body[field] === "");
  if (missing.length === 0) return;
  const names = missing.map(([field, flag]) => `${flag} (or "${field}" in --from-file)`);
  throw usageError(`missing ${names.join(", ")}`);
}

export function requireChanges(body: Record<string, unknown>): void {
  if (Object.keys(body).length === 0)
    throw usageError("nothing to update: pass at least one flag or --from-file");
}
