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

/** Kubernetes verbs as the API server names them, the lower-cased methods of non-resource requests, or `*`. */
export const kubeVerbs = [
  "get",
  "list",
  "watch",
  "create",
  "update",
  "patch",
  "delete",
  "deletecollection",
  "proxy",
  "head",
  "post",
  "put",
  "options",
  "*",
] as const;

const kubeName = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const kubeGlob = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[!-$&-.0-~]+$/, "use printable characters without '/', '%' or spaces; * matches any run");

/**
 * The identities a Kubernetes allow rule lets a client impersonate (`kubectl --as`,
 * `--as-group`): `true` for any, or globs of users and groups; a list left out permits none.
 */
export const kubeImpersonate = z.union([
  z.boolean(),
  z.strictObject({
    users: z.array(kubeGlob).max(50).optional(),
    groups: z.array(kubeGlob).max(50).optional(),
  }),
]);

/**
 * What a Kubernetes rule matches: every given field must match (see `src/kube/README.md`).
 * `resources` read as in RBAC: `pods` is the resource without subresource, `pods/exec`,
 * `*\/exec`, `pods/*` and `*` (everything). `paths` are globs on non-resource paths
 * (`/metrics`, `/logs/**`); a rule with `paths` matches only non-resource requests.
 */
export const kubeMatch = z.strictObject({
  verbs: z.array(z.enum(kubeVerbs, "use a Kubernetes verb, e.g. get, list, delete, or *")).max(20).optional(),
  groups: z
    .array(
      z
        .string()
        .max(253)
        .regex(/^(|\*|[a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/, 'use an API group like "apps", "" for core, or *'),
    )
    .max(50)
    .optional(),
  resources: z
    .array(
      z
        .string()
        .min(1)
        .max(200)
        .refine(
          (v) => v.split("/").length <= 2 && v.split("/").every((p) => p === "*" || kubeName.test(p)),
          'use a resource like "pods", "pods/exec", "*/exec" or "*"',
        ),
    )
    .max(50)
    .optional(),
  namespaces: z.array(kubeGlob).max(100).optional(),
  names: z.array(kubeGlob).max(100).optional(),
  /** Regexes on an exec's command line (its `command` parameters joined by spaces). */
  commands: z.array(regex).max(50).optional(),
  paths: z.array(z.string().min(1).max(500).regex(/^\//, "paths start with /")).max(50).optional(),
  impersonate: kubeImpersonate.optional(),
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
    /** A Kubernetes request rule; `readOnly` with it matches every verb but get, list and watch. */
    kube: kubeMatch.optional(),
    message: z.string().max(500).optional(),
  })
  .refine(
    (r) =>
      r.action !== "allow" ||
      r.kube !== undefined ||
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
  )
  .refine(
    (r) =>
      r.kube === undefined ||
      (r.http === undefined &&
        !r.statementKinds &&
        !r.objects &&
        !r.requireWhere &&
        !r.pattern &&
        !r.commands),
    {
      message:
        "a kube rule carries no SQL, command or http fields (exec commands go in kube.commands; write the others as a separate rule)",
    },
  )
  .refine((r) => !r.kube?.impersonate || r.action === "allow", {
    message: "kube.impersonate is for allow rules: impersonation is refused unless an allow rule permits it",
    path: ["kube", "impersonate"],
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

export const reviewRule = z
  .strictObject({
    name: z.string().min(1).max(100),
    statementKinds: statementKinds.optional(),
    objects: objects.optional(),
    pattern: regex.optional(),
    http: httpMatch.optional(),
    kube: kubeMatch.optional(),
    reviewerGroups: z.array(groupName).min(1).max(50),
    minApprovals: z.number().int().min(1).max(10).default(1),
    timeoutSeconds: z.number().int().min(10).max(86_400).default(600),
  })
  .refine(
    (r) => r.kube === undefined || (r.http === undefined && !r.statementKinds && !r.objects && !r.pattern),
    {
      message: "a kube review rule carries no SQL or http fields (write those as a separate rule)",
    },
  )
  .refine((r) => r.kube?.impersonate === undefined, {
    message: "kube.impersonate is for allow guardrails, not review rules",
    path: ["kube", "impersonate"],
  });

export type GuardrailRule = z.infer<typeof guardrailRule>;
export type MaskingRule = z.infer<typeof maskingRule>;
export type ReviewRule = z.infer<typeof reviewRule>;
export type HttpMatch = z.infer<typeof httpMatch>;
export type KubeMatch = z.infer<typeof kubeMatch>;
export type KubeImpersonate = z.infer<typeof kubeImpersonate>;
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
