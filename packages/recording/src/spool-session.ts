import { join } from "node:path";
import { isValidSessionId, listSessionDirs, scanSession } from "./spool-files";
import type { SessionState } from "./spool-writer";

/** A session found on disk when the spool opened: the previous process wrote it. */
export interface RecoveredSession {
  sessionId: string;
  /** Highest sequence number of a valid record found (or acknowledged). */
  lastSeq: number;
  ended: boolean;
  /** Bytes cut from the newest segment's torn tail (0 when it ended on a whole record). */
  tornBytes: number;
}

function sessionState(
  id: string,
  dir: string,
  lastSeq: number,
  ackedSeq: number,
  ended: boolean,
): SessionState {
  return {
    id,
    dir,
    nextSeq: lastSeq + 1,
    durableSeq: lastSeq,
    writtenSeq: lastSeq,
    ackedSeq,
    ended,
    segments: [],
    active: undefined,
    retired: [],
    unsyncedDirs: new Set(),
    buffer: [],
    queued: undefined,
    queuedBytes: 0,
    bufferedBytes: 0,
    bufferedSeq: 0,
    dropped: undefined,
    dirReady: lastSeq > 0 || ended,
    cursor: undefined,
    writtenAt: 0,
  };
}

/** Loads every session directory, repairing torn tails (see `scanSession`). */
export async function loadSessions(
  dir: string,
  maxBodyBytes: number,
): Promise<{ state: SessionState; recovered: RecoveredSession }[]> {
  const loaded: { state: SessionState; recovered: RecoveredSession }[] = [];
  for (const id of await listSessionDirs(dir)) {
    const sessionDir = join(dir, id);
    const scan = await scanSession(sessionDir, maxBodyBytes);
    const lastSeq = Math.max(scan.lastSeq, scan.ack.ackedSeq);
    const state = sessionState(id, sessionDir, lastSeq, Math.min(scan.ack.ackedSeq, lastSeq), scan.ack.ended);
    state.segments = scan.segments;
    state.dirReady = true;
    loaded.push({
      state,
      recovered: { sessionId: id, lastSeq, ended: scan.ack.ended, tornBytes: scan.repairedBytes },
    });
  }
  return loaded;
}

export function newSession(dir: string, id: string): SessionState {
  if (!isValidSessionId(id)) throw new Error(`invalid recording session id: ${JSON.stringify(id)}`);
  const s = sessionState(id, join(dir, id), 0, 0, false);
  s.dirReady = false;
  return s;
}
