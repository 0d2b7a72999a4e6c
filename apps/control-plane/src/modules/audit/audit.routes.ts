import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Db } from "../../lib/db";
import { plainText, timestamp } from "../../lib/schemas";
import { errors, readers } from "../../server/route-helpers";
import type { AuditService } from "./audit.service";
import { verifyChain } from "./audit-verify";

const auditEventDto = z.object({
  seq: z.number(),
  at: timestamp,
  actorId: z.string().nullable(),
  actorKind: z.string(),
  action: z.string(),
  targetType: z.string().nullable(),
  targetId: z.string().nullable(),
  outcome: z.string(),
  clientAddress: z.string().nullable(),
  details: z.unknown(),
  prevHash: z.string(),
  hash: z.string(),
});

const listQuery = z.object({
  action: plainText(100).optional(),
  actor: plainText(100).optional(),
  targetId: plainText(100).optional(),
  outcome: z.enum(["success", "denied", "failure"]).optional(),
  since: z.iso.datetime().optional(),
  until: z.iso.datetime().optional(),
  before: z.coerce.number().int().min(1).optional().describe("page: entries with seq below this"),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

const verifyQuery = z.object({
  expectHead: z
    .string()
    .regex(/^\d+:[0-9a-f]{64}$/, "use <seq>:<hash> from an earlier verify")
    .optional()
    .describe("a head recorded earlier; detects truncation of the log's tail"),
});

export function auditRoutes(deps: {
  prisma: Db;
  audit: Pick<AuditService, "settle">;
}): FastifyPluginAsyncZod {
  const tags = ["audit"];
  return async (app) => {
    app.get(
      "/audit",
      {
        config: { auth: readers },
        schema: {
          tags,
          description: "The audit log, newest first.",
          querystring: listQuery,
          response: { 200: z.object({ items: z.array(auditEventDto) }), ...errors },
        },
      },
      async (req) => {
        const q = req.query;
        await deps.audit.settle();
        const rows = await deps.prisma.auditEvent.findMany({
          where: {
            ...(q.action
              ? { action: q.action.endsWith("*") ? { startsWith: q.action.slice(0, -1) } : q.action }
              : {}),
            ...(q.actor ? { actorId: q.actor } : {}),
            ...(q.targetId ? { targetId: q.targetId } : {}),
            ...(q.outcome ? { outcome: q.outcome } : {}),
            ...(q.since || q.until
              ? {
                  at: {
                    ...(q.since ? { gte: new Date(q.since) } : {}),
                    ...(q.until ? { lt: new Date(q.until) } : {}),
                  },
                }
              : {}),
            ...(q.before ? { seq: { lt: BigInt(q.before) } } : {}),
          },
          orderBy: { seq: "desc" },
          take: q.limit,
        });
        return {
          items: rows.map((r) => ({ ...r, seq: Number(r.seq), at: r.at.toISOString() })),
        };
      },
    );
    app.get(
      "/audit/verify",
      {
        config: { auth: readers },
        schema: {
          tags,
          description:
            "Recomputes the hash chain; reports the first entry that was edited, deleted or reordered.",
          querystring: verifyQuery,
          response: {
            200: z.object({
              ok: z.boolean(),
              entries: z.number(),
              head: z.string().nullable(),
              problem: z.object({ seq: z.number(), reason: z.string() }).nullable(),
            }),
            ...errors,
          },
        },
      },
      async (req) => {
        await deps.audit.settle();
        return verifyChain(deps.prisma, req.query.expectHead);
      },
    );
  };
}
