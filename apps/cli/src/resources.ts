import { type Column, col, formatValue, isRecord, type Row } from "./output";

export interface ResourceSpec {
  /** Path segment under /api/v1. */
  path: string;
  singular: string;
  plural: string;
  /** Table columns for lists; `get` shows every field. */
  columns: Column[];
}

const count = (value: unknown) => (Array.isArray(value) ? value.length : value);

const endpoints = (value: unknown) =>
  Array.isArray(value)
    ? value
        .map((e: Row) => `${formatValue(e.protocol)}://${formatValue(e.host)}:${formatValue(e.port)}`)
        .join(",")
    : value;

const address = (_: unknown, row: Row) => `${formatValue(row.host)}:${formatValue(row.port)}`;

export const agents: ResourceSpec = {
  path: "agents",
  singular: "agent",
  plural: "agents",
  columns: [
    col("NAME", "name"),
    col("STATUS", "status"),
    col("SEGMENT", "segment"),
    col("LABELS", "labels"),
    col("VERSION", "version"),
    col("SESSIONS", "activeSessions"),
    col("ENDPOINTS", "endpoints", endpoints),
    col("LAST SEEN", "lastSeenAt"),
    col("ID", "id"),
  ],
};

export const connections: ResourceSpec = {
  path: "connections",
  singular: "connection",
  plural: "connections",
  columns: [
    col("NAME", "name"),
    col("TYPE", "type"),
    col("ADDRESS", "host", address),
    col("DATABASE", "database"),
    col("SEGMENT", "agentSegment"),
    col("GROUPS", "allowedGroups"),
    col("POLICIES", "policies"),
    col("ID", "id"),
  ],
};

/** What a non-admin sees in `sluice connections`. */
export const myConnections: ResourceSpec = {
  ...connections,
  columns: [
    col("NAME", "name"),
    col("TYPE", "type"),
    col("ADDRESS", "host", address),
    col("DATABASE", "database"),
    col("DESCRIPTION", "description"),
  ],
};

export const users: ResourceSpec = {
  path: "users",
  singular: "user",
  plural: "users",
  columns: [
    col("NAME", "name"),
    col("EMAIL", "email"),
    col("ROLE", "role"),
    col("KIND", "kind"),
    col("DISABLED", "disabled"),
    col("GROUPS", "groups"),
    col("LAST LOGIN", "lastLoginAt"),
    col("ID", "id"),
  ],
};

export const apiKeys: ResourceSpec = {
  path: "api-keys",
  singular: "API key",
  plural: "API keys",
  columns: [
    col("NAME", "name"),
    col("PREFIX", "prefix"),
    col("SCOPES", "scopes"),
    col("EXPIRES", "expiresAt"),
    col("LAST USED", "lastUsedAt"),
    col("REVOKED", "revokedAt"),
    col("CREATED", "createdAt"),
    col("ID", "id"),
  ],
};

export const groups: ResourceSpec = {
  path: "groups",
  singular: "group",
  plural: "groups",
  columns: [
    col("NAME", "name"),
    col("MEMBERS", "members", count),
    col("DESCRIPTION", "description"),
    col("CREATED", "createdAt"),
    col("ID", "id"),
  ],
};

export const policies: ResourceSpec = {
  path: "policies",
  singular: "policy",
  plural: "policies",
  columns: [
    col("NAME", "name"),
    col("GUARDRAILS", "guardrails", count),
    col("MASKING", "masking", count),
    col("REVIEW RULES", "reviewRules", count),
    col("DESCRIPTION", "description"),
    col("ID", "id"),
  ],
};

const nameOf = (value: unknown) => (isRecord(value) && typeof value.name === "string" ? value.name : value);

/** `mcp (claude-code 2.1.0)` for a session an MCP assistant started; empty when the client said nothing. */
export function sessionVia(value: unknown): unknown {
  if (!isRecord(value) || typeof value.via !== "string") return null;
  const who = [value.name, value.version].filter((v) => typeof v === "string" && v).join(" ");
  return who ? `${value.via} (${who})` : value.via;
}

export const sessions: ResourceSpec = {
  path: "sessions",
  singular: "session",
  plural: "sessions",
  columns: [
    col("ID", "id"),
    col("STATUS", "status"),
    col("CONNECTION", "connection", nameOf),
    col("USER", "user", nameOf),
    col("AGENT", "agent", nameOf),
    col("PROTOCOL", "protocol"),
    col("STARTED", "startedAt"),
    col("ENDED", "endedAt"),
    col("IN", "bytesIn"),
    col("OUT", "bytesOut"),
    col("REASON", "reason"),
  ],
};

/** Sessions with a VIA column, for lists where some session names the client that started it. */
export function sessionsFor(payload: unknown): ResourceSpec {
  const items = isRecord(payload) && Array.isArray(payload.items) ? payload.items : [];
  if (!items.some((s) => isRecord(s) && isRecord(s.client))) return sessions;
  const columns = [...sessions.columns];
  columns.splice(6, 0, col("VIA", "client", sessionVia));
  return { ...sessions, columns };
}

/** A session for `sessions show`: nested identity, connection and agent shown by name. */
export function sessionDetails(session: Row, eventCount: number): Row {
  const out: Row = {};
  for (const [key, value] of Object.entries(session))
    out[key] = key === "client" ? sessionVia(value) : nameOf(value);
  out.events = eventCount;
  return out;
}
