import { z } from "zod";
import { description, name, timestamp } from "../../lib/schemas";

const regex = z
  .string()
  .min(1)
  .max(500)
  .refine((v) => {
    try {
      new RegExp(v, "i");
      return true;
    } catch {
      return false;
    }
  }, "is not a valid regular expression");

const statementKinds = z
  .array(
    z
      .string()
      .min(1)
      .max(50)
      .regex(/^[A-Z_ ]+$/, "use upper-case statement kinds, e.g. DROP"),
  )
  .max(50);
const objects = z.array(z.string().min(1).max(200)).max(100);
const groups = z.array(name).max(50);

export const guardrailRule = z.strictObject({
  name: z.string().min(1).max(100),
  action: z.enum(["deny", "review"]).default("deny"),
  statementKinds: statementKinds.optional(),
  objects: objects.optional(),
  requireWhere: z.boolean().optional(),
  readOnly: z.boolean().optional(),
  pattern: regex.optional(),
  commands: z.array(regex).max(50).optional(),
  message: z.string().max(500).optional(),
});

export const maskingRule = z.strictObject({
  name: z.string().min(1).max(100),
  columns: z.array(regex).max(50).optional(),
  tables: objects.optional(),
  types: z.array(z.string().min(1).max(63)).max(20).optional(),
  detector: z
    .enum(["email", "credit_card", "iban", "phone", "us_ssn", "ip_address", "jwt", "api_key", "custom"])
    .optional(),
  pattern: regex.optional(),
  action: z.enum(["redact", "keep_last", "hash"]).default("redact"),
  keep: z.number().int().min(1).max(32).optional(),
});

export const reviewRule = z.strictObject({
  name: z.string().min(1).max(100),
  statementKinds: statementKinds.optional(),
  objects: objects.optional(),
  pattern: regex.optional(),
  reviewerGroups: groups.min(1),
  minApprovals: z.number().int().min(1).max(10).default(1),
  timeoutSeconds: z.number().int().min(10).max(86_400).default(600),
});

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
