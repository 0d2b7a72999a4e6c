import { z } from "zod";

/** Shared bounded input shapes. Every string a client sends has a maximum length. */

/** C0 and C1 control characters, DEL included. PostgreSQL refuses NUL in text. */
export const CONTROL_CHARACTERS = /\p{Cc}/u;

/** A single-line string of at most `max` characters, without control characters. */
export const plainText = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^\P{Cc}*$/u, "must not contain control characters");
export const name = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/, "use lowercase letters, digits, '.', '_' and '-'");
export const displayName = z.string().trim().min(1).max(200);
export const description = z.string().max(1000);
export const ref = plainText(200).min(1).describe("an id or a name");
export const id = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, "must be an id (a UUID)");
export const labels = z
  .record(
    z
      .string()
      .min(1)
      .max(63)
      .regex(/^[a-zA-Z0-9._/-]+$/),
    z.string().max(200),
  )
  .refine((r) => Object.keys(r).length <= 32, "at most 32 labels");
export const idParams = z.object({ id: ref });
export const listOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });
export const errorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export const timestamp = z.string().describe("ISO 8601 timestamp");
export const nullableTimestamp = timestamp.nullable();
