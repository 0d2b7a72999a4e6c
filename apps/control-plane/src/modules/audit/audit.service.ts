import { createHash } from "node:crypto";
import type { Db, Tx } from "../../lib/db";

export interface AuditEntry {
  actorId?: string | null;
  actorKind: "user" | "service" | "agent" | "system";
  action: string;
  targetType?: string;
  targetId?: string;
  outcome: "success" | "denied" | "failure";
  clientAddress?: string | null;
  details?: Record<string, unknown>;
}

export const GENESIS_HASH = "0".repeat(64);

/** Stable JSON: object keys sorted, so a hash can be recomputed from stored rows. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

export interface HashedFields {
  seq: bigint;
  at: Date;
  actorId: string | null;
  actorKind: string;
  action: string;
  targetType: string | null;
  targetId: string | null;
  outcome: string;
  clientAddress: string | null;
  details: unknown;
  prevHash: string;
}

export function entryHash(e: HashedFields): string {
  const body = canonicalJson({
    seq: e.seq.toString(),
    at: e.at.toISOString(),
    actorId: e.actorId,
    actorKind: e.actorKind,
    action: e.action,
    targetType: e.targetType,
    targetId: e.targetId,
    outcome: e.outcome,
    clientAddress: e.clientAddress,
    details: e.details,
  });
  return createHash("sha256").update(e.prevHash).update(body).digest("hex");
}

export type AuditService = ReturnType<typeof createAuditService>;

/**
 * Appends to the hash-chained audit log. Appends are serialized by a transaction-level
 * advisory lock so every entry links to exactly one predecessor.
 */
export function createAuditService(deps: { prisma: Db }) {
  async function appendIn(tx: Tx, entry: AuditEntry): Promise<void> {
    await tx.$executeRawUnsafe("SELECT pg_advisory_xact_lock(7313001)");
    const last = await tx.auditEvent.findFirst({
      orderBy: { seq: "desc" },
      select: { seq: true, hash: true },
    });
    const fields: HashedFields = {
      seq: (last?.seq ?? 0n) + 1n,
      at: new Date(),
      actorId: entry.actorId ?? null,
      actorKind: entry.actorKind,
      action: entry.action,
      targetType: entry.targetType ?? null,
      targetId: entry.targetId ?? null,
      outcome: entry.outcome,
      clientAddress: entry.clientAddress ?? null,
      details: JSON.parse(canonicalJson(entry.details ?? {})),
      prevHash: last?.hash ?? GENESIS_HASH,
    };
    await tx.auditEvent.create({
      data: { ...fields, details: fields.details as object, hash: entryHash(fields) },
    });
  }

  return {
    /** Appends inside the caller's transaction, so the audit entry commits with the change. */
    appendIn,
    append: (entry: AuditEntry) => deps.prisma.$transaction((tx) => appendIn(tx, entry)),
  };
}
