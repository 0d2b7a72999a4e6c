import { z } from "zod";
import { id, nullableTimestamp, ref, timestamp } from "../../lib/schemas";

/** The program that started a session, when it said so (e.g. an MCP client through `sluice mcp`). */
export const sessionClient = z.strictObject({
  via: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/),
  name: z.string().min(1).max(100).optional(),
  version: z.string().min(1).max(50).optional(),
});
export type SessionClient = z.infer<typeof sessionClient>;

export const sessionDto = z.object({
  id: z.string(),
  user: z.object({ id: z.string(), name: z.string(), kind: z.string() }),
  connection: z.object({ id: z.string(), name: z.string(), type: z.string() }),
  agent: z.object({ id: z.string(), name: z.string() }).nullable(),
  protocol: z.string(),
  status: z.enum(["pending", "active", "closed", "failed", "aborted"]),
  clientAddress: z.string().nullable(),
  reason: z.string().nullable(),
  client: sessionClient.nullable(),
  endReason: z.string().nullable(),
  bytesIn: z.number(),
  bytesOut: z.number(),
  startedAt: timestamp,
  endedAt: nullableTimestamp,
});
export type SessionDto = z.infer<typeof sessionDto>;

export const startSessionBody = z.strictObject({
  connection: ref,
  reason: z.string().max(500).optional(),
  client: sessionClient.optional().describe("the program starting the session, recorded with it"),
});

export const startSessionResponse = z.object({
  session: sessionDto,
  grant: z
    .string()
    .describe(
      "Ed25519-signed JWT the agent verifies offline; present it first on the tunnel or as the password",
    ),
  expiresAt: timestamp,
  agent: z.object({
    id: z.string(),
    name: z.string(),
    endpoints: z.array(z.object({ protocol: z.string(), host: z.string(), port: z.number() })),
  }),
  connection: z.object({ name: z.string(), type: z.string(), database: z.string().nullable() }),
});

export const listSessionsQuery = z.object({
  connection: ref.optional(),
  user: id.optional().describe("a user's id (admins and auditors)"),
  status: z.enum(["pending", "active", "closed", "failed", "aborted"]).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.iso.datetime().optional(),
});

export const sessionEventDto = z.object({
  seq: z.number(),
  at: timestamp,
  kind: z.string(),
  payload: z.unknown(),
});

export const eventsQuery = z.object({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(5000).default(1000),
});
