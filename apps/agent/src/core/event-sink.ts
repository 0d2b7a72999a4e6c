/** Where the agent's proxies write session events; the recording spool implements it. */
export interface EventSink {
  /** Buffers one event in memory (cheap; batched to disk). */
  append(sessionId: string, kind: string, payload: Record<string, unknown>): void;
  /**
   * Hands every event appended so far to the kernel, synchronously (write(2), no fsync), so
   * it survives the agent being killed. Protocols call it before the client may see what
   * those events record; it throws when the recording cannot be written, and the session
   * must then end rather than show the client something unrecorded. fsync (power loss)
   * stays batched in the spool's flush interval.
   */
  commit(): void;
  endSession(sessionId: string): void;
}
