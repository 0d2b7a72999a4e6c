import { z } from "zod";

/**
 * The recording event catalog: one common envelope (`session.start`, `session.end`,
 * `policy`, `gap`) and the events of each protocol. The agent writes these kinds; the
 * control plane and every replayer read them with these schemas. Schemas are loose
 * objects: a newer agent may add fields an older reader ignores.
 */

const count = z.number().nullish();
const text = z.string();

export const identitySchema = z.looseObject({ id: z.string(), name: z.string(), kind: z.string() });

/** How the client proved who it is. */
export const viaSchema = z.enum(["grant", "credential", "publickey", "certificate", "tunnel"]);

const envelope = {
  /** Written once, when the session is live: the same fields for every protocol, then its details. */
  "session.start": z.looseObject({
    // Written by every agent; optional so recordings from before the envelope still read.
    protocol: z.string().nullish(),
    connection: z.string().nullish(),
    identity: z.union([identitySchema, z.string()]).optional(),
    via: z.string().nullish(),
    clientAddress: z.string().nullish(),
    target: z.string().nullish(),
    database: z.string().nullish(),
    user: z.string().nullish(),
    applicationName: z.string().nullish(),
  }),
  /** Written exactly once, as the last event of a session. */
  "session.end": z.looseObject({
    reason: z.string(),
    bytesIn: count,
    bytesOut: count,
    error: z.string().nullish(),
    /** The session ended before it started (the client left, the target was unreachable). */
    aborted: z.boolean().optional(),
  }),
  /** A policy decision: denied, held, approved, rejected or masked (with counts). */
  policy: z.looseObject({
    decision: z.string(),
    rule: z.string().nullish(),
    policyId: z.string().nullish(),
    policy: z.string().nullish(),
    statement: z.string().nullish(),
    statementHash: z.string().nullish(),
    reviewId: z.string().nullish(),
    reason: z.string().nullish(),
    counts: z.record(z.string(), z.number()).nullish(),
  }),
  /** Events between these sequence numbers may be missing (e.g. the agent was killed). */
  gap: z.looseObject({ fromSeq: count, toSeq: count, reason: z.string() }),
};

const resultColumns = z.array(z.looseObject({ name: z.string() })).nullish();
const resultRows = z.array(z.array(z.string().nullable())).nullish();
const sqlError = z.looseObject({ code: z.string().nullish(), message: z.string() }).nullish();

const postgres = {
  "pg.statement": z.looseObject({
    kind: z.string().nullish(),
    text,
    params: z.array(z.unknown()).nullish(),
    statementName: z.string().nullish(),
  }),
  "pg.result": z.looseObject({
    columns: resultColumns,
    rows: resultRows,
    rowCount: count,
    truncated: z.boolean().nullish(),
    command: z.string().nullish(),
    durationMs: count,
    error: sqlError,
  }),
  "pg.notice": z.looseObject({ code: z.string().nullish(), message: text }),
};

const mysql = {
  "mysql.statement": z.looseObject({
    kind: z.string().nullish(),
    text,
    params: z.array(z.unknown()).nullish(),
    statementId: count,
  }),
  "mysql.result": z.looseObject({
    columns: resultColumns,
    rows: resultRows,
    rowCount: count,
    affectedRows: count,
    truncated: z.boolean().nullish(),
    durationMs: count,
    error: sqlError,
  }),
};

const ssh = {
  "ssh.data": z.looseObject({ stream: z.string().nullish(), data: text }),
  "ssh.pty": z.looseObject({ width: count, height: count, term: z.string().nullish() }),
  "ssh.resize": z.looseObject({ width: count, height: count }),
  "ssh.shell": z.looseObject({}),
  "ssh.exec": z.looseObject({ command: text }),
  "ssh.denied": z.looseObject({ command: text, message: z.string().nullish() }),
  "ssh.exit": z.looseObject({ code: count, signal: z.string().nullish() }),
  "ssh.scp": z.looseObject({
    event: text,
    direction: z.string().nullish(),
    path: z.string().nullish(),
    bytes: count,
  }),
  "ssh.sftp": z.looseObject({ event: text, bytesIn: count, bytesOut: count }),
  "ssh.advisory": z.looseObject({ rule: text, line: text }),
  "ssh.forward": z.looseObject({ destination: text, allowed: z.boolean() }),
};

