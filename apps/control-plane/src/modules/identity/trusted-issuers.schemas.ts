import { z } from "zod";
import { name, timestamp } from "../../lib/schemas";

const url = z.string().url().max(500);

export const groupMapping = z
  .object({
    claim: z.string().min(1).max(100),
    equals: z.string().max(200).optional().describe("the claim (or one of its values) must equal this"),
    group: name,
  })
  .strict();

export const subjectTemplate = z
  .string()
  .min(1)
  .max(200)
  .regex(
    /^[^{}]*(\{[A-Za-z0-9_.-]{1,100}\}[^{}]*)*$/,
    "use a claim name like sub, or a template like repo:{repository}",
  )
  .describe("claim name (e.g. sub) or template (e.g. repo:{repository}) naming the service identity");

export const createTrustedIssuerBody = z
  .object({
    name,
    issuer: url,
    jwksUrl: url.optional().describe("defaults to the issuer's OpenID discovery document"),
    audience: z.string().min(1).max(500),
    subjectClaim: subjectTemplate.default("sub"),
    groupMappings: z.array(groupMapping).max(50).default([]),
    maxTokenLifetimeSeconds: z.number().int().min(60).max(3600).default(900),
    enabled: z.boolean().default(true),
  })
  .strict();

export const updateTrustedIssuerBody = createTrustedIssuerBody
  .partial()
  .omit({ name: true })
  .strict()
  .extend({ jwksUrl: url.nullable().optional() });

export const trustedIssuerDto = z.object({
  id: z.string(),
  name: z.string(),
  issuer: z.string(),
  jwksUrl: z.string().nullable(),
  audience: z.string(),
  subjectClaim: z.string(),
  groupMappings: z.array(groupMapping),
  maxTokenLifetimeSeconds: z.number(),
  enabled: z.boolean(),
  createdAt: timestamp,
  updatedAt: timestamp,
});

export type CreateTrustedIssuerInput = z.infer<typeof createTrustedIssuerBody>;
export type UpdateTrustedIssuerInput = z.infer<typeof updateTrustedIssuerBody>;
export type TrustedIssuerDto = z.infer<typeof trustedIssuerDto>;
export type GroupMapping = z.infer<typeof groupMapping>;

export const idpGroupMappingBody = z.object({ idpGroup: z.string().min(1).max(200), group: name }).strict();
export const idpGroupMappingDto = z.object({
  id: z.string(),
  idpGroup: z.string(),
  group: z.string(),
  createdAt: timestamp,
});
