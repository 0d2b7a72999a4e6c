import type { StartedSession } from "@sluice/client";

/** The share of a grant's lifetime after which an unused grant is no longer handed out. */
export const REFRESH_AT = 0.8;

/**
 * Hands out one session grant per tunnel. A grant opens exactly one connection (the
 * agent refuses a second use, and each connection is its own recorded session), so
 * every client socket after the first starts a new session.
 */
export class GrantSource {
  private spare: { started: StartedSession; usableUntil: number } | undefined;

  constructor(
    private readonly start: () => Promise<StartedSession>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Keeps an already started session for the next tunnel. */
  use(started: StartedSession): StartedSession {
    const receivedAt = this.now();
    const lifetime = Math.max(0, Date.parse(started.expiresAt) - receivedAt);
    this.spare = {
      started,
      usableUntil: receivedAt + (Number.isFinite(lifetime) ? lifetime * REFRESH_AT : 0),
    };
    return started;
  }

  /** A session whose grant no tunnel has used yet. */
  get(): Promise<StartedSession> {
    const spare = this.spare;
    this.spare = undefined;
    if (spare && this.now() < spare.usableUntil) return Promise.resolve(spare.started);
    return this.start();
  }

  /** Drops an unused grant, so the next tunnel starts a new session. */
  invalidate(): void {
    this.spare = undefined;
  }
}
