import { z } from "zod";
import { displayName, name, nullableTimestamp, timestamp } from "../../lib/schemas";
import { API_KEY_SCOPES } from "../auth/api-key-scopes";

export const role = z.enum(["admin", "auditor", "user"]);
const email = z.email().max(254);

export const userDto = z.object({
  id: z.string(),
  name: z.string(),
  email: z.string().nullable(),
  role,
  kind: z.enum(["human", "service"]),
  disabled: z.boolean(),
  groups: z.array(z.string()),
  createdAt: timestamp,
  lastLoginAt: nullableTimestamp,
});
export type UserDto = z.infer<typeof userDto>;

export const createUserBody = z.strictObject({
  name: displayName,
  email: email.optional(),
  role: role.default("user"),
  kind: z.enum(["human", "service"]).default("human"),
  groups: z.array(name).max(100).default([]),
});
export type CreateUserInput = z.infer<typeof createUserBody>;

export const updateUserBody = z.strictObject({
  name: displayName.optional(),
  email: email.nullable().optional(),
  role: role.optional(),
  disabled: z.boolean().optional(),
});
export type UpdateUserInput = z.infer<typeof updateUserBody>;

export const apiKeyDto = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  scopes: z.array(z.string()),
  expiresAt: nullableTimestamp,
  createdAt: timestamp,
  lastUsedAt: nullableTimestamp,
  revokedAt: nullableTimestamp,
});

export const createApiKeyBody = z.strictObject({
  name: z.string().trim().min(1).max(100),
  expiresInDays: z.number().int().min(1).max(3650).optional(),
  scopes: z
    .array(z.enum(API_KEY_SCOPES))
    .max(API_KEY_SCOPES.length)
    .default([])
    .describe(
      "limits the key: read (GET only), sessions (open sessions and what connecting needs); none = the user's rights",
    ),
});
export type CreateApiKeyInput = z.infer<typeof createApiKeyBody>;

export const meDto = z.object({
  id: z.string(),
  name: z.string(),
  email: z.string().nullable(),
  role,
  kind: z.enum(["human", "service"]),
  groups: z.array(z.string()),
  scopes: z.array(z.string()).describe("the presented API key's scopes; empty: the user's full rights"),
});
