import { renderSqlTable, rowCount } from "@sluice/client";
import { type EventKind, type EventPayload, isEventKind, readEvent } from "@sluice/recording/events";
import type { RecordedEvent } from "./events";

export const MAX_WAIT_MS = 2_000;
const MAX_REPLAY_CELL = 40;

/** The text for one recorded event, or undefined for kinds this CLI does not show (e.g. SSH output). */
export function renderEvent(event: RecordedEvent): string | undefined {
  if (!isEventKind(event.kind)) return undefined;
  const kind: EventKind = event.kind;
  const data = readEvent(kind, event.payload);
  const stamp = `[${clock(event.at)}]`;
  if (!data) return `${stamp} ${kind} (unreadable payload)\n`;
  const p = data as Record<string, unknown>;
  switch (kind) {
    case "session.start":
      return `${stamp} session started: ${identityName(p)} on ${[p.connection, p.database].filter(Boolean).join("/")}${p.clientAddress ? ` from ${p.clientAddress}` : ""}\n`;
    case "pg.statement":
      return renderStatement(stamp, data as EventPayload<"pg.statement">);
    case "mysql.statement": {
      const m = data as EventPayload<"mysql.statement">;
      return renderStatement(stamp, { ...m, kind: m.kind === "execute" ? "execute" : "query" });
    }
    case "pg.result":
    case "mysql.result":
      return renderResult(data as EventPayload<"pg.result">);
    case "policy":
      return renderPolicy(stamp, data as EventPayload<"policy">);
    case "gap":
      return `${stamp} GAP: events may be missing here (${p.reason})\n`;
    case "pg.notice":
      return `${stamp} NOTICE: ${p.message}${p.code ? ` (SQLSTATE ${p.code})` : ""}\n`;
    case "ssh.data":
      // Terminal output is replayed as is; typed input is already echoed in it.
      return p.stream === "i" ? "" : String(p.data);
    case "ssh.pty":
    case "ssh.resize":
    case "ssh.shell":
      return "";
    case "ssh.exec":
      return `${stamp} exec: ${p.command}\n`;
    case "ssh.denied":
      return `${stamp} blocked: ${p.command}${p.message ? ` (${p.message})` : ""}\n`;
    case "ssh.exit":
      return `${stamp} exit ${p.signal ? `signal ${p.signal}` : `status ${p.code ?? "?"}`}\n`;
    case "ssh.scp":
      return p.event === "end" ? `${stamp} scp ${p.direction} ${p.path}: ${p.bytes ?? 0} bytes\n` : "";
    case "ssh.sftp":
      return p.event === "end"
        ? `${stamp} sftp: ${p.bytesIn ?? 0} bytes up, ${p.bytesOut ?? 0} bytes down\n`
        : `${stamp} sftp started\n`;
    case "ssh.forward":
      return `${stamp} port forward to ${p.destination}: ${p.allowed ? "allowed" : "refused"}\n`;
    case "ssh.advisory":
      return `${stamp} advisory: typed line matches rule ${p.rule}: ${p.line}\n`;
    case "http.exchange":
      return renderExchange(stamp, data as EventPayload<"http.exchange">);
    case "kube.request":
      return renderKubeRequest(stamp, data as EventPayload<"kube.request">);
    case "kube.watch.end":
      return `${stamp} watch ended: ${p.bytesOut ?? 0} bytes${p.error ? ` (${p.error})` : ""}\n`;
    case "kube.exec": {
      const e = data as EventPayload<"kube.exec">;
      const command = e.command.length > 0 ? ` -- ${e.command.join(" ")}` : "";
      return `${stamp} ${e.subresource} ${e.namespace}/${e.pod}${e.container ? ` -c ${e.container}` : ""}${e.tty ? " (terminal)" : ""}${command}\n`;
    }
    case "kube.portforward":
      return `${stamp} port-forward ${p.namespace}/${p.pod}\n`;
    case "kube.data":
      // Terminal output is replayed as is; typed input is already echoed in it.
      return p.stream === "i" ? "" : String(p.data ?? "");
    case "kube.resize":
      return "";
    case "kube.exit":
      return `${stamp} exit status ${p.code ?? "?"}\n`;
    case "kube.stream.end":
      return `${stamp} ${p.subresource} ended: ${p.bytesIn ?? 0} bytes in, ${p.bytesOut ?? 0} out\n`;
    case "http.stream.end":
      return `${stamp} stream ended: ${p.bytesOut ?? 0} bytes${p.error ? ` (${p.error})` : ""}\n`;
    case "http.ws": {
      const w = data as EventPayload<"http.ws">;
      const arrow = w.direction === "client" ? "ws >" : "ws <";
      const what = w.binary ? `(${w.bytes ?? 0} bytes binary)` : `${w.data ?? ""}${w.truncated ? " …" : ""}`;
      return `${stamp} ${arrow} ${what}\n`;
    }
    case "tcp.stats":
      return `${stamp} bytes in ${p.bytesIn ?? 0}, out ${p.bytesOut ?? 0}\n`;
    case "session.end": {
      const error = p.error
        ? `, error: ${typeof p.error === "string" ? p.error : JSON.stringify(p.error)}`
        : "";
      return `${stamp} session ended: ${p.reason ?? "closed"}, bytes in ${p.bytesIn ?? 0}, out ${p.bytesOut ?? 0}${error}\n`;
    }
  }
}

