/** Where the agent's proxies write session events; the recording spool implements it. */
export interface EventSink {
  append(sessionId: string, kind: string, payload: Record<string, unknown>): void;
  endSession(sessionId: string): void;
}
