import { AppError } from "@sluice/errors";
import type { Redis } from "ioredis";

export interface SessionRateSettings {
  /** Sessions one identity may open per minute (0: no limit). */
  perIdentity: number;
  /** Sessions that may be opened on one connection per minute (0: no limit). */
  perConnection: number;
}

const WINDOW_MS = 60_000;

/**
 * Per-minute limits on opening sessions, per identity and per connection, counted in
 * Redis so every replica shares them. They bound what a runaway script or AI agent can
 * do (every MCP tool call is a session). With a limit set, a Redis outage refuses new
 * sessions rather than letting them through unlimited.
 */
export function createSessionRate(deps: {
  redis: Pick<Redis, "multi">;
  prefix: string;
  settings: SessionRateSettings;
}) {
  const { perIdentity, perConnection } = deps.settings;

  async function counts(keys: string[]): Promise<number[]> {
    const tx = deps.redis.multi();
    for (const k of keys) tx.incr(k).pexpire(k, 2 * WINDOW_MS);
    const replies = await tx.exec();
    if (!replies) throw new Error("rate-limit transaction aborted");
    return keys.map((_, i) => {
      const [err, value] = replies[i * 2] ?? [new Error("no reply"), 0];
      if (err) throw err;
      return Number(value);
    });
  }

  return {
    /** Counts one session against the identity, then (if it may) against the connection. */
    async check(user: { id: string; name: string }, conn: { id: string; name: string }): Promise<void> {
      if (perIdentity <= 0 && perConnection <= 0) return;
      const window = Math.floor(Date.now() / WINDOW_MS);
      const retryIn = () => Math.ceil(((window + 1) * WINDOW_MS - Date.now()) / 1000);
      const count = async (key: string) => {
        try {
          return (await counts([`${deps.prefix}session-rate:${key}:${window}`]))[0] ?? 0;
        } catch (err) {
          throw new AppError(
            "service.unavailable",
            "the session rate limit cannot be checked right now: retry shortly",
            {
              cause: err,
            },
          );
        }
      };
      // A session refused for its identity does not use up the connection's budget.
      if (perIdentity > 0 && (await count(`user:${user.id}`)) > perIdentity)
        throw new AppError(
          "request.rate_limited",
          `${user.name} may open ${perIdentity} sessions a minute; retry in ${retryIn()} s`,
        );
      if (perConnection > 0 && (await count(`conn:${conn.id}`)) > perConnection)
        throw new AppError(
          "request.rate_limited",
          `${conn.name} accepts ${perConnection} new sessions a minute; retry in ${retryIn()} s`,
        );
    },
  };
}

export type SessionRate = ReturnType<typeof createSessionRate>;