function identityName(p: Record<string, unknown>): string {
  const identity = p.identity;
  if (typeof identity === "string") return identity;
  if (identity && typeof identity === "object" && typeof (identity as { name?: unknown }).name === "string") {
    return (identity as { name: string }).name;
  }
  return typeof p.user === "string" ? p.user : "?";
}

function renderPolicy(stamp: string, p: EventPayload<"policy">): string {
  if (p.decision === "masked") {
    const counts = Object.entries(p.counts ?? {}).map(([k, n]) => `${k} ${n}`);
    return `${stamp} masked: ${counts.join(", ") || "values"}\n`;
  }
  const rule = p.rule ? ` by rule ${p.rule}${p.policy ? ` (policy ${p.policy})` : ""}` : "";
  const review = p.reviewId ? `, review ${p.reviewId}` : "";
  const reason = p.reason ? `: ${p.reason}` : "";
  return `${stamp} ${p.decision}${rule}${review}${reason}\n`;
}

function renderExchange(stamp: string, p: EventPayload<"http.exchange">): string {
  const ms = p.durationMs === null || p.durationMs === undefined ? "" : `, ${formatMs(p.durationMs)}`;
  const query = p.query ? `?${p.query}` : "";
  const verdict = p.verdict ? ` [${p.verdict}${p.rule ? ` by rule ${p.rule}` : ""}]` : "";
  const lines = [
    `${stamp} ${p.method} ${p.path}${query} -> ${p.status ?? "?"}${verdict} (${p.bytesIn ?? 0} bytes in, ${p.bytesOut ?? 0} out${ms})`,
  ];
  if (p.requestBody) lines.push(`  request: ${oneLine(p.requestBody)}`);
  if (p.responseBody) lines.push(`  response: ${oneLine(p.responseBody)}${p.bodyTruncated ? " …" : ""}`);
  if (p.error) lines.push(`  error: ${p.error}`);
  return `${lines.join("\n")}\n`;
}

