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

/**
 * A JSON path into a request or response body: `$`, then `.key`, `['key']`, `[n]`, `[*]`
 * (every element) and `..key` (that key at any depth), e.g. `$.customers[*].ssn`.
 */
export const jsonPath = z
  .string()
  .min(1)
  .max(200)
  .regex(
    /^\$(?:\.\.?[A-Za-z_$][\w$-]*|\.\.?\*|\[(?:\*|\d{1,9}|'(?:[^'\\]|\\.){1,100}')\])*$/,
    "use a JSON path like $.customers[*].ssn",
  );

const headerName = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "is not an HTTP field name");

/** A query parameter or header condition: present (or absent), equal to a value, or matching a regex. */
const fieldCondition = z.strictObject({
  name: headerName,
  present: z.boolean().optional(),
  equals: z.string().max(1000).optional(),
  pattern: regex.optional(),
});

/** A condition on a JSON request body field, e.g. `{ path: "$.amount", op: "lt", value: 1000 }`. */
export const bodyCondition = z
  .strictObject({
    path: jsonPath,
    op: z.enum(["eq", "ne", "lt", "le", "gt", "ge", "in", "matches", "exists", "absent"]),
    value: z
      .union([
        z.string().max(1000),
        z.number(),
        z.boolean(),
        z.null(),
        z.array(z.union([z.string().max(1000), z.number()])).max(100),
      ])
      .optional(),
  })
  .refine((c) => bodyValueFits(c.op, c.value), {
    message:
      "lt/le/gt/ge take a number, in an array, matches a regular expression, eq/ne a value, exists/absent none",
    path: ["value"],
  });

function bodyValueFits(op: string, value: unknown): boolean {
  if (op === "exists" || op === "absent") return value === undefined;
  if (op === "in") return Array.isArray(value);
  if (op === "eq" || op === "ne") return value !== undefined && !Array.isArray(value);
  if (op !== "matches") return typeof value === "number";
  if (typeof value !== "string") return false;
  try {
    new RegExp(value, "i");
    return true;
  } catch {
    return false;
  }
}

/**
 * What an HTTP rule matches: every given field must match. `paths` are globs on the
 * normalized path (`*` one segment, `**` any number), case-insensitive.
 */
export const httpMatch = z.strictObject({
  methods: z
    .array(
      z
        .string()
        .min(1)
        .max(20)
        .regex(/^[A-Z]+$/, "use upper-case methods, e.g. GET"),
    )
    .max(20)
    .optional(),
  paths: z.array(z.string().min(1).max(500).regex(/^\//, "paths start with /")).max(50).optional(),
  pathPattern: regex.optional(),
  query: z.array(fieldCondition).max(20).optional(),
  headers: z.array(fieldCondition).max(20).optional(),
  body: z.array(bodyCondition).max(20).optional(),
});

export const guardrailRule = z
  .strictObject({
    name: z.string().min(1).max(100),
    /** `allow` is for HTTP rules (first match wins there: allow lanes, then a default deny). */
    action: z.enum(["deny", "review", "allow"]).default("deny"),
    statementKinds: statementKinds.optional(),
    objects: objects.optional(),
    requireWhere: z.boolean().optional(),
    readOnly: z.boolean().optional(),
    pattern: regex.optional(),
    commands: z.array(regex).max(50).optional(),
    /** An HTTP request rule; `readOnly` with it matches every method but GET, HEAD and OPTIONS. */
    http: httpMatch.optional(),
    message: z.string().max(500).optional(),
  })
  .refine(
    (r) =>
      r.action !== "allow" ||
      (r.http !== undefined &&
        !r.statementKinds &&
        !r.objects &&
        !r.requireWhere &&
        !r.pattern &&
        !r.commands),
    { message: "action allow is for HTTP rules only (a rule with http and no SQL or command fields)" },
  )
  .refine(
    (r) =>
      r.http === undefined ||
      (!r.statementKinds && !r.objects && !r.requireWhere && !r.pattern && !r.commands),
    { message: "an http rule carries no SQL or command fields (write those as a separate rule)" },
  );

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
  /** JSON body paths whose values the rule masks whole (HTTP); `columns` also match JSON keys. */
  jsonPaths: z.array(jsonPath).max(50).optional(),
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
  http: httpMatch.optional(),
  reviewerGroups: z.array(groupName).min(1).max(50),
  minApprovals: z.number().int().min(1).max(10).default(1),
  timeoutSeconds: z.number().int().min(10).max(86_400).default(600),
});

export type GuardrailRule = z.infer<typeof guardrailRule>;
export type MaskingRule = z.infer<typeof maskingRule>;
export type ReviewRule = z.infer<typeof reviewRule>;
export type HttpMatch = z.infer<typeof httpMatch>;
export type BodyCondition = z.infer<typeof bodyCondition>;
export type MaskingDetector = (typeof maskingDetectors)[number];

/** One policy as the agent enforces it. */
export interface PolicyDocument {
  id: string;
  name: string;
  guardrails: GuardrailRule[];
  masking: MaskingRule[];
  reviewRules: ReviewRule[];
}
