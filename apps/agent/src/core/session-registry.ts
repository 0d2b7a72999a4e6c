export interface LiveSession {
  sessionId: string;
  connection: string;
  identity: string;
  startedAt: number;
  /** Ends the session on both sides with a reason the client sees where the protocol allows. */
  terminate(reason: string): void;
}

/** The agent's live sessions: counted for heartbeats, ended on demand by the control plane. */
export function createSessionRegistry() {
  const live = new Map<string, Set<LiveSession>>();
  return {
    add(s: LiveSession): () => void {
      let set = live.get(s.sessionId);
      if (!set) {
        set = new Set();
        live.set(s.sessionId, set);
      }
      set.add(s);
      return () => {
        set.delete(s);
        if (set.size === 0) live.delete(s.sessionId);
      };
    },
    count(): number {
      let n = 0;
      for (const set of live.values()) n += set.size;
      return n;
    },
    terminate(sessionId: string, reason: string): number {
      const set = live.get(sessionId);
      if (!set) return 0;
      for (const s of [...set]) s.terminate(reason);
      return set.size;
    },
    terminateAll(reason: string): void {
      for (const set of [...live.values()]) for (const s of [...set]) s.terminate(reason);
    },
  };
}

export type SessionRegistry = ReturnType<typeof createSessionRegistry>;