function renderKubeRequest(stamp: string, p: EventPayload<"kube.request">): string {
  const ms = p.durationMs === null || p.durationMs === undefined ? "" : `, ${formatMs(p.durationMs)}`;
  const what = p.verb
    ? `${p.verb} ${p.resource ?? ""}${p.subresource ? `/${p.subresource}` : ""}${p.name ? ` ${p.namespace ? `${p.namespace}/` : ""}${p.name}` : p.namespace ? ` in ${p.namespace}` : ""}`
    : p.path;
  const verdict = p.verdict ? ` [${p.verdict}${p.rule ? ` by rule ${p.rule}` : ""}]` : "";
  const redacted = p.secretValues ? `, ${p.secretValues} secret values redacted` : "";
  const hidden = p.hiddenItems ? `, ${p.hiddenItems} items hidden` : "";
  const as = p.user ? ` as ${p.user}` : "";
  const line = `${stamp} ${what}${as} -> ${p.status ?? "?"}${verdict}${p.watch ? " (watch)" : ""} (${p.bytesOut ?? 0} bytes${redacted}${hidden}${ms})`;
  return `${line}${p.error ? `\n  error: ${p.error}` : ""}\n`;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 300 ? `${flat.slice(0, 300)} …` : flat;
}

function renderStatement(stamp: string, p: EventPayload<"pg.statement">): string {
  const label = p.kind === "execute" ? `execute${p.statementName ? ` ${p.statementName}` : ""}` : "query";
  const text = p.text.trim();
  const body = text.includes("\n") ? `\n${indent(text)}` : ` ${text}`;
  const params = p.params && p.params.length > 0 ? `\n  params: ${JSON.stringify(p.params)}` : "";
  return `${stamp} ${label}:${body}${params}\n`;
}

function renderResult(p: EventPayload<"pg.result">): string {
  const ms = p.durationMs === null || p.durationMs === undefined ? undefined : formatMs(p.durationMs);
  if (p.error) {
    const code = p.error.code ? ` (SQLSTATE ${p.error.code})` : "";
    return `ERROR: ${p.error.message}${code}${ms ? ` [${ms}]` : ""}\n`;
  }
  const rows = p.rows ?? [];
  if (p.columns && p.columns.length > 0) {
    const total = p.rowCount ?? rows.length;
    const names = p.columns.map((c) => c.name);
    const table = renderSqlTable(names, rows, MAX_REPLAY_CELL);
    const truncated = p.truncated ? `(truncated: ${rows.length} of ${rowCount(total)} recorded)\n` : "";
    return `${table}${truncated}(${rowCount(total)}${ms ? `, ${ms}` : ""})\n`;
  }
  const tag = p.command ?? (p.rowCount === null || p.rowCount === undefined ? "OK" : rowCount(p.rowCount));
  return `${tag}${ms ? ` (${ms})` : ""}\n`;
}

function formatMs(ms: number): string {
  return `${ms < 10 ? Number(ms.toFixed(2)) : Math.round(ms)} ms`;
}

/** `2025-01-02T03:04:05.678Z` → `03:04:05.678` (UTC). */
function clock(at: string): string {
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? at : date.toISOString().slice(11, 23);
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");
}

export interface ReplayOptions {
  /** Divides the recorded gaps between events; ignored without timing. */
  speed: number;
  timing: boolean;
  write(text: string): void;
  sleep?: (ms: number) => Promise<void>;
}

/** Prints the events in order, waiting the recorded gaps (÷ speed, at most 2 s each); returns skipped kinds. */
export async function replayEvents(
  events: RecordedEvent[],
  options: ReplayOptions,
): Promise<Map<string, number>> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const skipped = new Map<string, number>();
  let previous: number | undefined;
  for (const event of events) {
    const text = renderEvent(event);
    if (text === undefined) {
      skipped.set(event.kind, (skipped.get(event.kind) ?? 0) + 1);
      continue;
    }
    const at = Date.parse(event.at);
    if (options.timing && previous !== undefined && Number.isFinite(at)) {
      const wait = Math.min(Math.max(0, at - previous) / options.speed, MAX_WAIT_MS);
      if (wait > 0) await sleep(wait);
    }
    if (Number.isFinite(at)) previous = at;
    options.write(text);
  }
  return skipped;
}