const headers = z.record(z.string(), z.string()).nullish();

const http = {
  /** One request and its response: headers with credentials and cookies redacted, bodies masked and capped. */
  "http.exchange": z.looseObject({
    method: text,
    path: text,
    query: z.string().nullish(),
    status: count,
    durationMs: count,
    bytesIn: count,
    bytesOut: count,
    verdict: z.string().nullish(),
    rule: z.string().nullish(),
    requestHeaders: headers,
    responseHeaders: headers,
    requestBody: z.string().nullish(),
    responseBody: z.string().nullish(),
    bodyTruncated: z.boolean().nullish(),
    /** A streamed response (an event stream): recorded when its head was sent, its end follows. */
    streamed: z.boolean().nullish(),
    error: z.string().nullish(),
  }),
  /** The end of a streamed response (an event stream), whose exchange was recorded at its head. */
  "http.stream.end": z.looseObject({ bytesOut: count, error: z.string().nullish() }),
  /** A WebSocket message (masked text, or the size of a binary one). */
  "http.ws": z.looseObject({
    direction: z.enum(["client", "server"]),
    binary: z.boolean().nullish(),
    data: z.string().nullish(),
    bytes: count,
    truncated: z.boolean().nullish(),
  }),
};

const redactions = {
  secretValues: count,
  maskedValues: count,
  hiddenItems: count,
};

const kubernetes = {
  /** One API request: what RBAC sees (verb, resource, namespace, name), who it impersonated, its status. */
  "kube.request": z.looseObject({
    verb: z.string().nullish(),
    group: z.string().nullish(),
    resource: z.string().nullish(),
    subresource: z.string().nullish(),
    namespace: z.string().nullish(),
    name: z.string().nullish(),
    path: text,
    status: count,
    durationMs: count,
    user: z.string().nullish(),
    verdict: z.string().nullish(),
    rule: z.string().nullish(),
    bytesOut: count,
    /** A watch: recorded when its head was sent; `kube.watch.end` counts what followed. */
    watch: z.boolean().nullish(),
    error: z.string().nullish(),
    ...redactions,
  }),
  "kube.watch.end": z.looseObject({ bytesOut: count, error: z.string().nullish(), ...redactions }),
  /** An exec or attach stream opened (the command, for exec). */
  "kube.exec": z.looseObject({
    subresource: text,
    namespace: text,
    pod: text,
    container: z.string().nullish(),
    command: z.array(z.string()),
    tty: z.boolean().nullish(),
  }),
  "kube.portforward": z.looseObject({ namespace: text, pod: text }),
  /** Stream bytes: `o` stdout, `e` stderr, `i` stdin (`hidden`: the size of input typed after a password prompt). */
  "kube.data": z.looseObject({ stream: z.enum(["i", "o", "e"]), data: z.string().nullish(), hidden: count }),
  "kube.resize": z.looseObject({ width: count, height: count }),
  "kube.exit": z.looseObject({ code: count }),
  "kube.stream.end": z.looseObject({ subresource: text, bytesIn: count, bytesOut: count }),
};

const tcp = {
  "tcp.stats": z.looseObject({ bytesIn: count, bytesOut: count }),
};

export const recordingEvents = {
  ...envelope,
  ...postgres,
  ...mysql,
  ...ssh,
  ...http,
  ...kubernetes,
  ...tcp,
} as const;

export type EventKind = keyof typeof recordingEvents;
export type EventPayload<K extends EventKind> = z.infer<(typeof recordingEvents)[K]>;

export function isEventKind(kind: string): kind is EventKind {
  return Object.hasOwn(recordingEvents, kind);
}

/** A stored event's payload checked against the catalog; undefined for unknown kinds or bad payloads. */
export function readEvent<K extends EventKind>(kind: K, payload: unknown): EventPayload<K> | undefined {
  const parsed = recordingEvents[kind].safeParse(payload);
  return parsed.success ? (parsed.data as EventPayload<K>) : undefined;
}

/** An event ready for `spool.append(sessionId, event.kind, event.payload)`. */
export interface RecordingEvent<K extends string = string, P = unknown> {
  kind: K;
  payload: P;
}

/** Parses a stored event's payload, returning undefined when it is not a JSON object. */
export function parsePayload(payloadJson: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(payloadJson);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
