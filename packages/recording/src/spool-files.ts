import { type FileHandle, open, readdir, readFile, rename, rm, truncate } from "node:fs/promises";
import { join } from "node:path";
import { parseFrames, resync } from "./frame";

export interface SegmentInfo {
  firstSeq: number;
  path: string;
  /** Bytes known to be durable; reads never look past this. */
  bytes: number;
}

export interface AckState {
  ackedSeq: number;
  ended: boolean;
}

export interface ScannedSession {
  segments: SegmentInfo[];
  /** Highest sequence number found in a valid record, or 0. */
  lastSeq: number;
  ack: AckState;
  repairedBytes: number;
}

const SEGMENT_RE = /^(\d{1,16})\.seg$/;
const SESSION_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const ACK_FILE = "ack";

export function isValidSessionId(sessionId: string): boolean {
  return SESSION_ID_RE.test(sessionId);
}

export function segmentPath(sessionDir: string, firstSeq: number): string {
  return join(sessionDir, `${String(firstSeq).padStart(16, "0")}.seg`);
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function readAck(sessionDir: string): Promise<AckState> {
  try {
    const parsed: unknown = JSON.parse(await readFile(join(sessionDir, ACK_FILE), "utf8"));
    const { ackedSeq, ended } = (parsed ?? {}) as Partial<AckState>;
    return { ackedSeq: Number.isSafeInteger(ackedSeq) ? Number(ackedSeq) : 0, ended: ended === true };
  } catch {
    return { ackedSeq: 0, ended: false };
  }
}

/** Replaces the ack file atomically: write a temporary file, fsync it, rename it over the old one. */
export async function writeAck(sessionDir: string, ack: AckState): Promise<void> {
  const tmp = join(sessionDir, `${ACK_FILE}.tmp`);
  const handle = await open(tmp, "w");
  try {
    await handle.writeFile(JSON.stringify(ack));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, join(sessionDir, ACK_FILE));
  await fsyncDir(sessionDir);
}

export async function listSessionDirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && isValidSessionId(e.name))
    .map((e) => e.name)
    .sort();
}

async function listSegments(sessionDir: string): Promise<SegmentInfo[]> {
  const names = await readdir(sessionDir);
  const segments: SegmentInfo[] = [];
  for (const name of names) {
    const match = SEGMENT_RE.exec(name);
    if (match?.[1]) segments.push({ firstSeq: Number(match[1]), path: join(sessionDir, name), bytes: 0 });
  }
  return segments.sort((a, b) => a.firstSeq - b.firstSeq);
}

/** Offset just past the last frame that verifies and the highest sequence number seen. */
function lastValid(buf: Buffer, maxBodyBytes: number): { end: number; lastSeq: number } {
  let end = 0;
  let lastSeq = 0;
  let base = 0;
  for (;;) {
    const result = parseFrames(buf.subarray(base), maxBodyBytes);
    for (const frame of result.frames) {
      if (!frame.ok) continue;
      end = base + frame.end;
      lastSeq = Math.max(lastSeq, frame.record.seq);
    }
    if (result.stop === "end") return { end, lastSeq };
    const next = resync(buf, base + result.consumed + 1, maxBodyBytes);
    if (next === undefined) return { end, lastSeq };
    base = next;
  }
}

/**
 * Loads a session directory after a restart. Only the newest segment can have been mid-write, so it is
 * verified and cut back to its last valid record (a torn tail); a newest segment left with no valid record
 * is removed and the one before it takes its place. Older segments are verified when read.
 */
export async function scanSession(sessionDir: string, maxBodyBytes: number): Promise<ScannedSession> {
  const [segments, ack] = await Promise.all([listSegments(sessionDir), readAck(sessionDir)]);
  let repairedBytes = 0;
  let lastSeq = 0;
  while (segments.length > 0 && lastSeq === 0) {
    const last = segments[segments.length - 1]!;
    const buf = await readFile(last.path);
    const valid = lastValid(buf, maxBodyBytes);
    if (valid.end < buf.length) {
      repairedBytes += buf.length - valid.end;
      await truncate(last.path, valid.end);
    }
    if (valid.end === 0) {
      await rm(last.path, { force: true });
      segments.pop();
      continue;
    }
    last.bytes = valid.end;
    lastSeq = valid.lastSeq;
  }
  for (const segment of segments.slice(0, -1)) {
    const handle = await open(segment.path, "r");
    segment.bytes = (await handle.stat()).size;
    await handle.close();
  }
  return { segments, lastSeq, ack, repairedBytes };
}

export async function writeFully(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await handle.write(data, written, data.length - written, position + written);
    written += bytesWritten;
  }
}
