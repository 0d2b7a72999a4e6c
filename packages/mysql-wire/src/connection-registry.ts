import { randomInt } from "node:crypto";
import type { KillDecision, KillRequest } from "./proxy-hooks";

/**
 * Agent-chosen connection ids and their upstream thread ids, so a KILL naming the id a
 * client saw can be sent to the right upstream thread. Ids start at a random base and
 * increase; an id is never handed out twice while registered.
 */
export interface ConnectionRegistry {
  allocate(): number;
  register(connectionId: number, upstreamThreadId: number): void;
  release(connectionId: number): void;
  upstreamThreadId(connectionId: number): number | undefined;
  /** An `onKill` hook that maps registered ids and refuses others (like the server's "Unknown thread id"). */
  killHook(request: KillRequest): KillDecision;
}

export function createConnectionRegistry(): ConnectionRegistry {
  const threads = new Map<number, number>();
  let next = randomInt(1000, 1_000_000);
  return {
    allocate() {
      while (threads.has(next)) next = (next % 0x7fffffff) + 1;
      const id = next;
      next = (next % 0x7fffffff) + 1;
      return id;
    },
    register(connectionId, upstreamThreadId) {
      threads.set(connectionId, upstreamThreadId);
    },
    release(connectionId) {
      threads.delete(connectionId);
    },
    upstreamThreadId(connectionId) {
      return threads.get(connectionId);
    },
    killHook(request) {
      const thread = threads.get(request.connectionId);
      if (thread === undefined) {
        return {
          action: "deny",
          message: `Unknown thread id: ${request.connectionId}`,
          errorCode: 1094,
          sqlState: "HY000",
        };
      }
      return { action: "allow", upstreamThreadId: thread };
    },
  };
}
