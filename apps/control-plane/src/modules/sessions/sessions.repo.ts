import type { Sql } from "../../lib/db";
import { isUuid } from "../../lib/ids";
import type { outboxRow } from "../audit/audit.service";

/**
 * The session-admission queries, in plain SQL as named (prepared) statements: they run
 * for every connect, hundreds of times a second in a burst, where building each query
 * through the ORM would cost more than the database work itself.
 */

export interface AdmissionConnection {
  id: string;
  name: string;
  type: string;
  database: string | null;
  options: unknown;
  agentSegment: string;
  agentLabels: unknown;
  allowedGroups: string[];
}

export interface AdmissionAgent {
  id: string;
  name: string;
  segment: string;
  labels: unknown;
  endpoints: unknown;
}

export interface NewSession {
  id: string;
  userId: string;
  connectionId: string;
  agentId: string;
  protocol: string;
  clientAddress: string | null;
  reason: string | null;
  credentialId: string | null;
  grantExpires: Date;
  startedAt: Date;
  client: object | null;
}

/** Timestamps are stored as UTC wall time (timestamp without time zone), as Prisma writes them. */
const utc = (d: Date) => d.toISOString();

const connectionColumns = `id, name, type::text AS type, database, options, "agentSegment", "agentLabels", "allowedGroups"`;
const agentColumns = `id, name, segment, labels, endpoints`;

export function createSessionsRepo(sql: Sql) {
  return {
    async connection(ref: string): Promise<AdmissionConnection | undefined> {
      const byId = isUuid(ref);
      const res = await sql.query<AdmissionConnection>({
        name: byId ? "admission-connection-by-id" : "admission-connection-by-name",
        text: `SELECT ${connectionColumns} FROM connections WHERE ${byId ? "id = $1::uuid" : "name = $1"}`,
        values: [ref],
      });
      return res.rows[0];
    },

    /**
     * Online agents of a segment, least busy first. With `onlyId` (the agent asking for
     * itself), that agent unless revoked: its call proves it is alive even while its link
     * to this replica is still being re-established after a control-plane restart.
     */
    async onlineAgents(segment: string, onlyId?: string): Promise<AdmissionAgent[]> {
      const res = onlyId
        ? await sql.query<AdmissionAgent>({
            name: "admission-agent-by-id",
            text: `SELECT ${agentColumns} FROM agents WHERE id = $1::uuid AND status IN ('online', 'offline') AND segment = $2`,
            values: [onlyId, segment],
          })
        : await sql.query<AdmissionAgent>({
            name: "admission-agents-online",
            text: `SELECT ${agentColumns} FROM agents WHERE status = 'online' AND segment = $1
                   ORDER BY "activeSessions" ASC, "lastSeenAt" DESC NULLS LAST`,
            values: [segment],
          });
      return res.rows;
    },

    /**
     * Writes the session and its `session.start` audit entry in one statement, so both
     * commit or neither does, in one round trip.
     */
    async insert(s: NewSession, audit: ReturnType<typeof outboxRow>): Promise<void> {
      await sql.query({
        name: "admission-insert-session",
        text: `WITH s AS (
                 INSERT INTO sessions (id, "userId", "connectionId", "agentId", protocol, "clientAddress",
                                       reason, "credentialId", "grantExpires", client, "startedAt")
                 VALUES ($1::uuid, $2::uuid, $3::uuid, $4::uuid, $5, $6, $7, $8, $9::timestamp, $10::jsonb,
                         $20::timestamp))
               INSERT INTO audit_outbox (at, "actorId", "actorKind", action, "targetType", "targetId",
                                         outcome, "clientAddress", details)
               VALUES ($11::timestamp, $12, $13, $14, $15, $16, $17, $18, $19::jsonb)`,
        values: [
          s.id,
          s.userId,
          s.connectionId,
          s.agentId,
          s.protocol,
          s.clientAddress,
          s.reason,
          s.credentialId,
          utc(s.grantExpires),
          s.client === null ? null : JSON.stringify(s.client),
          utc(audit.at),
          audit.actorId,
          audit.actorKind,
          audit.action,
          audit.targetType,
          audit.targetId,
          audit.outcome,
          audit.clientAddress,
          JSON.stringify(audit.details),
          utc(s.startedAt),
        ],
      });
    },
  };
}

export type SessionsRepo = ReturnType<typeof createSessionsRepo>;
