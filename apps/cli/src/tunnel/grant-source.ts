import type { StartedSession } from "./session";

/** The share of a grant's lifetime after which new tunnels get a fresh session first. */
export const REFRESH_AT = 0.8;

/**
 * Hands out the current session grant and starts a new session once the grant is past
 * 80% of its lifetime (or was rejected). Concurrent callers share one refresh.
 */
export class GrantSource {
  private current: { started: StartedSession; refreshAt: number } | undefined;
  private pending: Promise<StartedSession> | undefined;

  constructor(
    private readonly start: () => Promise<StartedSession>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Uses an already started session as the current one. */
  use(started: StartedSession): StartedSession {
    const receivedAt = this.now();
    const lifetime = Math.max(0, Date.parse(started.expiresAt) - receivedAt);
    this.current = {
      started,
      refreshAt: receivedAt + (Number.isFinite(lifetime) ? lifetime * REFRESH_AT : 0),
    };
    return started;
  }

  /** The session whose grant a new tunnel should use. */
  get(): Promise<StartedSession> {
    if (this.current && this.now() < this.current.refreshAt) return Promise.resolve(this.current.started);
    this.pending ??= this.start()
      .then((started) => this.use(started))
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }

  /** Forgets the current grant, so the next tunnel starts a new session. */
  invalidate(): void {
    this.current = undefined;
  }
}
