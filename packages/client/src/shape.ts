import type { z } from "zod";
import { CliError } from "./errors";

/** Parses a control-plane response, or fails with one line naming what was expected. */
export function expectShape<T>(schema: z.ZodType<T>, payload: unknown, what: string): T {
  const result = schema.safeParse(payload);
  if (!result.success) throw new CliError(`unexpected response from the control plane: expected ${what}`);
  return result.data;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Replaces every occurrence of a secret with `***`. */
export function redact(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join("***");
  }
  return out;
}

const ISO_TIMESTAMP = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})$/;

/** `2025-03-04T05:06:07.890Z` → `2025-03-04 05:06:07Z`; other strings pass through. */
export function formatTimestamp(value: string): string {
  const m = ISO_TIMESTAMP.exec(value);
  if (!m) return value;
  const zone = m[3] === "Z" ? "Z" : ` ${m[3]}`;
  return `${m[1]} ${m[2]}${zone}`;
}
