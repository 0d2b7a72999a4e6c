import { z } from "zod";

/**
 * Policy rule documents. The control plane validates them with these schemas before it
 * stores a policy; the agent parses the same JSON from its desired state before it
 * enforces it (an invalid document fails closed: the connection refuses sessions).
 */

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

export const statementKinds = z
  .array(
    z
      .string()
      .min(1)
      .max(50)
      .regex(/^[A-Z_ ]+$/, "use upper-case statement kinds, e.g. DROP"),
  )
  .max(50);
/** `table`, `schema.table` or `schema.*`, matched case-insensitively. */
const objects = z.array(z.string().min(1).max(200)).max(100);
const groupName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/, "use lowercase letters, digits, '.', '_' and '-'");

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

export const maskingDetectors = [
  "email",
  "credit_card",
  "iban",
  "phone",
  "us_ssn",
  "ip_address",
  "jwt",
  "api_key",
  "custom",
] as const;

export const maskingRule = z.strictObject({
  name: z.string().min(1).max(100),
  /** Column-name regexes (case-insensitive). */
  columns: z.array(regex).max(50).optional(),
  /** Limits the rule to columns of these tables. */
  tables: objects.optional(),
  /** Postgres type names, e.g. `text`, `varchar`, `int8`. */
  types: z.array(z.string().min(1).max(63)).max(20).optional(),
  /** Content detector: values matching it are masked in any column the rule covers. */
  detector: z.enum(maskingDetectors).optional(),
  /** The regex of the `custom` detector. */
  pattern: regex.optional(),
  action: z.enum(["redact", "keep_last", "hash"]).default("redact"),
  keep: z.number().int().min(1).max(32).optional(),
  /**
   * Lets statements filter, join, group and order by the columns of this whole-value rule
   * (`WHERE email LIKE 'a%'`), which the built-in `sluice.masked_lineage` refuses otherwise:
   * such predicates reveal masked values one guess at a time (see the README, "Masking probes").
   */
  allowProbes: z.boolean().optional(),
});

export const reviewRule = z.strictObject({
  name: z.string().min(1).max(100),
  statementKinds: statementKinds.optional(),
  objects: objects.optional(),
  pattern: regex.optional(),
  reviewerGroups: z.array(groupName).min(1).max(50),
  minApprovals: z.number().int().min(1).max(10).default(1),
  timeoutSeconds: z.number().int().min(10).max(86_400).default(600),
});

export type GuardrailRule = z.infer<typeof guardrailRule>;
export type MaskingRule = z.infer<typeof maskingRule>;
export type ReviewRule = z.infer<typeof reviewRule>;
export type MaskingDetector = (typeof maskingDetectors)[number];

/** One policy as the agent enforces it. */
export interface PolicyDocument {
  id: string;
  name: string;
  guardrails: GuardrailRule[];
  masking: MaskingRule[];
  reviewRules: ReviewRule[];
}
