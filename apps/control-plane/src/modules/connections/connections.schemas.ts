import {
  connectionTypeSchema,
  credentialRef,
  httpSettings,
  kubernetesSettings,
  mysqlSettings,
  sshSettings,
} from "@sluice/connection-types";
import { z } from "zod";
import { description, labels, name, ref, timestamp } from "../../lib/schemas";

export { credentialRef };

const host = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9.:_-]+$/, "must be a hostname or IP address");

export const tlsSettings = z.strictObject({
  mode: z.enum(["disable", "require", "verify-ca", "verify-full"]).default("disable"),
  caPem: z.string().max(20_000).optional(),
  serverName: host.optional(),
});

/** Connection types and their per-type settings come from the connection-type registry. */
export const connectionType = connectionTypeSchema;
export { httpSettings, kubernetesSettings, mysqlSettings, sshSettings };

/**
 * Just-in-time access: when `requireApproval` is set, sessions start only for a user
 * holding an approved, unexpired access review (`sluice request <conn>`).
 */
export const accessSettings = z
  .strictObject({
    requireApproval: z.boolean().default(false),
    reviewerGroups: z.array(name).max(50).default([]),
    minApprovals: z.number().int().min(1).max(10).default(1),
    maxDurationSeconds: z
      .number()
      .int()
      .min(60)
      .max(30 * 86_400)
      .default(8 * 3600),
    requestTimeoutSeconds: z
      .number()
      .int()
      .min(60)
      .max(7 * 86_400)
      .default(86_400)
      .describe("how long a request waits for reviewers before it expires"),
  })
  .refine((a) => !a.requireApproval || a.reviewerGroups.length > 0, {
    message: "requireApproval needs at least one reviewer group",
    path: ["reviewerGroups"],
  });
export type AccessSettings = z.infer<typeof accessSettings>;

export const createConnectionBody = z.strictObject({
  name,
  type: connectionType,
  description: description.default(""),
  host,
  port: z.number().int().min(1).max(65535),
  database: z.string().min(1).max(63).optional(),
  username: z.string().min(1).max(63).optional(),
  credentialRef: credentialRef.optional(),
  tls: tlsSettings.optional(),
  ssh: sshSettings.optional(),
  mysql: mysqlSettings.optional(),
  http: httpSettings.optional(),
  kubernetes: kubernetesSettings.optional(),
  access: accessSettings.optional(),
  agentSegment: name.default("default"),
  agentLabels: labels.default({}),
  allowedGroups: z.array(name).max(100).default([]),
  policyIds: z.array(ref).max(20).default([]),
  recordRowsLimit: z.number().int().min(0).max(10_000).default(100),
  offlineGraceSeconds: z.number().int().min(0).max(3600).default(60),
});
export type CreateConnectionInput = z.infer<typeof createConnectionBody>;

export const updateConnectionBody = z.strictObject({
  name: name.optional(),
  description: description.optional(),
  host: host.optional(),
  port: z.number().int().min(1).max(65535).optional(),
  database: z.string().min(1).max(63).nullable().optional(),
  username: z.string().min(1).max(63).nullable().optional(),
  credentialRef: credentialRef.nullable().optional(),
  tls: tlsSettings.optional(),
  ssh: sshSettings.optional(),
  mysql: mysqlSettings.optional(),
  http: httpSettings.optional(),
  kubernetes: kubernetesSettings.optional(),
  access: accessSettings.optional(),
  agentSegment: name.optional(),
  agentLabels: labels.optional(),
  allowedGroups: z.array(name).max(100).optional(),
  policyIds: z.array(ref).max(20).optional(),
  recordRowsLimit: z.number().int().min(0).max(10_000).optional(),
  offlineGraceSeconds: z.number().int().min(0).max(3600).optional(),
});
export type UpdateConnectionInput = z.infer<typeof updateConnectionBody>;

export const connectionDto = z.object({
  id: z.string(),
  name: z.string(),
  type: connectionType,
  description: z.string(),
  host: z.string(),
  port: z.number(),
  database: z.string().nullable(),
  username: z.string().nullable(),
  credentialRef: z.string().nullable().optional(),
  tls: tlsSettings,
  ssh: sshSettings.optional(),
  mysql: mysqlSettings.optional(),
  http: httpSettings.optional(),
  kubernetes: kubernetesSettings.optional(),
  access: accessSettings.optional(),
  agentSegment: z.string(),
  agentLabels: z.record(z.string(), z.string()),
  allowedGroups: z.array(z.string()),
  policies: z.array(z.object({ id: z.string(), name: z.string() })),
  recordRowsLimit: z.number(),
  offlineGraceSeconds: z.number(),
  createdAt: timestamp,
  updatedAt: timestamp,
});
export type ConnectionDto = z.infer<typeof connectionDto>;

/** What is kept in the `options` JSON column. */
export interface ConnectionOptions {
  tls: z.infer<typeof tlsSettings>;
  ssh?: z.infer<typeof sshSettings>;
  mysql?: z.infer<typeof mysqlSettings>;
  http?: z.infer<typeof httpSettings>;
  kubernetes?: z.infer<typeof kubernetesSettings>;
  access?: AccessSettings;
  recordRowsLimit: number;
  offlineGraceSeconds: number;
}
