import { guardrailRule, maskingRule, reviewRule } from "@sluice/policy";
import { z } from "zod";
import { description, name, timestamp } from "../../lib/schemas";

/** The rule schemas are shared with the agent, which parses the same documents before it enforces them. */
export { guardrailRule, maskingRule, reviewRule } from "@sluice/policy";

export const policyDto = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  guardrails: z.array(guardrailRule),
  masking: z.array(maskingRule),
  reviewRules: z.array(reviewRule),
  connections: z.array(z.string()),
  createdAt: timestamp,
  updatedAt: timestamp,
});
export type PolicyDto = z.infer<typeof policyDto>;

export const createPolicyBody = z.strictObject({
  name,
  description: description.default(""),
  guardrails: z.array(guardrailRule).max(200).default([]),
  masking: z.array(maskingRule).max(200).default([]),
  reviewRules: z.array(reviewRule).max(100).default([]),
});
export const updatePolicyBody = z.strictObject({
  name: name.optional(),
  description: description.optional(),
  guardrails: z.array(guardrailRule).max(200).optional(),
  masking: z.array(maskingRule).max(200).optional(),
  reviewRules: z.array(reviewRule).max(100).optional(),
});

export const evaluateBody = z.strictObject({
  sql: z
    .string()
    .max(64 * 1024)
    .describe("one or more SQL statements, as a client would send them"),
  dialect: z.enum(["postgres", "mysql"]).default("postgres").describe("how the agent reads the SQL"),
  serverVersion: z
    .string()
    .max(100)
    .regex(/^[\w.+~-]+$/)
    .optional()
    .describe("mysql: the server's version (decides which executable comments run)"),
  sqlMode: z
    .string()
    .max(1000)
    .regex(/^[A-Z_,]*$/i)
    .optional()
    .describe("mysql: the session's sql_mode (decides how quotes and backslashes read)"),
  /** Sample values to show what masking does to them. */
  values: z
    .array(
      z.strictObject({
        column: z.string().min(1).max(63),
        table: z.string().min(1).max(127).optional(),
        type: z.string().min(1).max(63).default("text"),
        value: z.string().max(4096),
      }),
    )
    .max(100)
    .default([]),
});

const statementDto = z.object({
  text: z.string(),
  kind: z.string(),
  kinds: z.array(z.string()),
  objects: z.array(z.string()),
  readOnly: z.boolean(),
  unboundedWrite: z.boolean(),
  opaque: z.boolean(),
});

export const evaluationDto = z.object({
  policy: z.string(),
  verdict: z.enum(["allow", "deny", "review"]),
  rule: z.string().optional(),
  reviewRule: z.string().optional(),
  message: z.string().optional(),
  statement: z.string().optional(),
  parseError: z.string().optional(),
  statements: z.array(statementDto),
  masked: z.array(z.object({ column: z.string(), value: z.string(), masked: z.string().nullable() })),
});
export type EvaluationDto = z.infer<typeof evaluationDto>;
