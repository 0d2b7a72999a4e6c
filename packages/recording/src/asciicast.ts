import { parsePayload, type RecordingEvent } from "./events";

/** asciicast v2 header line. */
export interface CastHeader {
  version: 2;
  width: number;
  height: number;
  /** Unix seconds. */
  timestamp: number;
  env?: Record<string, string>;
}

/** `o` output, `i` input, `r` resize (`"COLSxROWS"`), `m` marker (used for recording gaps). */
export type CastEventType = "o" | "i" | "r" | "m";
export type CastEvent = [time: number, type: CastEventType, data: string];

export interface SshPtyPayload {
  width: number;
  height: number;
  env?: Record<string, string>;
}

export interface SshDataPayload {
  stream: "o" | "i";
  data: string;
}

export interface SshResizePayload {
  width: number;
  height: number;
}

export const sshPty = (p: SshPtyPayload): RecordingEvent<"ssh.pty", SshPtyPayload> => ({
  kind: "ssh.pty",
  payload: p,
});
export const sshData = (p: SshDataPayload): RecordingEvent<"ssh.data", SshDataPayload> => ({
  kind: "ssh.data",
  payload: p,
});
export const sshResize = (p: SshResizePayload): RecordingEvent<"ssh.resize", SshResizePayload> => ({
  kind: "ssh.resize",
  payload: p,
});

export function castHeader(h: Omit<CastHeader, "version">): CastHeader {
  return { version: 2, ...h };
}

export function castLine(event: CastEvent): string {
  return JSON.stringify([Math.round(event[0] * 1e6) / 1e6, event[1], event[2]]);
}

export interface StoredEventLike {
  atUnixMs: number;
  kind: string;
  payloadJson: string;
}

const num = (v: unknown, fallback: number): number =>
  typeof v === "number" && Number.isFinite(v) ? v : fallback;

function toCastEvent(e: StoredEventLike, startMs: number): CastEvent | undefined {
  const p = parsePayload(e.payloadJson) ?? {};
  const t = Math.max(0, (e.atUnixMs - startMs) / 1000);
  switch (e.kind) {
    case "ssh.data":
      return typeof p.data === "string" ? [t, p.stream === "i" ? "i" : "o", p.data] : undefined;
    case "ssh.resize":
      return [t, "r", `${num(p.width, 80)}x${num(p.height, 24)}`];
    case "gap":
      return [t, "m", `recording gap: events ${num(p.fromSeq, 0)}-${num(p.toSeq, 0)} (${String(p.reason)})`];
    default:
      return undefined;
  }
}

/**
 * Renders a session's stored SSH events as an asciicast v2 document. The terminal size and environment come
 * from the `ssh.pty` event (80x24 without one); the clock starts at the first event.
 */
export function toAsciicast(events: readonly StoredEventLike[]): string {
  const first = events[0];
  const startMs = first?.atUnixMs ?? 0;
  const pty = events.find((e) => e.kind === "ssh.pty");
  const ptyPayload = pty ? (parsePayload(pty.payloadJson) ?? {}) : {};
  const env =
    ptyPayload.env && typeof ptyPayload.env === "object"
      ? (ptyPayload.env as Record<string, string>)
      : undefined;
  const header = castHeader({
    width: num(ptyPayload.width, 80),
    height: num(ptyPayload.height, 24),
    timestamp: Math.floor(startMs / 1000),
    ...(env ? { env } : {}),
  });
  const lines = [JSON.stringify(header)];
  for (const e of events) {
    const cast = toCastEvent(e, startMs);
    if (cast) lines.push(castLine(cast));
  }
  return `${lines.join("\n")}\n`;
}
